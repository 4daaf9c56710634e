"""Read a finished (or interrupted) run directory: measurements.parquet and run.json."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.errors import UsageError

RESULTS = Path("results")


def resolve_run(name: str | Path) -> Path:
    """A run directory, given as a path or as a run id under results/."""
    path = Path(name)
    if not path.exists() and not path.is_absolute() and (RESULTS / path).is_dir():
        path = RESULTS / path
    if not path.is_dir():
        raise UsageError(f"no run directory at {name}")
    return path


def read_run(name: str | Path) -> tuple[pd.DataFrame, dict]:
    """The measurements table and run.json of a run; a missing or unreadable file is a UsageError."""
    path = resolve_run(name)
    table_path = path / "measurements.parquet"
    if not table_path.is_file():
        raise UsageError(f"{path}: no measurements.parquet (not a run directory, or the run recorded nothing)")
    try:
        table = pd.read_parquet(table_path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise UsageError(f"{table_path}: unreadable ({type(exc).__name__}: {exc})".splitlines()[0]) from exc
    run_json = path / "run.json"
    run: dict = {}
    if run_json.is_file():
        try:
            run = json.loads(run_json.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"{run_json}: not valid JSON ({exc})") from exc
        if not isinstance(run, dict):
            raise UsageError(f"{run_json}: expected a JSON object")
    run.setdefault("run_id", path.name)
    return table, run
