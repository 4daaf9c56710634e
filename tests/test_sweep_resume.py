"""Kill a sweep with SIGKILL mid-way, resume it, and find every case exactly once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, TINY_SHAPE

from bench.results import store


@pytest.mark.slow
def test_sigkill_then_resume_loses_and_duplicates_nothing(tmp_path, cli):
    args = [
        "sweep",
        "--impl",
        "gru.native,rnn_tanh.native",
        "--mode",
        "inference",
        "--batch",
        "1,2,3",
        *TINY_SHAPE,
        "--budget-s",
        "0.3",
        "--no-check",
        "--no-report",
        "--progress",
        "plain",
        "--out",
        str(tmp_path),
        "--run-id",
        "killed",
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    run_dir = tmp_path / "killed"
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            if (run_dir / store.RUN_JSON).exists() and len(store.read_measurements(run_dir)) >= 2:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the sweep recorded no case in time")
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    before = store.read_measurements(run_dir)
    assert 2 <= len(before) < 6, "kill the sweep mid-way, not after it finished"
    assert store.read_meta(run_dir)["status"] == "running"

    result = cli("sweep", "--resume", str(run_dir), "--progress", "plain", "--no-report")
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip().splitlines()[-1]) == run_dir
    after = store.read_measurements(run_dir)
    assert len(after) == 6 and after["case_id"].is_unique
    assert set(after["status"]) == {"ok"}
    kept = after.set_index("case_id").loc[before["case_id"], "started_at"]
    assert list(kept) == list(before["started_at"])  # measured cases were not run again
    assert store.read_meta(run_dir)["status"] == "complete"
