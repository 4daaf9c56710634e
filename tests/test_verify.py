"""`rnnbench verify` and plugins, as a person runs them: exit status, the table, one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from bench.cli import main
from implementations import registry

SWAPPED_GATES = """
import torch
from implementations._module import LoopRNN
from implementations.registry import register


@register("lstm.swapped_gates", "lstm", description="premul loop with the i and f gates swapped")
def build(reference, device, dtype):
    model = LoopRNN(reference, device, dtype, premul=True)
    with torch.no_grad():
        for param in model.parameters():
            i, f, g, o = param.chunk(4, 0)
            param.copy_(torch.cat([f, i, g, o]))
    return model
"""

INFERENCE_ONLY = '''
import copy
from implementations.registry import register


@register("gru.forward_only", "gru", training=False, max_layers=1, bidirectional=False)
def build(reference, device, dtype):
    """nn.GRU, declared inference-only and single-layer unidirectional"""
    return copy.deepcopy(reference).to(device=device, dtype=dtype)
'''


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch):
    """Plugins registered by one test do not leak into the registry seen by others."""
    registry.all()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def _plugin(tmp_path: Path, name: str, source: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


def test_verify_passes_and_writes_json(tmp_path, capsys):
    out = tmp_path / "out.json"
    status = main(["verify", "--impl", "rnn_relu.premul_loop", "--impl", "rnn_relu.cudagraph", "--json", str(out)])
    printed = capsys.readouterr().out
    assert status == 0
    assert "4 passed, 0 failed, 1 skipped" in printed
    assert re.search(
        r"^rnn_relu\.cudagraph +all shapes .* skip +rnn_relu\.cudagraph runs on cuda, not cpu$", printed, re.M
    )
    rows = json.loads(out.read_text())
    ran = [r for r in rows if r["status"] != "skipped"]
    assert {(r["num_layers"], r["bidirectional"]) for r in ran} == {(1, False), (1, True), (2, False), (2, True)}
    assert {r["batch"] for r in ran} >= {1} and {r["seq_len"] for r in ran} >= {1}
    assert all(r["hidden_size"] % 8 for r in ran)
    assert all(0 < r["rel_err"] < r["tolerance"] and 0 < r["grad_rel_err"] < r["tolerance"] for r in ran)


def test_buggy_plugin_fails_naming_it_and_the_error(tmp_path, capsys):
    plugin = _plugin(tmp_path, "swapped.py", SWAPPED_GATES)
    status = main(["verify", "--plugin", plugin, "--impl", "lstm.swapped_gates", "--json", str(tmp_path / "v.json")])
    printed = capsys.readouterr().out
    assert status == 1
    fails = [line for line in printed.splitlines() if line.startswith("lstm.swapped_gates")]
    assert len(fails) == 4 and all("FAIL" in line and "x the float32 tolerance" in line for line in fails)
    assert "0 passed, 4 failed" in printed
    rows = json.loads((tmp_path / "v.json").read_text())
    assert all(r["status"] == "fail" and r["rel_err"] > 100 * r["tolerance"] for r in rows)


def test_inference_only_plugin_is_checked_forward_and_its_limits_listed(tmp_path, capsys):
    plugin = _plugin(tmp_path, "forward_only.py", INFERENCE_ONLY)
    status = main(["verify", "--plugin", plugin, "--impl", "gru.forward_only", "--dtype", "float64,float32"])
    printed = capsys.readouterr().out
    assert status == 0
    assert "2 passed, 0 failed, 6 skipped" in printed
    assert "gru.forward_only supports at most 1 layer(s)" in printed
    assert "gru.forward_only is unidirectional only" in printed


def test_plugin_build_that_raises_is_a_failure(tmp_path, capsys):
    source = SWAPPED_GATES.replace("lstm.swapped_gates", "lstm.broken").replace(
        "    model = LoopRNN", "    raise RuntimeError('kernel not found')\n    model = LoopRNN"
    )
    status = main(["verify", "--plugin", _plugin(tmp_path, "broken.py", source), "--impl", "lstm.broken"])
    assert status == 1
    assert "raised RuntimeError: kernel not found" in capsys.readouterr().out


def test_list_json_shows_a_plugin(tmp_path, capsys):
    plugin = _plugin(tmp_path, "forward_only.py", INFERENCE_ONLY)
    assert main(["list", "--json", "--plugin", plugin, "--impl", "gru.*"]) == 0
    rows = {row["key"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["gru.forward_only"]["source"] == f"plugin {plugin}"
    assert rows["gru.forward_only"]["training"] is False
    assert rows["gru.forward_only"]["description"] == "nn.GRU, declared inference-only and single-layer unidirectional"
    assert rows["gru.premul_loop"]["source"] == "builtin"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["verify", "--impl", "lstm.nonesuch"], "no implementation matches 'lstm.nonesuch'"),
        (["verify", "--impl", "lstm.native", "--dtype", "float8"], "unknown dtype float8"),
        (["verify", "--impl", "lstm.native", "--device", "tpu"], "unknown device 'tpu'"),
        (["verify", "--impl", "lstm.native", "--json", "/nonexistent/dir/out.json"], "does not exist"),
        (["verify", "--impl", "lstm.*", "--family", "gru"], "no selected implementation is of family gru"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, expected, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and expected in captured.err and captured.out == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given where CUDA is absent")
def test_cuda_without_cuda_is_exit_2(capsys):
    assert main(["verify", "--impl", "lstm.native", "--device", "cuda"]) == 2
    assert "no CUDA device is available" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import not_a_real_module_xyz\n", "failed to import: ModuleNotFoundError"),
        (
            "from implementations.registry import register\n"
            "register('lstm.premul_loop', 'lstm')(lambda reference, device, dtype: reference)\n",
            "duplicate implementation key 'lstm.premul_loop'",
        ),
    ],
    ids=["import-error", "duplicate-key"],
)
def test_bad_plugin_one_line_naming_the_file(tmp_path, source, expected, cli):
    """Run as a person does (a fresh process): one line on stderr naming the file, exit 2, no traceback."""
    plugin = _plugin(tmp_path, "bad_plugin.py", source)
    done = cli("verify", "--plugin", plugin, "--impl", "lstm.native", timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"plugin {plugin}" in done.stderr and expected in done.stderr
    assert done.stdout == ""


def test_torchscript_deprecation_is_not_in_the_output():
    """torch.jit.script warns that it is deprecated; even with Python's warnings turned on, verify does not show it."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONWARNINGS": "always", "NO_COLOR": "1"}
    command = [sys.executable, "-m", "bench", "verify", "--impl", "gru.script_*", "--dtype", "float64"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "8 passed, 0 failed, 0 skipped" in done.stdout
    assert "torch.jit.script` is deprecated" not in done.stdout + done.stderr
