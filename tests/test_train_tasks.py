"""The training tasks' data generators and the [train] spec: pure functions, tested alone."""

import math

import numpy as np
import pytest
import torch

from bench.errors import UsageError
from bench.plan.train_spec import TrainSpec, resolve, train_spec_from_dict
from bench.plan.train_tasks import TASKS, adding_batch, batch_at, sine_cosine_window


@pytest.mark.parametrize("seq_len", [50, 51, 1000])
def test_adding_batch_has_two_markers_one_per_half_and_their_sum_as_target(seq_len):
    x, y = adding_batch(64, seq_len, torch.Generator().manual_seed(3))
    values, markers = x[..., 0], x[..., 1]
    assert x.shape == (64, seq_len, 2) and y.shape == (64, 1)
    assert set(markers.unique().tolist()) == {0.0, 1.0}
    assert (markers.sum(1) == 2).all()
    half = seq_len // 2
    assert (markers[:, :half].sum(1) == 1).all() and (markers[:, half:].sum(1) == 1).all()
    assert ((values >= 0) & (values < 1)).all()
    expected = torch.stack([row[mask.bool()].sum() for row, mask in zip(values, markers)])[:, None]
    assert torch.equal(y, expected)


def test_adding_batches_are_a_function_of_seed_and_step():
    task = TASKS["adding"]
    first = batch_at(task, 7, 50, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(first, batch_at(task, 7, 50, seed=1)))
    assert not torch.equal(first[0], batch_at(task, 8, 50, seed=1)[0])
    assert not torch.equal(first[0], batch_at(task, 7, 50, seed=2)[0])


def test_sine_cosine_window_is_the_tutorials():
    x, y = sine_cosine_window(3, 10)
    t = np.linspace(3 * np.pi, 4 * np.pi, 10)
    assert x.shape == y.shape == (1, 10, 1)
    np.testing.assert_allclose(x[0, :, 0].numpy(), np.sin(t), rtol=0, atol=1e-15)
    np.testing.assert_allclose(y[0, :, 0].numpy(), np.cos(t), rtol=0, atol=1e-15)
    assert math.isclose(TASKS["sine_cosine"].lr, 0.02) and TASKS["sine_cosine"].steps == 60


def test_resolve_fills_the_tasks_defaults():
    spec = resolve(TrainSpec(), task="adding")
    assert (spec.steps, spec.seq_len, spec.target_loss) == (500, 50, 0.01)
    assert resolve(train_spec_from_dict({"impls": "lstm.*", "steps": 5})).impls == ("lstm.*",)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"task": "copying"}, "unknown task 'copying'"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"target_loss": 0.0}, "target loss must be a positive number"),
        ({"target_loss": -1.0}, "target loss must be a positive number"),
        ({"target_loss": float("nan")}, "target loss must be a positive number"),
        ({"task": "adding", "seq_len": 20}, "adding takes seq_len 50 to 1000"),
        ({"dtype": "bfloat16"}, "not 'bfloat16'"),
        ({"seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_bad_values_are_usage_errors(overrides, message):
    with pytest.raises(UsageError, match=message):
        resolve(TrainSpec(), **overrides)


def test_unknown_train_key_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown key"):
        train_spec_from_dict({"stpes": 3})


def test_a_train_table_sits_beside_a_sweeps_axes(tmp_path):
    from bench.plan.spec import load_spec
    from bench.plan.train_spec import load_train_spec

    path = tmp_path / "both.toml"
    path.write_text('impls = ["gru.*"]\nbatch = [4]\n\n[train]\ntask = "adding"\nseq_len = 100\n')
    assert load_spec(path).grids[0].batch == (4,)
    spec = resolve(load_train_spec(path))
    assert (spec.task, spec.seq_len, spec.impls) == ("adding", 100, ("*",))
    (tmp_path / "sweep_only.toml").write_text("batch = [4]\n")
    with pytest.raises(UsageError, match=r"has no \[train\] table"):
        load_train_spec(tmp_path / "sweep_only.toml")


def test_make_trains_config_selects_registered_implementations():
    from pathlib import Path

    from bench.plan.train_spec import load_train_spec
    from implementations import registry

    spec = resolve(load_train_spec(Path(__file__).resolve().parent.parent / "bench" / "configs" / "train.toml"))
    keys = {impl.key for impl in registry.match(spec.impls)}
    assert {"lstm.native", "gru.fused_loop", "rnn_relu.script_premul", "lstm.compile_step"} <= keys
