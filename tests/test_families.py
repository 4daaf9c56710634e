"""Families as data: the built-ins through register_family, a family from a plugin end to end, bad families."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import PLUGINS
from torch import nn

from bench.cli import main
from bench.plan.flops import rnn_flops
from bench.results import store
from implementations import families, registry

INDRNN = str(PLUGINS / "indrnn_family.py")
SHAPE = ["--batch", "2", "--seq-len", "3", "--input-size", "5", "--hidden-size", "7"]
FAST = ["--budget-s", "0.05", "--progress", "none", "--no-report"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """Families, implementations and plugin modules registered by one test do not leak into the others."""
    registry.all()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(families, "_FAMILIES", dict(families._FAMILIES))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("rnnbench_plugin_"):
            del sys.modules[name]


def test_builtin_families_are_registered_like_any_other():
    lstm, relu = registry.get_family("lstm"), registry.get_family("rnn_relu")
    assert lstm.reference is nn.LSTM and lstm.state_names == ("h", "c") and lstm.source == "builtin"
    assert relu.module_class is nn.RNN and families.make_reference("rnn_relu", 3, 4).nonlinearity == "relu"
    assert [registry.baseline(f) for f in ("gru", "mingru")] == ["gru.native", "mingru.loop"]
    assert registry.get_family("mingru").tolerances["bfloat16"] > registry.get_family("gru").tolerances.get(
        "bfloat16", 5e-2
    )
    x, state = families.make_inputs(families.make_reference("minlstm", 3, 4, 2, True), 2, 5)
    assert state.shape == (4, 2, 4) and bool((state > 0).all())  # minLSTM's make_state: h0 > 0
    x, state = families.make_inputs(families.make_reference("lstm", 3, 4), 2, 5)
    assert isinstance(state, tuple) and len(state) == 2 and bool((state[0] < 0).any())


def test_variants_register_only_for_the_families_they_compute():
    by_family: dict[str, set[str]] = {}
    for impl in registry.all():
        if impl.source == "builtin":  # not the optional kernels' entry points
            by_family.setdefault(impl.family, set()).add(impl.impl)
    assert {f for f, variants in by_family.items() if "premul_loop" in variants} == set(families.CLASSIC)
    assert (
        by_family["mingru"]
        == by_family["minlstm"]
        == {"loop", "scan", "chunked_scan", "compile_scan", "associative_scan", "associative_scan_pointwise"}
    )
    with pytest.raises(ValueError, match="cell_loop computes rnn_tanh, rnn_relu, lstm, gru, not mingru"):
        from implementations.cell_loop import CellLoop

        CellLoop(families.make_reference("mingru", 3, 4), "cpu", torch.float32)


def test_flops_come_from_the_family():
    assert rnn_flops("mingru", 2, 3, 5, 7) == 2 * (2 * 7) * 5 * 2 * 3  # W x only: the recurrence is element-wise
    assert rnn_flops("minlstm", 2, 3, 5, 7, training=True) == 3 * 2 * (3 * 7) * 5 * 2 * 3


def test_a_plugin_family_shows_up_in_list(capsys):
    assert main(["list", "--plugin", INDRNN, "--impl", "indrnn.*"]) == 0
    printed = capsys.readouterr().out
    assert {"indrnn.loop", "indrnn.premul", "indrnn.wrong_tanh"} <= set(printed.split())
    assert main(["list", "--plugin", INDRNN, "--families"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("indrnn "))
    assert "IndRNN" in row and "indrnn.loop" in row and f"plugin {INDRNN}" in row


def test_verify_checks_a_plugin_family_and_catches_the_wrong_variant(capsys):
    status = main(["verify", "--plugin", INDRNN, "--family", "indrnn"])
    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    for key, result in (("indrnn.loop", "pass"), ("indrnn.premul", "pass"), ("indrnn.wrong_tanh", "FAIL")):
        rows = [line for line in lines if line.startswith(key + " ")]
        assert len(rows) == 4 and all(f" {result} " in f"{row} " for row in rows), rows
    assert "8 passed, 4 failed, 0 skipped" in lines[-1]


def test_verify_unknown_family_is_one_line(capsys):
    assert main(["verify", "--family", "transformer"]) == 2
    err = capsys.readouterr().err
    assert "unknown family 'transformer'" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_sharded_sweep_of_a_plugin_family_measures_and_checks_it(cli, tmp_path):
    common = [
        "--plugin",
        INDRNN,
        "--impl",
        "indrnn.*",
        "--mode",
        "inference,training",
        "--lengths",
        "fixed",
        *SHAPE,
        *FAST,
    ]
    frames = []
    for k in (1, 2):
        result = cli("sweep", *common, "--out", str(tmp_path), "--run-id", "fam", "--shard", f"{k}/2")
        assert result.returncode == 0, result.stderr
        frames.append(store.read_measurements(tmp_path / f"fam-shard-{k}-of-2"))
        assert store.read_meta(tmp_path / f"fam-shard-{k}-of-2")["baselines"]["indrnn"] == "loop"
    assert all(len(frame) for frame in frames)  # FLOPs balance the cases over both shards
    frame = pd.concat(frames, ignore_index=True)
    assert sorted(frame["case_id"]) == sorted(set(frame["case_id"])) and len(frame) == 6
    assert frame["status"].eq("ok").all() and frame["flops"].gt(0).all()
    correct = frame.groupby("impl")["correct"].apply(set).to_dict()
    assert correct == {"loop": {True}, "premul": {True}, "wrong_tanh": {False}}
    training = frame[frame["mode"].eq("training")].set_index("impl")["flops"].sort_index()
    inference = frame[frame["mode"].eq("inference")].set_index("impl")["flops"].sort_index()
    assert (training == 3 * inference).all()


GOOD_FAMILY = """
import torch
from torch import nn
from implementations.registry import register_family

class Ref(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, batch_first=True):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers, self.bidirectional = (
            input_size, hidden_size, num_layers, bidirectional)
        self.weight_ih_l0 = nn.Parameter(torch.randn(hidden_size, input_size))

    def forward(self, x, h0):
        out = torch.tanh(x @ self.weight_ih_l0.t())
        return OUTPUT, out[:, -1].unsqueeze(0)

def flops(batch, seq_len, input_size, hidden_size, num_layers, bidirectional):
    return FLOPS
"""
FINE = {"OUTPUT": "out", "FLOPS": "2.0 * batch * seq_len * input_size * hidden_size"}


def _family_plugin(tmp_path: Path, tail: str, **replace: str) -> str:
    source = GOOD_FAMILY
    for placeholder, text in {**FINE, **replace}.items():
        source = source.replace(placeholder, text)
    path = tmp_path / "bad_family.py"
    path.write_text(textwrap.dedent(source) + textwrap.dedent(tail))
    return str(path)


@pytest.mark.parametrize(
    "tail, replace, message",
    [
        (
            'register_family("twice", Ref, flops=flops)\nregister_family("twice", Ref, flops=flops)\n',
            {},
            "family 'twice' from plugin .* is already registered by plugin",
        ),
        (
            'register_family("lstm", Ref, flops=flops)\n',
            {},
            "family 'lstm' from plugin .* already registered by builtin",
        ),
        (
            'from implementations.registry import register\nregister("nofam.x", "nofam")(lambda r, d, t: r)\n',
            {},
            "unknown family 'nofam' for 'nofam.x'",
        ),
        (
            'register_family("nobuild", lambda *a, **k: 1 / 0, flops=flops)\n',
            {},
            "family 'nobuild': reference .* failed to build: ZeroDivisionError",
        ),
        (
            'register_family("badshape", Ref, flops=flops)\n',
            {"OUTPUT": "out[:, :1]"},
            r"family 'badshape': the reference's output has shape \(2, 1, 4\), expected",
        ),
        (
            'register_family("badstate", Ref, state_names=("h", "c"), flops=flops)\n',
            {},
            r"family 'badstate': the reference's final state is \[\(1, 2, 4\)\], expected 2 tensor\(s\) \(h, c\)",
        ),
        (
            'register_family("badflops", Ref, flops=flops)\n',
            {"FLOPS": "1 / 0"},
            "family 'badflops': flops.* raised: ZeroDivisionError",
        ),
        (
            'register_family("nanflops", Ref, flops=flops)\n',
            {"FLOPS": "float('nan')"},
            "family 'nanflops': flops.* must return a finite number >= 0, got nan",
        ),
    ],
    ids=[
        "twice",
        "builtin-name",
        "unknown-family",
        "no-build",
        "output-shape",
        "state-count",
        "flops-raises",
        "flops-nan",
    ],
)
def test_bad_family_plugins_are_one_line_naming_the_plugin(capsys, tmp_path, tail, replace, message):
    plugin = _family_plugin(tmp_path, tail, **replace)
    assert main(["list", "--plugin", plugin]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert f"plugin {plugin}" in err
    assert re.search(message, err), err


def test_a_family_that_fails_its_check_is_not_registered(tmp_path):
    plugin = _family_plugin(tmp_path, 'register_family("halfway", Ref, flops=flops)\n', FLOPS="-1")
    with pytest.raises(registry.RegistryError, match="finite number >= 0, got -1"):
        registry.load_plugin(plugin)
    assert "halfway" not in [f.name for f in registry.all_families()]
    with pytest.raises(registry.RegistryError, match="unknown family 'halfway'"):
        registry.get_family("halfway")


def test_reference_state_is_standard_normal_unless_the_family_says_otherwise():
    family = registry.get_family("gru")
    reference = families.make_reference("gru", 3, 4)
    state = family.new_state(reference, 5, torch.float64, torch.Generator().manual_seed(0))
    assert state.shape == (1, 5, 4) and bool((state < 0).any())
