"""Training on the tutorials' sine_cosine task: loss-curve parity within a family, seeds, a perturbed gradient.

The loop runs in this process (bench.worker.training.train_case, what a worker runs); the curves are compared by
bench.analysis.training, the parent's pure functions.
"""

import pandas as pd
import pytest
import torch
from conftest import PLUGINS

from bench.analysis.training import baselines, curve_frame, finish_rows, parity, time_to_target
from bench.plan.cases import Case
from bench.plan.train_tasks import PARITY_TOLERANCES
from bench.worker.correctness import TOLERANCES, check
from bench.worker.training import train_case
from implementations import registry

FAMILIES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
EAGER = ["native", "cell_loop", "premul_loop", "scratch_loop", "fused_loop", "script_premul", "script_scratch"]


def _train(key: str, dtype="float64", steps=60, seq_len=10, seed=0, device="cpu") -> dict:
    family, impl = key.split(".", 1)
    case = Case(key, family, impl, device, dtype, "training", 1, seq_len, 1, 32)
    reply = train_case(case, "sine_cosine", steps, seed, threads=1)
    assert reply["row"]["status"] == "ok", reply["row"].get("error")
    return reply["curve"]


@pytest.fixture(scope="module")
def native_curves() -> dict[str, dict]:
    return {family: _train(f"{family}.native") for family in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_eager_variant_trains_like_native_in_float64(family, native_curves):
    curves = {f"{family}.native": native_curves[family]}
    curves.update({f"{family}.{impl}": _train(f"{family}.{impl}") for impl in EAGER[1:]})
    checks = parity(curve_frame(curves), "float64").set_index("key")
    assert (checks["parity_baseline"] == f"{family}.native").all()
    assert checks["correct"].all(), checks[["loss_curve_rel_diff", "worst_step"]]
    assert (checks["loss_curve_rel_diff"] <= PARITY_TOLERANCES["float64"]).all()
    loss = native_curves[family]["loss"]
    assert len(loss) == 60 and loss[-1] < loss[0] / 5  # it learns: the tutorial's curve falls


@pytest.mark.slow
@pytest.mark.parametrize("key", ["lstm.compile", "gru.compile_step"])  # compilation is minutes for all eight
def test_compiled_variants_train_like_native_in_float64(key):
    torch._dynamo.reset()
    native = key.split(".")[0] + ".native"
    curves = {native: _train(native, steps=4, seq_len=3), key: _train(key, steps=4, seq_len=3)}
    assert parity(curve_frame(curves), "float64").set_index("key").loc[key, "correct"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")
def test_cuda_variants_train_like_native_in_float64():
    """cuDNN's nn.LSTM as the baseline; the loops, the cuDNN-less module and the CUDA-graph replay against it."""
    keys = ["lstm.native", "lstm.native_nocudnn", "lstm.premul_loop", "lstm.fused_loop", "lstm.cudagraph"]
    curves = {key: _train(key, device="cuda") for key in keys}
    checks = parity(curve_frame(curves), "float64").set_index("key")
    assert checks["correct"].all(), checks[["loss_curve_rel_diff", "worst_step"]]
    on_cpu = parity(curve_frame({"lstm.native": _train("lstm.native"), "lstm.x": curves["lstm.native"]}), "float64")
    assert on_cpu.set_index("key").loc["lstm.x", "correct"]  # the same training, whatever the device


def test_the_seed_makes_runs_repeatable(native_curves):
    again = _train("gru.native")
    assert again["loss"] == native_curves["gru"]["loss"]
    assert _train("gru.native", seed=1)["loss"][0] != again["loss"][0]


def test_a_turned_gradient_against_the_single_call_check_and_the_curve(native_curves):
    """The single-call check and the 60-step parity check, each at its float64 tolerance, against the same
    perturbations: eps * ||g|| * u added to weight_hh_l0's gradient. The smallest each detects is measured in
    docs/training.md; here what must hold: the single call sees exactly eps, the curve's deviation grows with eps,
    each check's verdict follows its own tolerance, and a perturbation far below both passes both."""
    registry.load_plugin(PLUGINS / "perturbed_grad.py")
    deviations = {}
    for exponent in (6, 9, 13):
        key = f"rnn_tanh.grad_direction_1e-{exponent}"
        single = check(registry.get(key), dtype="float64", batch=1, seq_len=10, input_size=1, hidden_size=32)
        assert abs(single.grad_rel_err / 10.0**-exponent - 1) < 1e-2  # the plugin does what it says
        curves = {"rnn_tanh.native": native_curves["rnn_tanh"], key: _train(key)}
        verdict = parity(curve_frame(curves), "float64").set_index("key").loc[key]
        deviations[exponent] = verdict["loss_curve_rel_diff"]
        expected = 10.0**-exponent > TOLERANCES["float64"]
        assert single.correct is not expected
        assert bool(verdict["correct"]) is bool(deviations[exponent] <= PARITY_TOLERANCES["float64"])
    assert deviations[6] > deviations[9] > deviations[13]
    assert deviations[6] > PARITY_TOLERANCES["float64"] > deviations[13]


def test_baselines_prefer_native():
    assert baselines(["lstm.cell_loop", "lstm.native", "gru.premul_loop", "gru.fused_loop"]) == {
        "lstm": "lstm.native",
        "gru": "gru.fused_loop",
    }


def _curves(losses: dict[str, list[float]]) -> pd.DataFrame:
    return curve_frame(
        {
            key: {"loss": loss, "wall_s": [0.1 * (i + 1) for i in range(len(loss))], "step_s": [0.1] * len(loss),
                  "forward_s": [0.05] * len(loss), "backward_s": [0.04] * len(loss), "optimizer_s": [0.01] * len(loss)}
            for key, loss in losses.items()
        }
    )  # fmt: skip


def test_finish_rows_marks_a_curve_off_its_baseline_incorrect():
    curves = _curves({"gru.native": [1.0, 0.5, 0.2], "gru.good": [1.0, 0.5, 0.2 + 1e-12], "gru.bad": [1.0, 0.5, 0.21]})
    rows = [{"key": k, "status": "ok"} for k in ("gru.native", "gru.good", "gru.bad")]
    rows.append({"key": "gru.skipped", "status": "skipped", "error": "why"})
    done = {r["key"]: r for r in finish_rows(rows, curves, "float64", target_loss=0.3)}
    assert done["gru.good"]["correct"] and not done["gru.bad"]["correct"]
    assert "5.00e-02 off gru.native" in done["gru.bad"]["error"] and "step 2" in done["gru.bad"]["error"]
    assert done["gru.native"]["steps_to_target"] == 3 and done["gru.native"]["seconds_to_target"] == pytest.approx(0.3)
    assert done["gru.native"]["median_s"] == pytest.approx(0.1) and done["gru.native"]["first_call_s"] == 0.1
    assert done["gru.skipped"] == {"key": "gru.skipped", "status": "skipped", "error": "why"}


def test_time_to_target_is_empty_when_never_reached():
    curve = _curves({"lstm.native": [1.0, 0.9]})
    assert time_to_target(curve, 0.5) == (None, None)
    assert time_to_target(curve, 0.95) == (2, pytest.approx(0.2))
