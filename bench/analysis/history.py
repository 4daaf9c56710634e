"""A case's results over commits: series of run medians, their change points and their noisy runs.

Pure functions of the `measurements` view (bench.results.query): one row per case per run, with the run's
git_commit, git_commit_time, run_started_at, run_host, torch and python. Runs of one case on another host
or with another torch or Python are a separate series: their timings are not comparable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from bench.analysis import changepoints

# a run whose own samples spread (IQR / median) more than this, and more than twice as much as its series
# usually does, is marked noisy: a noisy machine's every run is not news, one bad run among quiet ones is
NOISY_RELATIVE_IQR = 0.10
NOISY_FACTOR = 2.0
ENVIRONMENT = ["run_host", "torch", "python"]
NEEDED = ["case_id", "key", "family", "mode", "status", "median_s", "run_id", "git_commit", "run_started_at"]


@dataclass(frozen=True)
class Change:
    case_id: str
    series: str  # the environment: host, torch, Python
    commit_before: str
    commit_after: str
    run_before: str
    run_after: str
    before_median_s: float
    after_median_s: float
    ratio: float  # after / before: above 1 is slower
    ratio_low: float
    ratio_high: float
    p_value: float
    points: int  # runs in the series

    def as_dict(self) -> dict:
        return asdict(self)


def _label(row) -> str:
    parts = [str(row.get("run_host") or "?"), f"torch {row.get('torch') or '?'}", f"py {row.get('python') or '?'}"]
    return " · ".join(parts)


def series(frame: pd.DataFrame) -> pd.DataFrame:
    """The ok rows with a median, each tagged with its series, its position in it and whether it is noisy,
    ordered by commit time (runs without one: by start time)."""
    missing = [c for c in NEEDED if c not in frame]
    if missing:
        raise ValueError(f"measurements lack {', '.join(missing)}")
    df = frame[(frame["status"] == "ok") & frame["median_s"].notna()].copy()
    for column in [*ENVIRONMENT, "git_commit_time", "iqr_s", "ci_low_s", "ci_high_s"]:
        if column not in df:
            df[column] = None
    df["series"] = [_label(r) for r in df[ENVIRONMENT].to_dict("records")]
    started = pd.to_datetime(df["run_started_at"], utc=True, errors="coerce", format="ISO8601")
    committed = pd.to_datetime(df["git_commit_time"], utc=True, errors="coerce", format="ISO8601")
    df["order_time"] = committed.fillna(started)
    df["started_time"] = started
    df = df.sort_values(["case_id", "series", "order_time", "started_time", "run_id"], kind="stable")
    df["position"] = df.groupby(["case_id", "series"]).cumcount()
    df["relative_iqr"] = pd.to_numeric(df["iqr_s"], errors="coerce") / df["median_s"].astype(float)
    usual = df.groupby(["case_id", "series"])["relative_iqr"].transform("median")
    df["noisy"] = (df["relative_iqr"] > NOISY_RELATIVE_IQR) & (df["relative_iqr"] > NOISY_FACTOR * usual)
    return df.reset_index(drop=True)


def _short(commit) -> str:
    return str(commit)[:12] if isinstance(commit, str) and commit else "?"


def changes(points: pd.DataFrame, *, min_step: float = 0.05, **options) -> list[Change]:
    """Change points of every series (bench.analysis.changepoints), steps of at least `min_step`."""
    found = []
    for (case_id, label), part in points.groupby(["case_id", "series"], sort=True):
        values = part["median_s"].to_numpy(dtype=float)
        for change in changepoints.detect(values, min_step=min_step, **options):
            before, after = part.iloc[change.index - 1], part.iloc[change.index]
            found.append(
                Change(
                    str(case_id),
                    str(label),
                    _short(before["git_commit"]),
                    _short(after["git_commit"]),
                    str(before["run_id"]),
                    str(after["run_id"]),
                    change.before_median,
                    change.after_median,
                    change.ratio,
                    change.ratio_low,
                    change.ratio_high,
                    change.p_value,
                    len(part),
                )  # fmt: skip
            )
    return found


def summary(points: pd.DataFrame, found: list[Change]) -> dict:
    """The figures a page or a CI summary leads with."""
    return {
        "runs": int(points["run_id"].nunique()) if len(points) else 0,
        "cases": int(points["case_id"].nunique()) if len(points) else 0,
        "series": int(points.groupby(["case_id", "series"]).ngroups) if len(points) else 0,
        "noisy_points": int(points["noisy"].sum()) if len(points) else 0,
        "changes": len(found),
        "slower": sum(c.ratio > 1 for c in found),
        "faster": sum(c.ratio < 1 for c in found),
    }


def noisy_runs(points: pd.DataFrame) -> pd.DataFrame:
    """The points marked noisy (NOISY_RELATIVE_IQR, NOISY_FACTOR), with their spread and their series' usual."""
    usual = points.groupby(["case_id", "series"])["relative_iqr"].transform("median")
    noisy = points.assign(usual_relative_iqr=usual)[points["noisy"]]
    shown = ["case_id", "series", "run_id", "git_commit", "relative_iqr", "usual_relative_iqr"]
    return noisy[shown].round({"relative_iqr": 3, "usual_relative_iqr": 3})
