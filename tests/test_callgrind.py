"""The instructions clock under real Valgrind: counts repeat, scale with the work, and the gate sees a 5% change.

Valgrind runs code tens of times slower and importing torch under it takes ~20-50 s of CPU, so these tests
start as few Valgrind processes as they can (three) on tiny shapes.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.analysis import counts
from bench.analysis.compare import compare_runs
from bench.results.run_files import read_run
from bench.run.callgrind import launch_options

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("valgrind") is None, reason="Valgrind is not installed (apt-get install valgrind)"),
]

SCRIPT = """
import json, torch
from bench.worker import callgrind
callgrind.start_instrumentation()
torch.set_num_threads(1)
model, x = torch.nn.LSTM(32, 32), torch.randn(16, 4, 32)  # ~2M instructions a call: see docs/instructions.md
def twice():
    model(x)
    model(x)
with torch.no_grad():
    calls = {"once": lambda: model(x), "twice": twice}
    found = {name: [callgrind.count_calls(fn).as_row() for _ in range(3)] for name, fn in calls.items()}
print(json.dumps(found))
"""


def test_counts_repeat_within_tolerance_and_twice_the_work_counts_twice(tmp_path):
    prefix, env, _, _ = launch_options(tmp_path)
    env = dict(os.environ, **env, PYTHONPATH=str(ROOT))
    done = subprocess.run([*prefix, sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    # the same calls, counted again: what the gate compares. The first count of a model built just before can
    # still be off (by 1% once for this LSTM, docs/instructions.md), so the second and third are compared.
    for _, first, second in found.values():
        assert first["instructions_per_call"] > 0
        assert abs(second["instructions_per_call"] / first["instructions_per_call"] - 1) < counts.DEFAULT_TOLERANCE / 2
    # two forwards in one call against one: the empty call's cost is subtracted, so about twice
    ratio = found["twice"][1]["instructions_per_call"] / found["once"][1]["instructions_per_call"]
    assert 1.9 < ratio < 2.1


def _sweep(tmp_path: Path, run_id: str, **env) -> subprocess.Popen:
    """A counted sweep started in the background: counts do not depend on what else runs beside it."""
    # ~2.5M instructions per call: a call's count moves by up to ~10k instructions between repeats and processes
    # (docs/instructions.md), 0.6% of a call 4 times smaller, under 0.5% of this one
    args = ["sweep", "--impl", "lstm.native,gru.native", "--mode", "inference", "--batch", "4", "--seq-len", "16"]
    args += ["--input-size", "16", "--hidden-size", "16", "--lengths", "fixed", "--clock", "instructions", "--no-check"]
    args += ["--no-report"]
    args += ["--plugin", str(ROOT / "bench/experiments/extra_work.py"), "--out", str(tmp_path), "--run-id", run_id]
    environment = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    command = [sys.executable, "-m", "bench", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)


def _finished(process: subprocess.Popen, run_dir: Path) -> Path:
    _, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, stderr[-2000:]
    # the progress lines as a CI log shows them: counts, not an empty time and a NaN spread
    lines = [line for line in stderr.splitlines() if line.startswith("[")]
    assert len(lines) == 2 and all(" instr a call (3 calls x 3 counts)" in line for line in lines), lines
    return run_dir


def test_sweep_under_instructions_flags_five_percent_and_not_the_unchanged_case(tmp_path):
    """Two sweeps, two worker processes: lstm.native gets 5% more instructions in the second, gru.native is the
    A/A pair (same code, another process)."""
    started = _sweep(tmp_path, "base"), _sweep(tmp_path, "new", RNNBENCH_EXTRA_WORK="lstm.native=0.05")
    base, new = (_finished(process, tmp_path / name) for process, name in zip(started, ("base", "new")))
    (base_frame, base_run), (new_frame, new_run) = read_run(base), read_run(new)
    assert base_frame["median_s"].isna().all() and base_frame["first_call_s"].isna().all()  # no time columns
    assert (base_frame["instructions_per_call"] > 0).all()
    result = compare_runs(base_frame, new_frame, base_run, new_run)
    changes = result.changes.set_index("key")
    assert changes.loc["lstm.native", "verdict"] == "regression"
    # the plugin overshoots on a case this small (7.5% measured here); on the quick config within 0.2 points
    assert 1.04 < changes.loc["lstm.native", "ratio"] < 1.10
    # the A/A pair: two processes differ by more than one process's repeats (0.38% against 0.04% in one run here)
    assert changes.loc["gru.native", "verdict"] == "unchanged"
    assert abs(changes.loc["gru.native", "ratio"] - 1) < counts.DEFAULT_TOLERANCE
