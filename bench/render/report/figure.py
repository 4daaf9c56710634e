"""How the report draws a figure: the Figure record, one colour per implementation, fixed margins, readable
log scales, and the grid of line plots (mode x family) that the latency, throughput, memory, efficiency and
instruction figures share. Drawn off-screen; a figure comes back as base64 PNG for embedding."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # off-screen: reports are built on headless machines

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from bench.plan.inputs import MODES  # noqa: E402
from bench.render.report import data  # noqa: E402

FACET_WIDTH_IN, FACET_HEIGHT_IN, DPI = 3.6, 2.6, 96
BASELINE_COLOR = "#3b3b3b"
PAGE_WIDTH_IN = 12.2  # the page's figure column at DPI


@dataclass(frozen=True)
class Figure:
    anchor: str
    title: str
    caption: str
    png_base64: str


def palette(impls: list[str]) -> dict[str, str]:
    """One colour per implementation variant, the same in every plot and in the page's legend."""
    others = sorted(i for i in set(impls) if i != data.BASELINE)
    colors = sns.color_palette("colorblind" if len(others) <= 9 else "husl", max(len(others), 1))
    mapping = {impl: to_hex(colors[i]) for i, impl in enumerate(others)}
    if data.BASELINE in impls:
        mapping = {data.BASELINE: BASELINE_COLOR} | mapping
    return mapping


def hue_of(colors: dict[str, str]) -> dict[str, str]:
    """Colours keyed by the label a plot shows."""
    return {safe(k): v for k, v in colors.items()}


def safe(text: object) -> str:
    """Matplotlib reads text between two `$` as math; labels from a run are shown literally."""
    return str(text).replace("$", r"\$")


def png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def spans_decades(values: pd.Series) -> bool:
    values = values[values > 0]
    return len(values) > 1 and values.max() / values.min() >= 10


def facet_width(columns: int, extra_in: float) -> float:
    """Facets narrow down as families are added, so a figure fits the page without shrinking its text."""
    return max(min(FACET_WIDTH_IN, (PAGE_WIDTH_IN - extra_in) / max(columns, 1)), 2.4)


def text_in(labels) -> float:
    """Rough width in inches of the longest label at the plots' font size."""
    return 0.075 * max((len(str(label)) for label in labels), default=0)


def legend_width_in(labels) -> float:
    """Room on the right for a legend of these labels."""
    return max(text_in(labels) + 0.8, 1.6)


def place(fig, *, left=0.8, right=0.25, bottom=0.6, top=0.4, wspace=0.3, hspace=0.5) -> None:
    """Fixed margins in inches: one drawing pass, where a layout engine would need two."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
        wspace=wspace, hspace=hspace,
    )  # fmt: skip


def right_legend(fig, hue: dict[str, str], labels: list[str], legend_in: float) -> None:
    """One legend of implementations in the right margin that `place(fig, right=legend_in)` left."""
    handles = [plt.Line2D([], [], color=hue[k], marker="o", lw=1.4) for k in labels]
    anchor = (1 - (legend_in - 0.15) / fig.get_size_inches()[0], 0.5)
    fig.legend(handles, labels, title="implementation", loc="center left", bbox_to_anchor=anchor, frameon=False)


def log_scale(axis) -> None:
    """Log scale labelled 1, 2, 5, 10, 20... rather than 2x10^1: readable at a glance."""
    axis._set_axes_scale("log")
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


def slice_text(fixed: dict) -> str:
    names = {"batch": "batch", "seq_len": "seq_len", "input_size": "input", "hidden_size": "hidden"}
    parts = [f"{names[c]}={fixed[c]}" for c in names if c in fixed]
    if fixed.get("num_layers", 1) != 1:
        parts.append(f"layers={fixed['num_layers']}")
    if fixed.get("bidirectional"):
        parts.append("bidirectional")
    return ", ".join(parts)


def time_scale(values: pd.Series) -> tuple[float, str]:
    typical = float(np.nanmedian(values)) if len(values) else 1.0
    for factor, unit in ((1e6, "µs"), (1e3, "ms")):
        if typical * factor < 1000:
            return factor, unit
    return 1.0, "s"


def line_grid(part, hue, x, y, *, low=None, high=None, xlabel, ylabel, log_y):
    """Rows: mode; columns: family; one line with error bars per implementation, in its colour.

    Plain matplotlib subplots rather than a FacetGrid: same look, a fraction of the layout passes.
    """
    families = sorted(part["family"].unique())
    modes = [m for m in MODES if m in set(part["mode"])]
    labels = [k for k in hue if k in set(part["label"])]
    legend_in = legend_width_in(labels)
    facet_in = facet_width(len(families), 0.8 + legend_in)
    fig, axes = plt.subplots(
        len(modes), len(families), squeeze=False, sharex=True, sharey="row",
        figsize=(facet_in * len(families) + 0.8 + legend_in, FACET_HEIGHT_IN * len(modes) + 1.0),
    )  # fmt: skip
    for i, mode in enumerate(modes):
        for j, family in enumerate(families):
            ax = axes[i][j]
            panel = part[part["mode"].eq(mode) & part["family"].eq(family)]
            _draw_lines(ax, panel, hue, labels, x, y, low, high)
            ax.set_title(f"{safe(family)} · {mode}", fontsize=9)
            if i == len(modes) - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel)
    _scale_axes(axes, part[x], part[y], log_y)
    place(fig, right=legend_in, wspace=0.08, hspace=0.3)
    right_legend(fig, hue, labels, legend_in)
    return fig


def _draw_lines(ax, panel, hue, labels, x, y, low, high) -> None:
    """One line per implementation label; error bars from the `low`..`high` columns where given."""
    for label in labels:
        line = panel[panel["label"].eq(label)].sort_values(x)
        if line.empty:
            continue
        yerr = None
        if low is not None and high is not None:
            below = (line[y] - line[low]).clip(lower=0).fillna(0).to_numpy(float)
            above = (line[high] - line[y]).clip(lower=0).fillna(0).to_numpy(float)
            yerr = np.vstack([below, above])
        ax.errorbar(line[x], line[y], yerr=yerr, color=hue[label], label=label, marker="o", ms=3.5, lw=1.4,
                    capsize=2)  # fmt: skip


def _scale_axes(axes, xs: pd.Series, ys: pd.Series, log_y: bool) -> None:
    """Shared axes: log where the values span a decade; ticks exactly at the sweep's few sizes."""
    if spans_decades(xs):
        log_scale(axes[0][0].xaxis)
    sizes = sorted(pd.unique(xs))
    if len(sizes) <= 8:  # sweep sizes are few: tick exactly at them, not at round numbers between
        axes[0][0].set_xticks(sizes, [f"{size:g}" for size in sizes])
        axes[0][0].xaxis.set_minor_locator(ticker.NullLocator())
    if log_y and spans_decades(ys):
        for row in axes:
            log_scale(row[0].yaxis)
