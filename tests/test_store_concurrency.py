"""Two sweeps writing into one results root at once, read by `query` and `history` while they write."""

import os
import subprocess
import sys
import time

import pytest
from conftest import ROOT, TINY_SHAPE

from bench.errors import UsageError
from bench.results import query, store

CASES = ["--impl", "gru.native,rnn_tanh.native", "--mode", "inference", "--batch", "1,2"]  # 4 cases per sweep


def _sweep(root, run_id: str) -> subprocess.Popen:
    args = [*CASES, *TINY_SHAPE, "--budget-s", "0.2", "--no-check", "--no-report", "--progress", "none"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "bench", "sweep", *args, "--out", str(root), "--run-id", run_id]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _counts(root) -> dict[str, int]:
    """Rows per run, as `rnnbench query` sees them (it folds the row logs in as it reads)."""
    try:
        con = query.connect(root)
    except UsageError as exc:  # no run.json yet at the very start
        if "no runs under" in str(exc):
            return {}
        raise
    sql = "SELECT run_id, count(*) AS n, count(DISTINCT case_id) AS cases FROM measurements GROUP BY 1"
    answer = query.sql(con, sql)
    assert (answer["n"] == answer["cases"]).all(), answer  # never a case twice
    return dict(zip(answer["run_id"], answer["n"]))


@pytest.mark.slow
def test_two_sweeps_into_one_root_while_query_and_history_read(tmp_path, cli):
    root = tmp_path / "results"
    root.mkdir()
    sweeps = {run_id: _sweep(root, run_id) for run_id in ("left", "right")}
    seen: list[dict[str, int]] = []
    deadline = time.monotonic() + 300
    while any(p.poll() is None for p in sweeps.values()) and time.monotonic() < deadline:
        seen.append(_counts(root))
        time.sleep(0.2)
    for process in sweeps.values():
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr[-2000:]
    for run_id in sweeps:  # each run's count only grows while it is read, and ends with every case
        counts = [s.get(run_id, 0) for s in seen]
        assert counts == sorted(counts), counts
    assert _counts(root) == {"left": 4, "right": 4}
    assert any(0 < n < 4 for s in seen for n in s.values()), "no read happened while a sweep was writing"
    for run_id in sweeps:
        frame = store.read_measurements(root / run_id)
        assert len(frame) == 4 and frame["case_id"].is_unique and set(frame["status"]) == {"ok"}
        assert not list((root / run_id / "rows").glob("*.jsonl"))  # the end of the sweep folded its log in
        assert store.read_meta(root / run_id)["environment"]["git_commit_time"]

    # history over these real runs: one series per case (same host and versions), no change from two runs
    result = cli("history", str(root), "--out", str(tmp_path / "page"), "--json", str(tmp_path / "h.json"))
    assert result.returncode == 0, result.stderr
    assert "2 runs, 4 cases, 4 series" in result.stdout
    assert (tmp_path / "page" / "index.html").stat().st_size > 20_000
