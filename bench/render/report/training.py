"""The report's training section, for runs of `rnnbench train`: loss curves (per step, per wall second; log y) and
the time-to-target table. Drawn from training.parquet and the run's rows; nothing is recomputed."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from bench.analysis.training import target_table
from bench.render.report import data
from bench.render.report.figure import Figure, png, safe
from bench.render.report.html import fmt_bytes, fmt_seconds
from bench.results.store import TRAINING


def _curve_figure(curves: pd.DataFrame, x: str, xlabel: str, title: str, anchor: str, caption: str) -> Figure:
    keys = sorted(curves["key"].unique())
    colors = dict(zip(keys, sns.color_palette("colorblind" if len(keys) <= 9 else "husl", len(keys))))
    fig, ax = plt.subplots(figsize=(10.5, 4.2))
    for key in keys:
        curve = curves[curves["key"] == key].sort_values("step")
        ax.plot(curve[x], curve["loss"], label=safe(key), color=colors[key], linewidth=1.2)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss (MSE, log scale)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False, ncol=1 + len(keys) // 18)
    fig.subplots_adjust(left=0.08, right=0.72, bottom=0.14, top=0.95)
    return Figure(anchor, title, caption, png(fig))


def _table(frame: pd.DataFrame) -> list[dict]:
    def text(value, fmt):
        return "—" if value is None or pd.isna(value) else format(value, fmt)

    rows = []
    for r in target_table(frame).itertuples():
        verdict = (r.status if r.status != "ok" else "baseline" if r.key == r.parity_baseline
                   else "—" if pd.isna(r.correct) else "ok" if bool(r.correct) else "incorrect")  # fmt: skip
        rows.append({
            "key": r.key, "final_loss": text(r.final_loss, ".4g"), "steps": text(r.steps_to_target, ".0f"),
            "seconds": fmt_seconds(r.seconds_to_target), "median": fmt_seconds(r.median_s),
            "memory": fmt_bytes(r.peak_mem_bytes), "diff": text(r.loss_curve_rel_diff, ".1e"), "verdict": verdict,
            "bad": verdict in ("incorrect", "error", "oom", "crashed", "timeout"),
        })  # fmt: skip
    return rows


def section(run_dir: str | Path, measurements: pd.DataFrame) -> dict | None:
    """The section's content, or None when the run has no training.parquet."""
    curves = data._read_parquet(Path(run_dir) / TRAINING, required=False)
    if curves is None or curves.empty:
        return None
    first = measurements[measurements["task"].notna()].iloc[0] if "task" in measurements else None
    title = "" if first is None else (f"{first['task']}, {first['dtype']} on {first['device']}, seed "
                                      f"{first['seed']:.0f}, target loss {first['target_loss']:g}")  # fmt: skip
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.85)
    same = "Within a family the curves lie on top of each other: that is the parity check."
    figures = [
        _curve_figure(curves, "step", "optimizer step", "Loss per step", "training-loss-step",
                      f"Every implementation's loss at each step. {same}"),
        _curve_figure(curves, "wall_s", "wall time since the start of training (s)", "Loss over wall time",
                      "training-loss-time", "The same curves against the time it took to get there (the first "
                      "step includes any compilation)."),
    ]  # fmt: skip
    return {"title": title, "figures": figures, "rows": _table(measurements)}
