"""The pytest-benchmark suite works as its users expect: autosave, compare, and fail on a slowdown."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = ["-k", "lstm.native_cpu_float32_inference_b1_"]
FAST = ["--benchmark-min-rounds=5", "--benchmark-max-time=0.05", "--benchmark-warmup=off", "-p", "no:cacheprovider"]


def _pytest(storage: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/benchmarks", *TINY, *FAST, f"--benchmark-storage={storage}", *args],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT), **env),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_suite_is_not_collected_by_the_normal_run():
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/test_benchmark_suite.py"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "tests/benchmarks" not in listed.stdout
    assert "test_the_suite_is_not_collected_by_the_normal_run" in listed.stdout


@pytest.mark.slow
@pytest.mark.serial
def test_autosave_then_compare_and_fail_on_a_slowdown(tmp_path):
    storage = tmp_path / "benchmarks"
    first = _pytest(storage, "--benchmark-autosave")
    assert first.returncode == 0, first.stdout + first.stderr
    saved = list(storage.rglob("0001_*.json"))
    assert len(saved) == 1
    benchmarks = json.loads(saved[0].read_text())["benchmarks"]
    assert [b["extra_info"]["case_id"] for b in benchmarks] == [
        "lstm.native|cpu|float32|inference|b1|t16|i32|h32|l1|uni"
    ]
    assert benchmarks[0]["stats"]["rounds"] >= 5

    # three times slower: pytest-benchmark's own gate must fail the run
    slowed = _pytest(
        storage,
        "--benchmark-compare=0001",
        "--benchmark-compare-fail=median:100%",
        RNNBENCH_PLUGINS=str(ROOT / "bench" / "experiments" / "slowdown.py"),
        RNNBENCH_SLOWDOWN="lstm.native=3",
    )
    assert slowed.returncode != 0
    output = slowed.stdout + slowed.stderr
    assert "Comparing against benchmarks from: " in output
    assert "Performance has regressed" in output and "lstm.native_cpu_float32_inference_b1" in output
