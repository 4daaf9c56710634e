"""What `rnnbench show` prints: the fastest implementation per shape, speedups, failures. Pure pandas."""

from __future__ import annotations

import pandas as pd

from bench.results.schema import IDENTITY_COLUMNS
from bench.results.vocabulary import BASELINE_VARIANT, FAILED_STATUSES, MISSING

SHAPE = [c for c in IDENTITY_COLUMNS if c not in ("key", "impl")]  # a case's identity, less who computed it


def usable(frame: pd.DataFrame, measure: str = "median_s") -> pd.Series:
    """Rows that may win a comparison: measured and not known to be wrong (a wrong answer fast is no result)."""
    if measure not in frame.columns:
        return pd.Series(False, index=frame.index)
    wrong = frame["correct"].eq(False).fillna(False).astype(bool)
    return frame["status"].eq("ok") & pd.to_numeric(frame[measure], errors="coerce").gt(0) & ~wrong


def shape_columns(frame: pd.DataFrame) -> list[str]:
    """SHAPE, less the columns a table from before an axis existed lacks (length_dist)."""
    return [c for c in SHAPE if c in frame]


def measure_of(frame: pd.DataFrame) -> str:
    """The column a run's cases are ranked by: `median_s`, or `instructions_per_call` in a run that counted."""
    counted = usable(frame, "instructions_per_call").any()
    return "instructions_per_call" if counted and not usable(frame).any() else "median_s"


def ranked_per_shape(frame: pd.DataFrame, measure: str = "median_s"):
    """(shape values, all of the shape's rows, its usable rows fastest first) per shape: the one ranking rule.

    A shape is everything that identifies a case but who computed it (family, device, dtype, mode, sizes).
    `measure` is what fastest means: the median time, or the instruction count of a counted run.
    """
    is_usable = usable(frame, measure)
    for shape, group in frame.groupby(shape_columns(frame), sort=True, dropna=False):
        yield shape, group, group[is_usable.loc[group.index]].sort_values(measure, kind="stable")


def fastest_per_shape(
    frame: pd.DataFrame, baseline: str | dict[str, str] = BASELINE_VARIANT, measure: str = "median_s"
) -> pd.DataFrame:
    """One row per shape: the fastest correct implementation, its median, and its speedup over `baseline`
    (a variant, or family -> variant, BASELINE_VARIANT for families it does not name). Under another `measure`
    (instructions_per_call) the columns are that measure and `baseline_<measure>`."""
    rows, columns = [], shape_columns(frame)
    for shape, _, ranked in ranked_per_shape(frame, measure):
        if ranked.empty:
            continue
        best = ranked.iloc[0]
        chosen = baseline if isinstance(baseline, str) else baseline.get(best["family"], BASELINE_VARIANT)
        base = ranked[ranked["impl"] == chosen]
        base_value = float(base[measure].iloc[0]) if len(base) else float("nan")
        rows.append(
            {
                **dict(zip(columns, shape)),
                "fastest": best["impl"],
                measure: float(best[measure]),
                f"baseline_{measure}": base_value,
                "speedup": base_value / float(best[measure]),
                "n_impls": len(ranked),
            }
        )
    return pd.DataFrame(rows, columns=[*columns, "fastest", measure, f"baseline_{measure}", "speedup", "n_impls"])


def status_counts(frame: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame["status"].value_counts().items()}


def problems(frame: pd.DataFrame) -> pd.DataFrame:
    """Cases a reader must not miss: incorrect results first, then errors, crashes and timeouts."""
    incorrect = frame[(frame["status"] == "ok") & (frame["correct"] == False)]  # noqa: E712 - NaN means unchecked
    failed = frame[frame["status"].isin(FAILED_STATUSES)]
    out = pd.concat([incorrect.assign(problem="incorrect"), failed.assign(problem=failed["status"])])
    return out[["problem", "case_id", "error"]].reset_index(drop=True)



# What a model is deployed with instead of PyTorch's own module: exported graphs, compiled packages, int8, our C++ loop
ENGINES = (
    "onnxruntime",
    "onnxruntime_int8",
    "openvino",
    "export_aoti",
    "quantized_dynamic",
    "cpp_extension",
    "onednn_loop",
)
DEPLOYMENT_COLUMNS = [
    *SHAPE,
    "engine",
    "median_s",
    "baseline_median_s",
    "ratio",
    "first_call_s",
    "baseline_first_call_s",
    "break_even_calls",
    "tolerance",
]


def break_even_calls(first_s: float, median_s: float, base_first_s: float, base_median_s: float) -> float:
    """Calls after which the engine's total time (first call + steady calls) drops below the baseline's.

    (first_s - base_first_s) / (base_median_s - median_s): 0 when its first call is no dearer, inf when it is
    never faster per call (it never pays back its export/compile cost).
    """
    extra_s = first_s - base_first_s
    saved_s = base_median_s - median_s
    if extra_s <= 0 and saved_s >= 0:
        return 0.0
    if saved_s <= 0:
        return float("inf")
    return extra_s / saved_s


def deployment(
    frame: pd.DataFrame, baseline: str | dict[str, str] = BASELINE_VARIANT, engines: tuple[str, ...] = ENGINES
) -> pd.DataFrame:
    """Per shape with a baseline: the fastest correct deployment engine, its ratio to the baseline's median
    (below 1: faster), both first calls, and the break-even number of calls."""
    rows = []
    for shape, _, ranked in ranked_per_shape(frame):
        candidates = ranked[ranked["impl"].isin(engines)]
        if candidates.empty:
            continue
        best = candidates.iloc[0]
        chosen = baseline if isinstance(baseline, str) else baseline.get(best["family"], BASELINE_VARIANT)
        base = ranked[ranked["impl"] == chosen]
        if base.empty:
            continue
        base_median, base_first = float(base["median_s"].iloc[0]), _number(base["first_call_s"].iloc[0])
        median, first = float(best["median_s"]), _number(best.get("first_call_s"))
        rows.append(
            {
                **dict(zip(SHAPE, shape)),
                "engine": best["impl"],
                "median_s": median,
                "baseline_median_s": base_median,
                "ratio": median / base_median,
                "first_call_s": first,
                "baseline_first_call_s": base_first,
                "break_even_calls": break_even_calls(first, median, base_first, base_median),
                "tolerance": _number(best.get("tolerance")),
            }
        )
    return pd.DataFrame(rows, columns=DEPLOYMENT_COLUMNS)


def _number(value) -> float:
    """A float, NaN for a missing value (None, NaN, a column older runs lack)."""
    return float(value) if value is not None and pd.notna(value) else float("nan")


def format_calls(calls: float) -> str:
    if calls != calls:
        return MISSING
    if calls == float("inf"):
        return "never"
    return f"{calls:,.0f}"
