"""The parent's half of profiling: a sweep's `--profile` pass and the run's top-operators table.

The worker's half (bench/worker/profiling.py) records the trace and returns the case's top operators.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from bench.plan.cases import Case
from bench.results import store
from bench.worker.profiling import TOP_OPS_COLUMNS, TOP_OPS_FILE


def append_top_ops(run_dir: Path, table: pd.DataFrame) -> Path:
    """Add a case's top operators to `<run_dir>/top_ops.parquet`, replacing the file atomically."""
    path = Path(run_dir) / TOP_OPS_FILE
    if path.exists():
        old = pd.read_parquet(path)
        old = old[~old["case_id"].isin(table["case_id"].unique())]
        table = pd.concat([old, table], ignore_index=True)
    tmp = path.with_suffix(".parquet.tmp")
    table.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def profile_measured(runner, run_dir: Path, cases: list[tuple[Case, str | None]]) -> dict[str, str]:
    """A sweep's `--profile` pass, after every case is timed: a trace for each ok case not yet profiled.

    `runner.profile(case)` runs `profile_request` in the sweep's isolated worker, so a crash or hang
    costs one trace. Returns the errors by case_id (also kept in run.json).
    """
    frame = store.read_measurements(run_dir)
    ok = set(frame.loc[frame["status"] == "ok", "case_id"]) if len(frame) else set()
    top_ops = Path(run_dir) / TOP_OPS_FILE
    done = set(pd.read_parquet(top_ops, columns=["case_id"])["case_id"]) if top_ops.exists() else set()
    todo = [case for case, reason in cases if reason is None and case.case_id in ok and case.case_id not in done]
    errors = dict(store.read_meta(run_dir).get("profile_errors") or {})
    for index, case in enumerate(todo, start=1):
        print(f"profiling {index}/{len(todo)} {case.case_id}", file=sys.stderr)
        reply = runner.profile(case)
        if reply.top_ops is not None:
            append_top_ops(run_dir, pd.DataFrame(reply.top_ops, columns=TOP_OPS_COLUMNS))
            errors.pop(case.case_id, None)
        else:
            errors[case.case_id] = reply.error or "no answer"
            print(f"profiling {case.case_id} failed: {errors[case.case_id]}", file=sys.stderr)
        store.update_meta(run_dir, profile_errors=errors)
    return errors
