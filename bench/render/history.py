"""The history page and its Markdown summary: each case's median over commits, change points marked.

One seaborn small-multiples figure per family and mode (a facet per case, a line per series), at most
MAX_FIGURES figures of MAX_FACETS facets, embedded as PNG: one self-contained page, like the report.
"""

from __future__ import annotations

import base64
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.analysis.history import NOISY_RELATIVE_IQR, Change
from bench.render.report.html import fmt_seconds

MAX_FIGURES = 12
MAX_FACETS = 16
COLUMNS = 4
DPI = 90


@dataclass(frozen=True)
class Figure:
    title: str
    png_base64: str
    shown: int  # cases drawn
    cases: int  # cases of this family and mode


def _draw_case(data: pd.DataFrame, changes_by_case: dict, **_) -> None:
    import matplotlib.pyplot as plt

    ax = plt.gca()
    for _, part in data.groupby("series"):
        low = (part["ms"] - part["ci_low_ms"]).clip(lower=0).fillna(0)
        high = (part["ci_high_ms"] - part["ms"]).clip(lower=0).fillna(0)
        ax.errorbar(part["position"], part["ms"], yerr=[low, high], fmt="none", ecolor="0.6", lw=0.8)
        noisy = part[part["noisy"]]
        ax.scatter(noisy["position"], noisy["ms"], s=40, facecolors="none", edgecolors="crimson", zorder=3)
    case_id = data["case_id"].iloc[0]
    for change in changes_by_case.get(case_id, []):
        position = data.loc[data["run_id"] == change.run_after, "position"]
        if len(position):
            ax.axvline(float(position.iloc[0]) - 0.5, color="crimson", ls="--", lw=1)


def _figure(part: pd.DataFrame, title: str, changes_by_case: dict, total: int) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    cases = sorted(part["case_id"].unique())
    shown = cases[:MAX_FACETS]
    data = part[part["case_id"].isin(shown)].copy()
    data["case"] = data["case_id"].str.replace("$", r"\$", regex=False).str.replace("|", "\n", n=1, regex=False)
    data["ms"] = data["median_s"].astype(float) * 1e3
    data["ci_low_ms"] = pd.to_numeric(data["ci_low_s"], errors="coerce") * 1e3
    data["ci_high_ms"] = pd.to_numeric(data["ci_high_s"], errors="coerce") * 1e3
    grid = sns.relplot(
        data=data, x="position", y="ms", hue="series", col="case", col_wrap=min(COLUMNS, len(shown)),
        kind="line", marker="o", markersize=4, height=2.4, aspect=1.4, facet_kws={"sharey": False, "sharex": False},
    )  # fmt: skip
    grid.map_dataframe(_draw_case, changes_by_case=changes_by_case)
    grid.set_titles("{col_name}", size=7)
    grid.set_axis_labels("run (ordered by commit time)", "median (ms)")
    buffer = io.BytesIO()
    grid.figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(grid.figure)
    return Figure(title, base64.b64encode(buffer.getvalue()).decode("ascii"), len(shown), total)


def figures(points: pd.DataFrame, found: list[Change]) -> list[Figure]:
    """Cases with a change point first, so the bounded figures show what moved."""
    changes_by_case: dict[str, list[Change]] = {}
    for change in found:
        changes_by_case.setdefault(change.case_id, []).append(change)
    points = points.assign(changed=points["case_id"].isin(changes_by_case))
    groups = sorted(points.groupby(["family", "mode"]), key=lambda item: (not item[1]["changed"].any(), item[0]))
    drawn = []
    for (family, mode), part in groups[:MAX_FIGURES]:
        ordered = part.sort_values(["changed", "case_id"], ascending=[False, True])
        keep = list(dict.fromkeys(ordered["case_id"]))[:MAX_FACETS]
        title, total = f"{family} · {mode}", part["case_id"].nunique()
        drawn.append(_figure(part[part["case_id"].isin(keep)], title, changes_by_case, total))
    return drawn


def _step(change: Change) -> str:
    low, mid, high = ((value - 1) * 100 for value in (change.ratio_low, change.ratio, change.ratio_high))
    return f"{mid:+.1f}% [{low:+.1f}%, {high:+.1f}%]"


def change_rows(found: list[Change]) -> list[dict]:
    return [
        {
            "case": c.case_id,
            "series": c.series,
            "before": c.commit_before,
            "after": c.commit_after,
            "run_after": c.run_after,
            "median": f"{fmt_seconds(c.before_median_s)} → {fmt_seconds(c.after_median_s)}",
            "step": _step(c),
            "p_value": f"{c.p_value:.3g}",
            "slower": c.ratio > 1,
        }  # fmt: skip
        for c in sorted(found, key=lambda c: -abs(c.ratio - 1))
    ]


def markdown(summary: dict, found: list[Change], root: str) -> str:
    """A few lines for a CI job summary ($GITHUB_STEP_SUMMARY): the figures, then one row per change."""
    lines = [
        "### rnnbench history",
        "",
        f"{summary['runs']} runs, {summary['cases']} cases, {summary['series']} series under `{root}`: "
        f"**{summary['changes']} change point(s)** ({summary['slower']} slower, {summary['faster']} faster); "
        f"{summary['noisy_points']} noisy run(s) (IQR/median > {NOISY_RELATIVE_IQR:.0%} and twice the series' usual).",
    ]
    if found:
        lines += ["", "| case | series | commit before → after | median | step (95% CI) | p |", "|" + "---|" * 6]
        for row in change_rows(found):
            case = row["case"].replace("|", "\\|")
            lines.append(
                f"| `{case}` | {row['series']} | `{row['before']}` → `{row['after']}` | {row['median']} "
                f"| {row['step']} | {row['p_value']} |"
            )
    return "\n".join(lines) + "\n"


def write_page(out_dir: Path, context: dict) -> Path:
    from bench.render.report.html import render_template

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".index-", suffix=".html")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(render_template("history.html", context))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
