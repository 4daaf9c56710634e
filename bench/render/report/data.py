"""Tables the report shows, derived from a run's measurements. Pure pandas: no plotting, no HTML."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.analysis.summary import SHAPE, ranked_per_shape, usable  # noqa: F401 - usable is part of this module's API
from bench.errors import UsageError
from bench.results.schema import COLUMNS
from bench.results.vocabulary import BASELINE_VARIANT, FAILED_STATUSES, SHAPE_FIELDS, shape_label

SHAPE_COLUMNS = [*SHAPE_FIELDS, "length_dist"]
SETTING_COLUMNS = ["family", "device", "dtype", "mode"]
GROUP_COLUMNS = SETTING_COLUMNS + SHAPE_COLUMNS
REQUIRED_COLUMNS = ["key", "family", "impl", "device", "dtype", "mode", *SHAPE_FIELDS, "status"]
BASELINE = BASELINE_VARIANT  # for families the run's "baselines" do not name
NOT_OK_ORDER = [*FAILED_STATUSES, "skipped"]


@dataclass(frozen=True)
class Run:
    """A run directory as read from disk: run.json, the measurements and the optional profiler table."""

    run_dir: Path
    meta: dict
    measurements: pd.DataFrame
    top_ops: pd.DataFrame | None


def load_run(run_dir: str | Path) -> Run:
    """Read a run directory; anything missing or unreadable is a UsageError worded for the user."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"run directory not found: {run_dir}")
    meta_path = run_dir / "run.json"
    if not meta_path.is_file():
        raise UsageError(f"{run_dir} has no run.json; is it a run directory written by 'rnnbench sweep'?")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read {meta_path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise UsageError(f"{meta_path} does not hold a JSON object")
    top_ops = _read_parquet(run_dir / "top_ops.parquet", required=False)
    if top_ops is not None and not (run_dir / "measurements.parquet").exists():
        # a `rnnbench profile` run: operators only, no timing table
        measurements = pd.DataFrame(columns=[*REQUIRED_COLUMNS, "case_id", "median_s", "correct"])
    else:
        measurements = _read_parquet(run_dir / "measurements.parquet", required=True)
    missing = [c for c in REQUIRED_COLUMNS if c not in measurements.columns]
    if missing:
        raise UsageError(f"{run_dir / 'measurements.parquet'} lacks columns: {', '.join(missing)}")
    return Run(run_dir=run_dir, meta=meta, measurements=measurements, top_ops=top_ops)


def _read_parquet(path: Path, required: bool) -> pd.DataFrame | None:
    if not path.is_file():
        if required:
            raise UsageError(f"{path} not found; the run has no measurements yet")
        return None
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise UsageError(f"cannot read {path}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc


def _as_bool(series: pd.Series) -> pd.Series:
    """A nullable boolean: True, False or <NA> (a case never checked)."""
    return series.map(lambda v: pd.NA if v is None or (isinstance(v, float) and np.isnan(v)) else bool(v)).astype(
        "boolean"
    )


def _num(df: pd.DataFrame, column: str) -> pd.Series:
    if column in df.columns:
        return pd.to_numeric(df[column], errors="coerce")
    return pd.Series(np.nan, index=df.index, dtype=float)


def baseline_impls(df: pd.DataFrame, baselines: dict | None = None) -> pd.Series:
    """Each row's family baseline variant: run.json's "baselines" (family -> variant), else BASELINE."""
    chosen = baselines or {}
    return pd.Series([chosen.get(family, BASELINE) for family in df["family"]], index=df.index, dtype=object)


def is_baseline(df: pd.DataFrame) -> pd.Series:
    return df["impl"].eq(df["baseline"]) if "baseline" in df.columns else df["impl"].eq(BASELINE)


def prepare(
    measurements: pd.DataFrame, peak_flops_per_s: dict | None = None, baselines: dict | None = None
) -> pd.DataFrame:
    """The measurements with what a reader compares: tokens/s, efficiency in %, speedup over the baseline."""
    df = measurements.copy()
    df["baseline"] = baseline_impls(df, baselines)
    for column in COLUMNS:  # a run written by an older rnnbench may lack a column: show it as missing
        if column not in df.columns:
            df[column] = None
    for column in ("median_s", "flops", "achieved_flops_per_s", "efficiency"):
        df[column] = _num(df, column)
    df["correct"] = (
        _as_bool(df["correct"]) if "correct" in df.columns else pd.Series(pd.NA, index=df.index, dtype="boolean")
    )
    ok = df["status"].eq("ok") & df["median_s"].gt(0)
    df["length_dist"] = df["length_dist"].astype(object).where(df["length_dist"].notna(), "fixed")  # older runs: fixed
    tokens = _num(df, "tokens").fillna(df["batch"] * df["seq_len"])  # real tokens: padding does not count
    elapsed = _num(df, "elapsed_median_s").fillna(df["median_s"])  # rates are per elapsed second, whatever the clock
    df["tokens_per_s"] = (tokens / elapsed).where(ok)
    achieved = df["achieved_flops_per_s"].fillna(df["flops"] / elapsed).where(ok)
    df["achieved_flops_per_s"] = achieved
    if peak_flops_per_s and df["efficiency"].isna().all():
        peak = (df["device"].astype(str) + "/" + df["dtype"].astype(str)).map(peak_flops_per_s)
        df["efficiency"] = achieved / pd.to_numeric(peak, errors="coerce")
    df["efficiency_pct"] = df["efficiency"] * 100.0
    baseline = df[ok & is_baseline(df)].drop_duplicates(GROUP_COLUMNS)
    baseline = baseline.set_index(GROUP_COLUMNS)["median_s"].rename("baseline_median_s")
    df = df.join(baseline, on=GROUP_COLUMNS)
    df["speedup"] = (df["baseline_median_s"] / df["median_s"]).where(ok)
    df["shape"] = shape_labels(df)
    return df


def shape_labels(df: pd.DataFrame) -> pd.Series:
    """Each row's shape label (bench.results.vocabulary.shape_label)."""
    if df.empty:
        return pd.Series([], index=df.index, dtype=object)
    return pd.Series([shape_label(r) for r in df[SHAPE_COLUMNS].itertuples()], index=df.index, dtype=object)


def verdict(df: pd.DataFrame) -> pd.DataFrame:
    """The fastest correct implementation of each family/device/dtype/mode/shape, with its margins.

    `clear_win` is False when the winner's confidence interval overlaps the runner-up's: the ranking is
    then within the measurement noise and the reader should not act on it.
    """
    rows = []
    for group, cases, ranked in ranked_per_shape(df):
        row = dict(zip(SHAPE, group))
        row["shape"] = cases["shape"].iloc[0]
        row["n_impls"] = int(cases["key"].nunique())
        row["n_usable"] = len(ranked)
        if ranked.empty:
            row.update(fastest=None, median_s=np.nan, runner_up=None, runner_up_ratio=np.nan, clear_win=None)
        else:
            best = ranked.iloc[0]
            row.update(fastest=best["impl"], fastest_key=best["key"], median_s=best["median_s"])
            if len(ranked) > 1:
                second = ranked.iloc[1]
                row.update(runner_up=second["impl"], runner_up_ratio=second["median_s"] / best["median_s"])
                best_high = best.get("ci_high_s", np.nan)
                second_low = second.get("ci_low_s", np.nan)
                row["clear_win"] = (
                    bool(best_high < second_low) if pd.notna(best_high) and pd.notna(second_low) else None
                )
            else:
                row.update(runner_up=None, runner_up_ratio=np.nan, clear_win=None)
        base = cases[is_baseline(cases) & cases["status"].eq("ok")]
        row["baseline"] = cases["baseline"].iloc[0] if "baseline" in cases.columns else BASELINE
        row["baseline_median_s"] = base["median_s"].iloc[0] if len(base) else np.nan
        row["speedup"] = row["baseline_median_s"] / row["median_s"] if row["n_usable"] else np.nan
        rows.append(row)
    columns = [*GROUP_COLUMNS, "shape", "n_impls", "n_usable", "fastest", "fastest_key", "median_s"]
    columns += ["runner_up", "runner_up_ratio", "clear_win", "baseline", "baseline_median_s", "speedup"]
    return pd.DataFrame(rows).reindex(columns=columns)


def verdict_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per family/device/dtype/mode: the implementation that wins most shapes and its typical speedup."""
    rows = []
    decided = table[table["fastest"].notna()]
    for group, cases in decided.groupby(SETTING_COLUMNS, sort=True):
        counts = cases["fastest"].value_counts()
        top = counts.index[0]
        wins = cases[cases["fastest"].eq(top)]
        speedups = wins["speedup"].dropna()
        rows.append(
            {
                **dict(zip(SETTING_COLUMNS, group)),
                "winner": top,
                "wins": int(counts.iloc[0]),
                "n_shapes": int(table.set_index(SETTING_COLUMNS).index.isin([group]).sum()),
                "geomean_speedup": float(np.exp(np.log(speedups).mean())) if len(speedups) else np.nan,
                "max_speedup": float(speedups.max()) if len(speedups) else np.nan,
                "others": ", ".join(f"{k} ({v})" for k, v in counts.iloc[1:].items()),
            }
        )
    return pd.DataFrame(
        rows, columns=[*SETTING_COLUMNS, "winner", "wins", "n_shapes", "geomean_speedup", "max_speedup", "others"]
    )


def incorrect(df: pd.DataFrame) -> pd.DataFrame:
    """Cases that ran but disagree with the float64 reference, worst first."""
    bad = df[df["correct"].eq(False).fillna(False)]
    return bad.sort_values("rel_err" if "rel_err" in bad.columns else "key", ascending=False, na_position="last")


def not_run(df: pd.DataFrame) -> pd.DataFrame:
    """Cases without a measurement, the most alarming status first."""
    rest = df[df["status"].ne("ok")].copy()
    rest["_order"] = rest["status"].map({s: i for i, s in enumerate(NOT_OK_ORDER)}).fillna(-1)
    return rest.sort_values(["_order", "key", *SHAPE_COLUMNS]).drop(columns="_order")


def status_counts(df: pd.DataFrame) -> dict[str, int]:
    order = ["ok", *reversed(NOT_OK_ORDER)]
    counts = df["status"].value_counts()
    known = {s: int(counts[s]) for s in order if s in counts}
    return known | {str(s): int(n) for s, n in counts.items() if s not in known}


def ordered(df: pd.DataFrame) -> pd.DataFrame:
    """The full table in reading order: setting, then shape, then fastest first."""
    return df.sort_values([*SETTING_COLUMNS, *SHAPE_COLUMNS, "median_s", "key"], na_position="last", kind="stable")


def reference_slice(df: pd.DataFrame, vary: str) -> dict:
    """Fixed values for every shape column but `vary`, so one line per implementation is a fair comparison.

    Picks the combination with the most measured points along `vary`; ties go to the larger sizes.
    """
    fixed = [c for c in SHAPE_COLUMNS if c != vary]
    measured = df[df["status"].eq("ok") & df["median_s"].notna()]
    if measured.empty:
        return {}
    counts = measured.groupby(fixed, dropna=False)[vary].nunique().reset_index(name="n")
    best = counts.sort_values(["n", *fixed], ascending=False).iloc[0]
    return {c: best[c] for c in fixed}


def select(df: pd.DataFrame, fixed: dict) -> pd.DataFrame:
    mask = pd.Series(True, index=df.index)
    for column, value in fixed.items():
        mask &= df[column].eq(value)
    return df[mask]


def operator_summary(top_ops: pd.DataFrame, measurements: pd.DataFrame, limit: int = 8) -> list[dict]:
    """Per profiled case: its heaviest operators, and how its self time splits into kernels vs Python.

    Rows flagged `is_label` are record_function ranges (forward, backward, a time step): their self time
    is Python running between operators, the overhead a fused or compiled implementation removes. Shares
    are of the case's total self time, so what the listed rows leave is spent in operators not listed.
    Tables without `is_label` fall back to the operator's namespace (`aten::` counts as a kernel).
    """
    cases = []
    medians = {}
    if "case_id" in measurements.columns and "median_s" in measurements.columns:
        medians = measurements.drop_duplicates("case_id").set_index("case_id")["median_s"].to_dict()
    for case_id, ops in top_ops.groupby("case_id", sort=True):
        ops = ops.sort_values("share", ascending=False)
        if "is_label" in ops.columns:
            python = ops["is_label"].fillna(False).astype(bool)
        else:
            python = ~ops["op"].astype(str).str.startswith("aten::")
        share = pd.to_numeric(ops["share"], errors="coerce").fillna(0.0)
        python_share = float(share[python].sum())
        kernel_share = float(share[~python].sum())
        cases.append(
            {
                "case_id": case_id,
                "key": ops["key"].iloc[0],
                "median_s": medians.get(case_id, np.nan),
                "python_share": python_share,
                "kernel_share": kernel_share,
                "unlisted_share": max(1.0 - python_share - kernel_share, 0.0),
                "ops": [r | {"python": bool(p)} for r, p in zip(ops.head(limit).to_dict("records"), python)],
            }
        )
    return cases
