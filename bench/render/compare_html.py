"""A comparison as a self-contained HTML page: a plot of every ratio with its interval, and the table."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import jinja2
import pandas as pd

from bench.analysis.compare import Comparison
from bench.render.compare_render import (
    VERDICT_LABELS,
    case_label,
    format_basis,
    format_change,
    format_interval,
    format_p,
    format_value,
    headline,
)

TEMPLATES = Path(__file__).with_name("templates")
PLOT_COLORS = {"regression": "#c0392b", "improvement": "#1e8449", "unchanged": "#7f8c8d", "incomparable": "#d4ac0d"}
MAX_PLOTTED = 150


def ratio_plot_png(comparison: Comparison) -> bytes | None:
    """Horizontal interval plot, one line per compared case, log-scaled factor axis; None if nothing to plot."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns

    data = comparison.changes[comparison.changes["ratio"].notna()].head(MAX_PLOTTED)
    if data.empty:
        return None
    sns.set_theme(style="whitegrid", context="notebook")
    height = 1.2 + 0.28 * len(data)
    fig, ax = plt.subplots(figsize=(10, height))
    labels = [case_label(row) for _, row in data.iterrows()]
    y = np.arange(len(data))[::-1]
    threshold = comparison.threshold if comparison.tolerance is None else comparison.tolerance
    ax.axvspan(1 - threshold, 1 + threshold, color="#95a5a6", alpha=0.15, label=f"within ±{threshold:.0%}")
    ax.axvline(1.0, color="#2c3e50", linewidth=1)
    _intervals(ax, data, y)
    ax.set_xscale("log")
    factor = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:.2f}x")
    ax.xaxis.set_major_formatter(factor)
    ax.xaxis.set_minor_formatter(factor)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_ylim(-0.7, len(data) - 0.3)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(f"new / base: median of pairwise ratios, with its {1 - comparison.alpha:.0%} interval (log scale)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _intervals(ax, data: pd.DataFrame, y) -> None:
    """Each case's ratio at height y with its interval, one colour and legend entry per verdict; an open end
    (no interval) is drawn at the ratio."""
    import numpy as np

    ratio = data["ratio"].to_numpy(dtype=float)
    low = data["ratio_low"].to_numpy(dtype=float)
    high = data["ratio_high"].to_numpy(dtype=float)
    finite_low = np.where(low > 0, low, ratio)
    finite_high = np.where(np.isfinite(high), high, ratio)
    for verdict in data["verdict"].unique():
        mask = (data["verdict"] == verdict).to_numpy()
        ax.errorbar(
            ratio[mask],
            y[mask],
            xerr=[np.maximum(0, ratio[mask] - finite_low[mask]), np.maximum(0, finite_high[mask] - ratio[mask])],
            fmt="o",
            color=PLOT_COLORS.get(verdict, "#34495e"),
            capsize=3,
            label=VERDICT_LABELS[verdict],
        )


def _rows(frame: pd.DataFrame) -> list[dict]:
    return [
        {
            "verdict": row["verdict"],
            "label": VERDICT_LABELS[row["verdict"]],
            "case": case_label(row),
            "base": format_value(row, "base"),
            "new": format_value(row, "new"),
            "change": format_change(row["ratio"]),
            "interval": format_interval(row["ratio_low"], row["ratio_high"]),
            "p": format_p(row["p_value"]),
            "basis": format_basis(row),
            "note": row["note"] or "",
        }
        for _, row in frame.iterrows()
    ]


def to_html(comparison: Comparison) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    png = ratio_plot_png(comparison)
    return env.get_template("compare.html").render(
        comparison=comparison,
        headline=headline(comparison),
        failed=comparison.failed,
        plot=base64.b64encode(png).decode("ascii") if png else None,
        rows=_rows(comparison.changes),
        plotted=min(MAX_PLOTTED, int(comparison.changes["ratio"].notna().sum())),
    )


def write_html(comparison: Comparison, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(to_html(comparison), encoding="utf-8")
    tmp.replace(path)
    return path
