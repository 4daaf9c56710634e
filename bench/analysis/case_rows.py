"""What a compared run's row holds: its samples, its per-round medians, why it failed, a reference's medians."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.errors import UsageError
from bench.results.vocabulary import FAILED_STATUSES

SHAPE_COLUMNS = ["family", "device", "dtype", "mode", "batch", "seq_len", "input_size", "hidden_size"]
SHAPE_COLUMNS += ["num_layers", "bidirectional", "length_dist"]


def samples(row: pd.Series) -> np.ndarray:
    value = row.get("samples_s")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return np.array([], dtype=float)
    x = np.asarray(value, dtype=float).ravel()
    return x[np.isfinite(x) & (x > 0)]


def round_medians(row: pd.Series) -> np.ndarray | None:
    """The row's per-round medians in round order, or None (an older run, or a value that is no time)."""
    value = row.get("round_medians_s")
    if not isinstance(value, list | tuple | np.ndarray) or not len(value):
        return None
    x = np.asarray(value, dtype=float).ravel()
    return x if np.all(np.isfinite(x) & (x > 0)) else None  # dropping one would break the pairing by round


@dataclass(frozen=True)
class Reference:
    """The --relative-to implementation at one shape in one run."""

    median_s: float  # of its pooled samples
    round_medians_s: np.ndarray | None


def per_round(case: np.ndarray | None, reference: Reference) -> np.ndarray | None:
    """Each round's median divided by the reference's median of the same round; None if rounds do not pair."""
    if case is None or reference.round_medians_s is None or case.size != reference.round_medians_s.size:
        return None
    return case / reference.round_medians_s


def failed(row: pd.Series) -> str | None:
    """Why a case counts as failing (crashed, incorrect...), or None."""
    status = row.get("status")
    if status in FAILED_STATUSES:
        return f"{status}: {row.get('error') or ''}".rstrip(": ")
    correct = row.get("correct")
    if status == "ok" and correct is not None and not pd.isna(correct) and not bool(correct):
        return "incorrect result"
    return None


def references(table: pd.DataFrame, relative_to: str) -> dict[tuple, Reference]:
    """The reference implementation per shape/dtype/mode/device, from the same run."""
    reference = table[(table["impl"] == relative_to) & (table["status"] == "ok")]
    found = {}
    for _, row in reference.iterrows():
        x = samples(row)
        if x.size:
            found[tuple(row.get(c) for c in SHAPE_COLUMNS)] = Reference(float(np.median(x)), round_medians(row))
    return found


def by_case(table: pd.DataFrame) -> dict[str, pd.Series]:
    if "case_id" not in table.columns:
        raise UsageError("measurements table has no case_id column")
    return {row["case_id"]: row for _, row in table.iterrows()}  # a resumed run's later row wins


def rounds_count(row: pd.Series) -> int:
    """Rounds behind a row: its round medians, else its `rounds` column (older runs), else one."""
    found, rounds = round_medians(row), row.get("rounds")
    if found is not None:
        return int(found.size)
    try:
        return max(int(rounds), 1)
    except (TypeError, ValueError):  # None, NaN
        return 1
