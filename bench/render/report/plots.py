"""The report's figures: seaborn/matplotlib drawn off-screen, returned as base64 PNG for embedding."""

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
from matplotlib.colors import TwoSlopeNorm, to_hex  # noqa: E402

from bench.plan.inputs import MODES  # noqa: E402
from bench.render.report import data  # noqa: E402

MAX_SETTINGS = 3  # device/dtype combinations drawn; bounds the figure count on huge sweeps
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


def figures(df: pd.DataFrame, verdict: pd.DataFrame, colors: dict[str, str]) -> list[Figure]:
    """Every figure the data supports; a figure without data is left out rather than drawn empty."""
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.85)
    measured = df[data.usable(df)].copy()
    if measured.empty:
        return []
    measured["label"] = measured["impl"].map(_safe)
    hue = {_safe(k): v for k, v in colors.items()}
    settings = measured.groupby(["device", "dtype"]).size().sort_values(ascending=False).index[:MAX_SETTINGS]
    out: list[Figure] = []
    for device, dtype in settings:
        part = measured[measured["device"].eq(device) & measured["dtype"].eq(dtype)]
        where = f"{device} {dtype}"
        tag = f"{device}-{dtype}"
        out += [
            f
            for f in (
                _latency(part, hue, where, tag),
                _speedup_heatmap(verdict[verdict["device"].eq(device) & verdict["dtype"].eq(dtype)], where, tag),
                _throughput(part, hue, where, tag),
                _memory(part, hue, where, tag),
                _efficiency(part, hue, where, tag),
            )
            if f is not None
        ]
    out += [f for f in (_first_call(measured, hue), _training_split(measured, hue)) if f is not None]
    from bench.render.report import input_plots  # streaming and variable-length figures; imports this module

    return out + input_plots.figures(measured, hue)


def hue_of(colors: dict[str, str]) -> dict[str, str]:
    """Colours keyed by the label a plot shows."""
    return {_safe(k): v for k, v in colors.items()}


def _safe(text: object) -> str:
    """Matplotlib reads text between two `$` as math; labels from a run are shown literally."""
    return str(text).replace("$", r"\$")


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _spans_decades(values: pd.Series) -> bool:
    values = values[values > 0]
    return len(values) > 1 and values.max() / values.min() >= 10


def _facet_width(columns: int, extra_in: float) -> float:
    """Facets narrow down as families are added, so a figure fits the page without shrinking its text."""
    return max(min(FACET_WIDTH_IN, (PAGE_WIDTH_IN - extra_in) / max(columns, 1)), 2.4)


def _text_in(labels) -> float:
    """Rough width in inches of the longest label at the plots' font size."""
    return 0.075 * max((len(str(label)) for label in labels), default=0)


def _place(fig, *, left=0.8, right=0.25, bottom=0.6, top=0.4, wspace=0.3, hspace=0.5) -> None:
    """Fixed margins in inches: one drawing pass, where a layout engine would need two."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
        wspace=wspace, hspace=hspace,
    )  # fmt: skip


def _log_scale(axis) -> None:
    """Log scale labelled 1, 2, 5, 10, 20... rather than 2x10^1: readable at a glance."""
    axis._set_axes_scale("log")
    axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


def _slice_text(fixed: dict) -> str:
    names = {"batch": "batch", "seq_len": "seq_len", "input_size": "input", "hidden_size": "hidden"}
    parts = [f"{names[c]}={fixed[c]}" for c in names if c in fixed]
    if fixed.get("num_layers", 1) != 1:
        parts.append(f"layers={fixed['num_layers']}")
    if fixed.get("bidirectional"):
        parts.append("bidirectional")
    return ", ".join(parts)


def _time_scale(values: pd.Series) -> tuple[float, str]:
    typical = float(np.nanmedian(values)) if len(values) else 1.0
    for factor, unit in ((1e6, "µs"), (1e3, "ms")):
        if typical * factor < 1000:
            return factor, unit
    return 1.0, "s"


def _line_grid(part, hue, x, y, *, low=None, high=None, xlabel, ylabel, log_y):
    """Rows: mode; columns: family; one line with error bars per implementation, in its colour.

    Plain matplotlib subplots rather than a FacetGrid: same look, a fraction of the layout passes.
    """
    families = sorted(part["family"].unique())
    modes = [m for m in MODES if m in set(part["mode"])]
    labels = [k for k in hue if k in set(part["label"])]
    legend_in = max(_text_in(labels) + 0.8, 1.6)
    facet_in = _facet_width(len(families), 0.8 + legend_in)
    fig, axes = plt.subplots(
        len(modes), len(families), squeeze=False, sharex=True, sharey="row",
        figsize=(facet_in * len(families) + 0.8 + legend_in, FACET_HEIGHT_IN * len(modes) + 1.0),
    )  # fmt: skip
    for i, mode in enumerate(modes):
        for j, family in enumerate(families):
            ax = axes[i][j]
            panel = part[part["mode"].eq(mode) & part["family"].eq(family)]
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
            ax.set_title(f"{_safe(family)} · {mode}", fontsize=9)
            if i == len(modes) - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel)
    if _spans_decades(part[x]):
        _log_scale(axes[0][0].xaxis)
    sizes = sorted(pd.unique(part[x]))
    if len(sizes) <= 8:  # sweep sizes are few: tick exactly at them, not at round numbers between
        axes[0][0].set_xticks(sizes, [f"{size:g}" for size in sizes])
        axes[0][0].xaxis.set_minor_locator(ticker.NullLocator())
    if log_y and _spans_decades(part[y]):
        for row in axes:
            _log_scale(row[0].yaxis)
    handles = [plt.Line2D([], [], color=hue[k], marker="o", lw=1.4) for k in labels]
    _place(fig, right=legend_in, wspace=0.08, hspace=0.3)
    width = fig.get_size_inches()[0]
    anchor = (1 - (legend_in - 0.15) / width, 0.5)
    fig.legend(handles, labels, title="implementation", loc="center left", bbox_to_anchor=anchor, frameon=False)
    return fig


def _latency(part, hue, where, tag):
    fixed = data.reference_slice(part, "seq_len")
    rows = data.select(part, fixed).copy()
    if rows.empty:
        return None
    factor, unit = _time_scale(rows["median_s"])
    for column in ("median_s", "ci_low_s", "ci_high_s"):
        rows[column] = pd.to_numeric(rows.get(column), errors="coerce") * factor
    fig = _line_grid(
        rows, hue, "seq_len", "median_s", low="ci_low_s", high="ci_high_s",
        xlabel="seq_len (steps)", ylabel=f"median latency ({unit})", log_y=True,
    )  # fmt: skip
    return Figure(
        f"latency-{tag}",
        f"Latency vs sequence length — {where}",
        f"One call (forward; forward + backward in training) at {_slice_text(fixed)}. "
        "Error bars: 95% confidence interval of the median from the raw samples. Lower is better.",
        _png(fig),
    )


def _throughput(part, hue, where, tag):
    fixed = data.reference_slice(part, "batch")
    rows = data.select(part, fixed).copy()
    if rows.empty:
        return None
    rows["ktokens_per_s"] = rows["tokens_per_s"] / 1e3
    # the CI of the median latency, seen as throughput, bounds tokens/s the other way round
    rows["low"] = rows["batch"] * rows["seq_len"] / pd.to_numeric(rows.get("ci_high_s"), errors="coerce") / 1e3
    rows["high"] = rows["batch"] * rows["seq_len"] / pd.to_numeric(rows.get("ci_low_s"), errors="coerce") / 1e3
    fig = _line_grid(
        rows, hue, "batch", "ktokens_per_s", low="low", high="high",
        xlabel="batch (sequences)", ylabel="throughput (k tokens/s)", log_y=True,
    )  # fmt: skip
    return Figure(
        f"throughput-{tag}",
        f"Throughput vs batch size — {where}",
        f"Tokens per second (batch × seq_len / median latency) at {_slice_text(fixed)}. Higher is better.",
        _png(fig),
    )


def _memory(part, hue, where, tag):
    rows = part[pd.to_numeric(part.get("peak_mem_bytes"), errors="coerce") > 0]
    fixed = data.reference_slice(rows, "seq_len")
    rows = data.select(rows, fixed).copy()
    if rows.empty:
        return None
    rows["peak_mib"] = pd.to_numeric(rows["peak_mem_bytes"]) / 2**20
    fig = _line_grid(
        rows, hue, "seq_len", "peak_mib", xlabel="seq_len (steps)", ylabel="peak extra memory (MiB)", log_y=True
    )
    return Figure(
        f"memory-{tag}",
        f"Peak memory vs sequence length — {where}",
        f"Peak memory one call adds above what existed before it, at {_slice_text(fixed)}. "
        "Training keeps activations for backward, so it grows with seq_len. Lower is better.",
        _png(fig),
    )


def _efficiency(part, hue, where, tag):
    rows = part[part["efficiency_pct"].notna()]
    fixed = data.reference_slice(rows, "hidden_size")
    rows = data.select(rows, fixed)
    if rows.empty:
        return None
    fig = _line_grid(
        rows, hue, "hidden_size", "efficiency_pct",
        xlabel="hidden_size (units)", ylabel="% of matmul peak", log_y=False,
    )  # fmt: skip
    return Figure(
        f"efficiency-{tag}",
        f"Efficiency vs hidden size — {where}",
        f"Achieved FLOP/s (analytic count / median latency) as a share of the matmul peak measured at the start "
        f"of the run on the same device and dtype, at {_slice_text(fixed)}. Higher is better.",
        _png(fig),
    )


def _speedup_heatmap(verdict, where, tag):
    decided = verdict[verdict["speedup"].notna()]
    if decided.empty or decided["n_usable"].max() < 2:
        return None  # nothing to compare with the baseline
    fixed = _heatmap_slice(decided)
    rows = data.select(decided, fixed)
    panels = sorted(rows.groupby(["mode", "family"]).groups)
    modes = [m for m in MODES if m in set(rows["mode"])]
    families = sorted(rows["family"].unique())
    fig, axes = plt.subplots(
        len(modes), len(families), squeeze=False,
        figsize=(_facet_width(len(families), 1.2) * len(families) + 1.2, FACET_HEIGHT_IN * len(modes) + 1.0),
    )  # fmt: skip
    limit = max(float(np.abs(np.log2(rows["speedup"])).max()), 0.25)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    for i, mode in enumerate(modes):
        for j, family in enumerate(families):
            ax = axes[i][j]
            cells = rows[rows["mode"].eq(mode) & rows["family"].eq(family)]
            if (mode, family) not in panels or cells.empty:
                ax.set_axis_off()
                continue
            grid = cells.pivot_table(index="batch", columns="hidden_size", values="speedup", aggfunc="first")
            names = cells.pivot_table(index="batch", columns="hidden_size", values="fastest", aggfunc="first")
            labels = grid.copy().astype(object)
            for b in grid.index:
                for h in grid.columns:
                    value = grid.loc[b, h]
                    labels.loc[b, h] = "" if pd.isna(value) else f"×{value:.2f}\n{_safe(names.loc[b, h])}"
            # pcolormesh + text rather than sns.heatmap, which redraws the whole figure once per panel
            values = np.ma.masked_invalid(np.log2(grid.to_numpy(float)))
            ax.pcolormesh(values, cmap="RdYlGn", norm=norm, edgecolors="white", linewidth=1.0)
            ax.set_facecolor("#eeeeee")
            ax.grid(False)
            for r in range(grid.shape[0]):
                for c in range(grid.shape[1]):
                    shade = "white" if abs(float(values.filled(0.0)[r, c])) > 0.6 * limit else "#1f2328"
                    ax.text(c + 0.5, r + 0.5, labels.iat[r, c], ha="center", va="center", fontsize=8, color=shade)
            ax.set_xticks(np.arange(grid.shape[1]) + 0.5, [str(h) for h in grid.columns])
            ax.set_yticks(np.arange(grid.shape[0]) + 0.5, [str(b) for b in grid.index])
            ax.set_title(f"{_safe(family)} · {mode}", fontsize=9)
            ax.set_xlabel("hidden_size (units)")
            ax.set_ylabel("batch (sequences)")
    _place(fig, wspace=0.3, hspace=0.45)
    return Figure(
        f"speedup-{tag}",
        f"Speedup of the fastest implementation over the family's baseline — {where}",
        f"Each cell: the baseline's median latency ({_baselines_text(rows)}) / the fastest correct "
        f"implementation's, named in the cell, at {_slice_text(fixed)}. Green: an implementation beats the "
        f"baseline; ×1.00 and the baseline's name: the baseline is fastest.",
        _png(fig),
    )


def _baselines_text(rows: pd.DataFrame) -> str:
    pairs = rows[["family", "baseline"]].drop_duplicates().sort_values("family") if "baseline" in rows else None
    return ", ".join(f"{f}: {b}" for f, b in pairs.itertuples(index=False)) if pairs is not None else data.BASELINE


def _heatmap_slice(verdict: pd.DataFrame) -> dict:
    """The seq_len/input/layers/direction with the most batch x hidden cells; ties go to larger sizes."""
    fixed = ["seq_len", "input_size", "num_layers", "bidirectional"]
    cells = verdict.groupby(fixed).apply(lambda g: len(g[["batch", "hidden_size"]].drop_duplicates()))
    best = cells.reset_index(name="n").sort_values(["n", *fixed], ascending=False).iloc[0]
    return {c: best[c] for c in fixed}


def _first_call(measured, hue):
    rows = measured[pd.to_numeric(measured.get("first_call_s"), errors="coerce") > 0].copy()
    if rows.empty:
        return None
    rows["first_call_s"] = pd.to_numeric(rows["first_call_s"])
    rows["key_label"] = rows["key"].map(_safe)
    order = rows.groupby("key_label")["first_call_s"].median().sort_values().index.tolist()
    height = min(0.28 * len(order) + 1.2, 12)
    modes = [m for m in MODES if m in set(rows["mode"])]
    fig, axes = plt.subplots(
        1, len(modes), squeeze=False, sharey=True, figsize=(4.6 * len(modes) + _text_in(order) + 0.5, height)
    )
    for ax, mode in zip(axes[0], modes):
        part = rows[rows["mode"].eq(mode)]
        sns.stripplot(
            part, x="first_call_s", y="key_label", hue="label", palette=hue, order=order, ax=ax,
            size=4, jitter=0.15, alpha=0.8, legend=False,
        )  # fmt: skip
        medians = part.groupby("key_label")["first_call_s"].median().reindex(order)
        ax.scatter(medians.to_numpy(), range(len(order)), marker="|", s=300, color="black", zorder=5)
        _log_scale(ax.xaxis)
        ax.set_title(mode, fontsize=9)
        ax.set_xlabel("first call (s), log scale")
        ax.set_ylabel("")
    _place(fig, left=_text_in(order) + 0.3, bottom=0.6, top=0.35, wspace=0.06)
    return Figure(
        "first-call",
        "First call: compile and warm-up time",
        "Time of the very first call of each case (tracing, compilation, allocator warm-up included), one dot "
        "per shape; the black bar is the median over shapes. What a short-lived process pays before steady state.",
        _png(fig),
    )


def _training_split(measured, hue):
    rows = measured[measured["mode"].eq("training")].copy()
    for column in ("forward_median_s", "backward_median_s"):
        rows[column] = pd.to_numeric(rows.get(column), errors="coerce")
    rows = rows[rows["forward_median_s"].notna() & rows["backward_median_s"].notna()]
    if rows.empty:
        return None
    shape_counts = rows.groupby(data.SHAPE_COLUMNS + ["device", "dtype"]).size().reset_index(name="n")
    best = shape_counts.sort_values(["n", *data.SHAPE_COLUMNS], ascending=False).iloc[0]
    fixed = {c: best[c] for c in data.SHAPE_COLUMNS + ["device", "dtype"]}
    rows = data.select(rows, fixed).sort_values(["family", "median_s"])
    factor, unit = _time_scale(rows["forward_median_s"] + rows["backward_median_s"])
    families = sorted(rows["family"].unique())
    label_in = _text_in(rows["label"]) + 0.3
    fig, axes = plt.subplots(
        1,
        len(families),
        squeeze=False,
        figsize=(4.2 * len(families) + label_in, 0.35 * rows.groupby("family").size().max() + 1.3),
    )
    for ax, family in zip(axes[0], families):
        part = rows[rows["family"].eq(family)]
        y = np.arange(len(part))
        forward = part["forward_median_s"].to_numpy() * factor
        backward = part["backward_median_s"].to_numpy() * factor
        color = [hue.get(label, "#888888") for label in part["label"]]
        ax.barh(y, forward, color=color, edgecolor="white")
        ax.barh(y, backward, left=forward, color=color, alpha=0.45, hatch="///", edgecolor="white")
        for yi, f, b in zip(y, forward, backward):
            ax.text(f + b, yi, f" {100 * b / (f + b):.0f}% bwd", va="center", fontsize=7)
        ax.set_yticks(y, part["label"])
        ax.set_xlabel(f"median time ({unit})")
        ax.set_title(_safe(family), fontsize=9)
        ax.margins(x=0.25)
    _place(fig, left=label_in, bottom=0.6, top=0.35, wspace=(label_in + 0.2) / 4.2)
    return Figure(
        "training-split",
        "Training: forward vs backward",
        f"Forward (solid) and backward (hatched), each timed alone, at {_slice_text(fixed)}, "
        f"{fixed['device']} {fixed['dtype']}. The share of backward is printed beside each bar.",
        _png(fig),
    )
