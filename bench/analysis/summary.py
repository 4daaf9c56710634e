"""What `rnnbench show` prints: the fastest implementation per shape, speedups, failures. Pure pandas."""

from __future__ import annotations

import pandas as pd

from bench.results.schema import IDENTITY_COLUMNS

SHAPE = [c for c in IDENTITY_COLUMNS if c not in ("key", "impl")]  # a case's identity, less who computed it


def fastest_per_shape(frame: pd.DataFrame, baseline: str | dict[str, str] = "native") -> pd.DataFrame:
    """One row per shape: the fastest correct implementation, its median, and its speedup over `baseline`
    (a variant, or family -> variant, "native" for families it does not name).

    Incorrect cases never win: a wrong answer fast is not a result.
    """
    ok = frame[(frame["status"] == "ok") & (frame["correct"].fillna(True).astype(bool))]
    if ok.empty:
        return pd.DataFrame(columns=[*SHAPE, "fastest", "median_s", "baseline_median_s", "speedup", "n_impls"])
    rows = []
    for shape, group in ok.groupby(SHAPE, sort=True, dropna=False):
        best = group.loc[group["median_s"].idxmin()]
        chosen = baseline if isinstance(baseline, str) else baseline.get(best["family"], "native")
        base = group[group["impl"] == chosen]
        base_median = float(base["median_s"].iloc[0]) if len(base) else float("nan")
        rows.append(
            {
                **dict(zip(SHAPE, shape)),
                "fastest": best["impl"],
                "median_s": float(best["median_s"]),
                "baseline_median_s": base_median,
                "speedup": base_median / float(best["median_s"]),
                "n_impls": len(group),
            }
        )
    return pd.DataFrame(rows)


def status_counts(frame: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame["status"].value_counts().items()}


def problems(frame: pd.DataFrame) -> pd.DataFrame:
    """Cases a reader must not miss: incorrect results first, then errors, crashes and timeouts."""
    incorrect = frame[(frame["status"] == "ok") & (frame["correct"] == False)]  # noqa: E712 - NaN means unchecked
    failed = frame[frame["status"].isin(["error", "oom", "crashed", "timeout"])]
    out = pd.concat([incorrect.assign(problem="incorrect"), failed.assign(problem=failed["status"])])
    return out[["problem", "case_id", "error"]].reset_index(drop=True)


def format_seconds(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"
