"""What `rnnbench show` prints: the fastest implementation per shape, speedups, failures. Pure pandas."""

from __future__ import annotations

import pandas as pd

from bench.results.schema import IDENTITY_COLUMNS
from bench.results.vocabulary import BASELINE_VARIANT, FAILED_STATUSES

SHAPE = [c for c in IDENTITY_COLUMNS if c not in ("key", "impl")]  # a case's identity, less who computed it


def usable(frame: pd.DataFrame) -> pd.Series:
    """Rows that may win a comparison: measured and not known to be wrong (a wrong answer fast is no result)."""
    wrong = frame["correct"].eq(False).fillna(False).astype(bool)
    return frame["status"].eq("ok") & pd.to_numeric(frame["median_s"], errors="coerce").gt(0) & ~wrong


def shape_columns(frame: pd.DataFrame) -> list[str]:
    """SHAPE, less the columns a table from before an axis existed lacks (length_dist)."""
    return [c for c in SHAPE if c in frame]


def ranked_per_shape(frame: pd.DataFrame):
    """(shape values, all of the shape's rows, its usable rows fastest first) per shape: the one ranking rule.

    A shape is everything that identifies a case but who computed it (family, device, dtype, mode, sizes).
    """
    is_usable = usable(frame)
    for shape, group in frame.groupby(shape_columns(frame), sort=True, dropna=False):
        yield shape, group, group[is_usable.loc[group.index]].sort_values("median_s", kind="stable")


def fastest_per_shape(frame: pd.DataFrame, baseline: str | dict[str, str] = BASELINE_VARIANT) -> pd.DataFrame:
    """One row per shape: the fastest correct implementation, its median, and its speedup over `baseline`
    (a variant, or family -> variant, BASELINE_VARIANT for families it does not name)."""
    rows, columns = [], shape_columns(frame)
    for shape, _, ranked in ranked_per_shape(frame):
        if ranked.empty:
            continue
        best = ranked.iloc[0]
        chosen = baseline if isinstance(baseline, str) else baseline.get(best["family"], BASELINE_VARIANT)
        base = ranked[ranked["impl"] == chosen]
        base_median = float(base["median_s"].iloc[0]) if len(base) else float("nan")
        rows.append(
            {
                **dict(zip(columns, shape)),
                "fastest": best["impl"],
                "median_s": float(best["median_s"]),
                "baseline_median_s": base_median,
                "speedup": base_median / float(best["median_s"]),
                "n_impls": len(ranked),
            }
        )
    return pd.DataFrame(rows, columns=[*columns, "fastest", "median_s", "baseline_median_s", "speedup", "n_impls"])


def status_counts(frame: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame["status"].value_counts().items()}


def problems(frame: pd.DataFrame) -> pd.DataFrame:
    """Cases a reader must not miss: incorrect results first, then errors, crashes and timeouts."""
    incorrect = frame[(frame["status"] == "ok") & (frame["correct"] == False)]  # noqa: E712 - NaN means unchecked
    failed = frame[frame["status"].isin(FAILED_STATUSES)]
    out = pd.concat([incorrect.assign(problem="incorrect"), failed.assign(problem=failed["status"])])
    return out[["problem", "case_id", "error"]].reset_index(drop=True)
