"""The runs under a results root: one record per run directory (from its run.json), and where its rows are.

A run whose run.json is unreadable is skipped with a warning that names it; a run whose table is damaged
is listed (its `cases` empty) with a warning, never silently dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.errors import UsageError
from bench.results import compaction, rowlog
from bench.results.store import MEASUREMENTS, RUN_JSON

# Columns of the `runs` table, described once; in the `measurements` view the starred ones are prefixed
# with run_ (a row has its own host, started_at, status and threads).
RUN_COLUMNS: dict[str, str] = {
    "run_id": "the run directory's name",
    "path": "the run directory",
    "git_commit": "commit of the tree that was measured",
    "git_commit_time": "its commit time (ISO 8601); history orders runs by it",
    "git_branch": "branch checked out when the run started, if known",
    "git_dirty": "uncommitted changes in the measured tree",
    "started_at": "* when the run started",
    "finished_at": "* when it ended",
    "status": "* running | complete | interrupted | incomplete",
    "host": "* machine the run was started on",
    "threads": "* torch intra-op threads",
    "torch": "torch version",
    "python": "Python version",
    "cpu_model": "CPU",
    "gpus": "GPUs, comma-separated",
    "executor": "local | ray",
    "cases": "rows in the run's table (empty when the table cannot be read)",
}
PREFIXED = ("started_at", "finished_at", "status", "host", "threads")


@dataclass(frozen=True)
class Run:
    record: dict  # RUN_COLUMNS
    parquet: Path | None  # the compacted table, when it holds every row
    live: pa.Table | None  # rows read through the logs (a run still being written, or not compactable here)


def find_run_dirs(root: Path) -> list[Path]:
    """Every directory under `root` (itself included) holding a run.json, in path order."""
    if not root.is_dir():
        raise UsageError(f"no results folder at {root}")
    found = [root] if (root / RUN_JSON).is_file() else []
    found += [p.parent for p in root.rglob(RUN_JSON) if p.parent != root and rowlog.ROWS not in p.parent.parts]
    return sorted(set(found))


def _record(run_dir: Path, meta: dict) -> dict:
    env = meta.get("environment") or {}
    return {
        "run_id": str(meta.get("run_id") or run_dir.name),
        "path": str(run_dir),
        "git_commit": env.get("git_commit"),
        "git_commit_time": env.get("git_commit_time"),
        "git_branch": env.get("git_branch"),
        "git_dirty": env.get("git_dirty"),
        "started_at": meta.get("started_at"),
        "finished_at": meta.get("finished_at"),
        "status": meta.get("status"),
        "host": env.get("host"),
        "threads": env.get("threads"),
        "torch": env.get("torch"),
        "python": env.get("python"),
        "cpu_model": env.get("cpu_model"),
        "gpus": ", ".join(env.get("gpus") or []) or None,
        "executor": (meta.get("executor") or {}).get("name"),
        "cases": None,
    }


def _meta(run_dir: Path) -> dict | None:
    path = run_dir / RUN_JSON
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        rowlog.warn(f"skipped {path}: {exc}")
        return None
    if not isinstance(meta, dict):
        rowlog.warn(f"skipped {path}: not a JSON object")
        return None
    return meta


def _rows(run_dir: Path, record: dict) -> Run:
    """Where the run's rows are: the parquet alone, or (logs present) the rows read through them."""
    try:
        if rowlog.logs(run_dir / rowlog.ROWS):
            table = compaction.read(run_dir)  # compacts when it can
            record["cases"] = table.num_rows if table is not None else 0
            return Run(record, None, table)
        parquet = run_dir / MEASUREMENTS
        if not parquet.is_file():
            record["cases"] = 0
            return Run(record, None, None)
        record["cases"] = pq.read_metadata(parquet).num_rows
        return Run(record, parquet, None)
    except (UsageError, OSError, pa.ArrowException) as exc:
        rowlog.warn(f"{run_dir}: its measurements cannot be read ({str(exc).splitlines()[0]}); listed without rows")
        return Run(record, None, None)


def load(root: str | Path) -> list[Run]:
    """Every readable run under `root`; no run at all is bad input."""
    root = Path(root)
    runs = []
    for run_dir in find_run_dirs(root):
        meta = _meta(run_dir)
        if meta is not None:
            runs.append(_rows(run_dir, _record(run_dir, meta)))
    if not runs:
        raise UsageError(f"no runs under {root} (a run is a folder with a {RUN_JSON})")
    return runs
