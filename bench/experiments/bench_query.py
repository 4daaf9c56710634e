"""How fast `rnnbench runs` and `rnnbench query` answer over a large results root: RUNS runs of CASES
cases (100 samples each) are written, then each command is timed as a user runs it (a fresh process,
imports included) and in this process (what DuckDB itself takes). Run with
`python -m bench.experiments.bench_query --runs 1000 --cases 200`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bench.render.terminal import format_table
from bench.results import query

TREND = (
    "SELECT git_commit, git_commit_time, median_s, ci_low_s, ci_high_s FROM measurements "
    "WHERE case_id = 'lstm.native|cpu|float32|training|b7' ORDER BY git_commit_time"
)


def write_root(root: Path, runs: int, cases: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for number in range(runs):
        run_id = f"run-{number:05d}"
        (root / run_id).mkdir(parents=True)
        samples = 1e-3 * rng.lognormal(0.0, 0.05, (cases, 100))
        frame = pd.DataFrame(
            {
                "run_id": run_id, "case_id": [f"lstm.native|cpu|float32|training|b{i}" for i in range(cases)],
                "key": "lstm.native", "family": "lstm", "impl": "native", "mode": "training", "batch": range(cases),
                "status": "ok", "median_s": np.median(samples, axis=1), "ci_low_s": samples.min(axis=1),
                "ci_high_s": samples.max(axis=1), "samples_s": list(samples),
            }
        )  # fmt: skip
        frame.to_parquet(root / run_id / "measurements.parquet", index=False)
        when = (start + timedelta(hours=number)).isoformat()
        environment = {"host": "bench", "git_commit": f"{number:040x}", "git_commit_time": when, "torch": "2.13.0"}
        meta = {"run_id": run_id, "status": "complete", "started_at": when, "environment": environment}
        (root / run_id / "run.json").write_text(json.dumps(meta))


def _in_process(root: Path) -> tuple[float, float]:
    start = time.perf_counter()
    con = query.connect(root)
    listed = query.sql(con, "SELECT * FROM runs ORDER BY started_at DESC")
    connected = time.perf_counter()
    trend = query.sql(con, TREND)
    end = time.perf_counter()
    assert len(listed) == len(trend), (len(listed), len(trend))
    return connected - start, end - connected


def _command(*args: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bench", *args], check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.experiments.bench_query", description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=os.getcwd(), prefix=".bench-query-") as tmp:
        root = Path(tmp) / "results"
        write_root(root, args.runs, args.cases)
        rows = []
        for trial in range(1, args.trials + 1):
            connect_s, trend_s = _in_process(root)
            runs_s = _command("runs", str(root))
            query_s = _command("query", str(root), TREND)
            rows.append([trial, f"{runs_s:.1f}", f"{query_s:.1f}", f"{connect_s:.2f}", f"{trend_s:.2f}"])
    header = ["trial", "`runs` s", "`query` trend s", "in process: open s", "trend query s"]
    print(format_table(header, rows))
    print(f"{args.runs} runs x {args.cases} cases, 100 samples each; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
