"""The optional third-party kernels (rnnbench[kernels]): adapters loaded as entry points, checked by verify."""

from __future__ import annotations

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


def test_entry_points_name_the_adapters():
    assert ENTRY_POINTS == {"sru": "implementations.kernels.sru",
                            "accelerated_scan": "implementations.kernels.accelerated_scan"}  # fmt: skip
    assert all((ROOT / (target.replace(".", "/") + ".py")).is_file() for target in ENTRY_POINTS.values())


@_needs("sru")
@_needs("accelerated_scan")
@pytest.mark.slow
def test_adapters_load_as_entry_points_and_compute_their_family(tmp_path):
    result = _with_entry_points(tmp_path, "verify", "--impl", "sru.*", "--impl", "*.accelerated_scan_*")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "12 passed, 0 failed, 4 skipped" in result.stdout  # sru.package + 2 x ref at 4 shapes; 4 CUDA-only skip
    assert "runs on cuda, not cpu" in result.stdout
    listed = _with_entry_points(tmp_path, "list", "--families")
    row = next(line for line in listed.stdout.splitlines() if line.startswith("sru "))
    assert "entry point sru (implementations.kernels.sru)" in row


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="the warp/Triton scans and SRU's fused kernel need CUDA")
def test_cuda_kernels_match_the_reference():
    from bench.worker.correctness import check
    from implementations import registry

    for path in ("implementations/kernels/sru.py", "implementations/kernels/accelerated_scan.py"):
        registry.load_plugin(ROOT / path)
    for key in ("sru.package", "mingru.accelerated_scan_warp", "mingru.accelerated_scan_triton"):
        result = check(registry.get(key), device="cuda", dtype="float32", batch=4, seq_len=64, input_size=32,
                       hidden_size=32, num_layers=2, bidirectional=True)  # fmt: skip
        assert result.correct, (key, result.message)
