"""The optional third-party kernels (rnnbench[kernels]): adapters loaded as entry points, checked by verify."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
ENTRY_POINTS = PROJECT["entry-points"]["rnnbench.implementations"]


def _needs(package: str):
    missing = importlib.util.find_spec(package) is None
    return pytest.mark.skipif(missing, reason=f"{package} is not installed (pip install 'rnnbench[kernels]')")


def _with_entry_points(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the CLI with a distribution on sys.path that declares pyproject's entry points, as an install would."""
    dist = tmp_path / "rnnbench_kernels_test-0.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rnnbench-kernels-test\nVersion: 0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in ENTRY_POINTS.items())
    (dist / "entry_points.txt").write_text(f"[rnnbench.implementations]\n{lines}")
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=300)  # fmt: skip


def _adapter(name: str):
    """The adapter module under the name its entry point imports (so it registers once per process), attributed
    to its entry point as the registry's loader would."""
    from implementations import families

    with families.loading(f"entry point {name} ({ENTRY_POINTS[name]})"):
        return importlib.import_module(ENTRY_POINTS[name])


def test_entry_points_name_the_adapters():
    assert ENTRY_POINTS == {name: f"implementations.kernels.{name}"
                            for name in ("sru", "accelerated_scan", "flashrnn", "xlstm")}  # fmt: skip
    assert all((ROOT / (target.replace(".", "/") + ".py")).is_file() for target in ENTRY_POINTS.values())


@_needs("sru")
@_needs("accelerated_scan")
@_needs("flashrnn")
@_needs("xlstm")
@pytest.mark.slow
def test_adapters_load_as_entry_points_and_compute_their_family(tmp_path):
    globs = ("sru.*", "*.accelerated_scan_*", "*.flashrnn_*", "slstm.*")
    result = _with_entry_points(tmp_path, "verify", *(arg for glob in globs for arg in ("--impl", glob)))
    assert result.returncode == 0, result.stdout + result.stderr
    # at 4 shapes: sru.package, 2 x accelerated_scan_ref, lstm/gru.flashrnn_vanilla, lstm.flashrnn_vanilla_fwbw and
    # slstm.vanilla; skipped (CUDA only): 4 accelerated-scan, 4 FlashRNN and slstm.cuda
    assert "28 passed, 0 failed, 9 skipped" in result.stdout
    assert "runs on cuda, not cpu" in result.stdout
    listed = _with_entry_points(tmp_path, "list", "--families")
    row = next(line for line in listed.stdout.splitlines() if line.startswith("sru "))
    assert "entry point sru (implementations.kernels.sru)" in row


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="the warp/Triton scans and SRU's fused kernel need CUDA")
def test_cuda_kernels_match_the_reference():
    from bench.worker.correctness import check
    from implementations import registry

    for name in ("sru", "accelerated_scan"):
        _adapter(name)
    for key in ("sru.package", "mingru.accelerated_scan_warp", "mingru.accelerated_scan_triton"):
        result = check(registry.get(key), device="cuda", dtype="float32", batch=4, seq_len=64, input_size=32,
                       hidden_size=32, num_layers=2, bidirectional=True)  # fmt: skip
        assert result.correct, (key, result.message)


def _check(key: str, **shape):
    from bench.worker.correctness import check
    from implementations import registry

    shape = {"batch": 3, "seq_len": 4, "input_size": 5, "hidden_size": 7, "num_layers": 2, "bidirectional": True,
             **shape}  # fmt: skip
    return check(registry.get(key), device="cpu", dtype="float64", **shape)


@_needs("flashrnn")
def test_flashrnn_gru_mapping_is_checked(monkeypatch):
    """nn.GRU's gates in its own order, or b_hn summed outside r (an LSTM-style single bias), fail the check."""
    flashrnn = _adapter("flashrnn")
    assert _check("gru.flashrnn_vanilla").correct

    def same_order(w_hh, b_ih, b_hh):
        hidden = w_hh.size(1)
        i_r, i_z, i_n = b_ih.chunk(3)
        h_r, h_z, h_n = b_hh.chunk(3)
        return w_hh.view(3, 1, hidden, hidden), torch.cat((h_n, i_r + h_r, i_z + h_z, i_n)).view(4, 1, hidden)

    def bias_outside_r(w_hh, b_ih, b_hh):
        recurrent, bias = flashrnn.pack_gru(w_hh, b_ih, b_hh)
        folded = bias.clone()
        folded[3], folded[0] = bias[3] + bias[0], 0
        return recurrent, folded

    for wrong in (same_order, bias_outside_r):
        monkeypatch.setitem(flashrnn.PACK, "gru", wrong)
        result = _check("gru.flashrnn_vanilla")
        assert not result.correct and "tolerance" in result.message, wrong.__name__


@_needs("flashrnn")
def test_flashrnn_lstm_mapping_is_checked(monkeypatch):
    """Input and forget gates swapped in R, or b_hh left out, fail the check."""
    flashrnn = _adapter("flashrnn")
    assert _check("lstm.flashrnn_vanilla").correct

    def swapped_gates(w_hh, b_ih, b_hh):
        i, f, g, o = w_hh.chunk(4)
        return flashrnn.pack_lstm(torch.cat((f, i, g, o)), b_ih, b_hh)

    def no_b_hh(w_hh, b_ih, b_hh):
        return flashrnn.pack_lstm(w_hh, b_ih, torch.zeros_like(b_hh))

    for wrong in (swapped_gates, no_b_hh):
        monkeypatch.setitem(flashrnn.PACK, "lstm", wrong)
        result = _check("lstm.flashrnn_vanilla")
        assert not result.correct, wrong.__name__


def _slstm_equations(x, state, w_ih, w_hh, bias):
    """One layer of sLSTM (Beck et al. 2024, eq. 8-17, with the package's stabilizer m), written out step by step."""
    h, c, n, m = (s[0] for s in state)
    outputs = []
    for t in range(x.size(1)):
        i, f, z, o = (x[:, t] @ w_ih.t() + h @ w_hh.t() + bias).chunk(4, -1)
        log_f = m + torch.nn.functional.logsigmoid(f)
        m = torch.maximum(i, log_f)
        i_gate, f_gate = torch.exp(i - m), torch.exp(log_f - m)
        c = f_gate * c + i_gate * torch.tanh(z)
        n = f_gate * n + i_gate
        h = torch.sigmoid(o) * c / n
        outputs.append(h)
    return torch.stack(outputs, 1), (h, c, n, m)


@_needs("xlstm")
def test_slstm_reference_computes_the_slstm_equations(monkeypatch):
    """The family's reference (xlstm's cell fed through the weight mapping) against the equations; a transposed
    recurrent matrix in the mapping fails."""
    from implementations.families import make_inputs, make_reference

    xlstm = _adapter("xlstm")
    reference = make_reference("slstm", 5, 6)
    x, state = make_inputs(reference, 3, 7)
    expected = _slstm_equations(x, state, reference.weight_ih_l0, reference.weight_hh_l0, reference.bias_l0)
    with torch.no_grad():
        output, final = reference(x, state)
        torch.testing.assert_close(output, expected[0], rtol=1e-12, atol=1e-12)
        for got, want in zip(final, expected[1]):
            torch.testing.assert_close(got[0], want, rtol=1e-12, atol=1e-12)
        right = xlstm.external_layout
        monkeypatch.setattr(xlstm, "external_layout", lambda w_hh, bias: right(w_hh.view(4, 6, 6).transpose(1, 2)
                                                                               .reshape(24, 6), bias))  # fmt: skip
        assert (reference(x, state)[0] - expected[0]).abs().max() > 1e-3


@_needs("flashrnn")
@_needs("xlstm")
def test_cuda_only_variants_say_so_on_cpu():
    from implementations import registry

    for name in ("flashrnn", "xlstm"):
        _adapter(name)
    keys = ["lstm.flashrnn_cuda", "lstm.flashrnn_cuda_fused", "lstm.flashrnn_triton_fused", "gru.flashrnn_cuda",
            "slstm.cuda"]  # fmt: skip
    for key in keys:
        assert registry.get(key).devices == ("cuda",)
        assert registry.get(key).unsupported_reason("cpu") == f"{key} runs on cuda, not cpu"
    assert "gru.flashrnn_cuda_fused" not in [impl.key for impl in registry.all()]  # the package runs it as cuda
    assert registry.get("lstm.flashrnn_vanilla_fwbw").unsupported_reason("cpu", torch.float64) == (
        "lstm.flashrnn_vanilla_fwbw does not support float64"
    )


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="FlashRNN's CUDA/Triton kernels and sLSTM's need CUDA")
def test_flashrnn_and_slstm_cuda_kernels_match_the_reference():
    from bench.worker.correctness import check
    from implementations import registry

    for name in ("flashrnn", "xlstm"):
        _adapter(name)
    keys = ("lstm.flashrnn_vanilla", "lstm.flashrnn_cuda", "lstm.flashrnn_cuda_fused", "lstm.flashrnn_triton_fused",
            "gru.flashrnn_cuda", "slstm.cuda")  # fmt: skip
    for key in keys:
        result = check(registry.get(key), device="cuda", dtype="float32", batch=16, seq_len=32, input_size=32,
                       hidden_size=64, num_layers=2, bidirectional=True)  # fmt: skip
        assert result.correct, (key, result.message)
