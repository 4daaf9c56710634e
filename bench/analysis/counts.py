"""The gate's decision on instruction counts (the instructions clock): a tolerance instead of a test.

A count is near-deterministic: the same calls counted again, in another process or from another checkout of
the same code, differ by a few hundredths of a percent (docs/instructions.md has the measured spread). There
is no noise for a statistical test to see through, so a case changed when its count per call moved by more
than `tolerance`, either way. The tolerance is set above the largest A/A difference measured and below the
smallest change the lane is meant to catch.

Pure: two rows in, a verdict out. Each row holds `instructions_per_call` (the median over repeats of the
count per call, less an empty call's) and `instruction_counts`, the raw count of each repeat, from which the
per-repeat counts per call are recomputed for the interval and the spread.
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_TOLERANCE = 0.01
MEASURE = "instructions_per_call"
UNIT = "counts"


def _number(row, name: str) -> float:
    value = row.get(name) if row is not None else None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def counted(row) -> bool:
    """Whether a row holds a count (it was measured under the instructions clock)."""
    value = _number(row, MEASURE)
    return value == value and value > 0


def per_repeat(row) -> np.ndarray:
    """Each repeat's count per call, less the empty call's; the median count alone where raw counts are missing."""
    raw, calls = row.get("instruction_counts"), _number(row, "calls_per_sample")
    empty = _number(row, "empty_call_instructions")
    if isinstance(raw, list | tuple | np.ndarray) and len(raw) and calls > 0 and empty == empty:
        return np.asarray(raw, dtype=float) / calls - empty
    return np.array([_number(row, MEASURE)])


def spread(row) -> float:
    """Largest over smallest repeat, less one: how far a case's own repeats disagree."""
    x = per_repeat(row)
    return float(x.max() / x.min() - 1.0) if x.size and x.min() > 0 else math.nan


def decide(base, new, tolerance: float = DEFAULT_TOLERANCE) -> tuple[str, dict, str]:
    """(verdict, figures for the comparison's record, note) for one case whose rows are both ok."""
    if not (counted(base) and counted(new)):
        which = "base" if counted(base) else "new"
        note = f"only the {which} run counted instructions: a count and a time do not compare"
        if not (counted(base) or counted(new)):
            note = "no instruction count"
        return "incomparable", {"unit": UNIT}, note
    b, n = per_repeat(base), per_repeat(new)
    ratio = _number(new, MEASURE) / _number(base, MEASURE)
    figures = {
        "unit": UNIT,
        "base_instructions_per_call": _number(base, MEASURE),
        "new_instructions_per_call": _number(new, MEASURE),
        "ratio": ratio,
        "median_ratio": ratio,
        "ratio_low": float(n.min() / b.max()),
        "ratio_high": float(n.max() / b.min()),
        "n_base": int(b.size),
        "n_new": int(n.size),
    }
    noisy = max(spread(base), spread(new))
    note = f"repeats spread {noisy:.2%}, beyond the {tolerance:.2%} tolerance" if noisy > tolerance else ""
    if ratio - 1.0 > tolerance:
        return "regression", figures, note
    if 1.0 - ratio > tolerance:
        return "improvement", figures, note
    return "unchanged", figures, note
