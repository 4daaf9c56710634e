"""Find a run directory from what a person typed, and read it whole for a comparison."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.errors import UsageError
from bench.results import store

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
    meta = store.read_meta(path)
    if not isinstance(meta, dict):
        raise UsageError(f"{path / store.RUN_JSON}: expected a JSON object")
    if not store.has_rows(path):
        raise UsageError(f"{path}: no {store.MEASUREMENTS} (the run recorded nothing)")
    table = store.read_measurements(path)
    meta.setdefault("run_id", path.name)
    return table, meta
