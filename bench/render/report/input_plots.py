"""The report's figures for real inputs: streaming steps (their latency CDF, p99 beside the median) and
variable-length batches (latency and real-token throughput against the share of padding)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker

from bench.plan.inputs import FIXED
from bench.render.report import data
from bench.render.report.figure import Figure, log_scale, place, png, safe, time_scale

PANEL_WIDTH_IN, PANEL_HEIGHT_IN = 3.8, 2.7


def figures(measured: pd.DataFrame, hue: dict[str, str]) -> list[Figure]:
    """Every figure these rows support, for the run's first device/dtype; none without data."""
    found = [_streaming_cdf(measured, hue), _streaming_tail(measured, hue), _lengths(measured, hue)]
    return [f for f in found if f is not None]


def _streaming(measured: pd.DataFrame) -> pd.DataFrame:
    rows = measured[measured["mode"].eq("streaming")]
    rows = rows[rows["samples_s"].map(lambda s: isinstance(s, list | tuple | np.ndarray) and len(s) > 0)]
    if rows.empty:
        return rows
    device, dtype = rows.groupby(["device", "dtype"]).size().idxmax()
    return rows[rows["device"].eq(device) & rows["dtype"].eq(dtype)].sort_values(["family", "batch", "impl"])


def _panels(rows: pd.DataFrame) -> list[tuple]:
    return sorted(rows.groupby(["family", "batch", "seq_len", "input_size", "hidden_size", "num_layers"]).groups)


def _grid(count: int, extra_height_in: float = 0.0):
    columns = min(count, 3)
    lines = -(-count // columns)
    fig, axes = plt.subplots(
        lines, columns, squeeze=False,
        figsize=(PANEL_WIDTH_IN * columns + 1.8, PANEL_HEIGHT_IN * lines + 0.9 + extra_height_in),
    )  # fmt: skip
    for ax in axes.ravel()[count:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def _log_axis(axis, values) -> None:
    """Log scale; over more than ~1.5 decades only the powers of ten are labelled, so the labels stay apart."""
    log_scale(axis)
    values = np.asarray(values, dtype=float)
    if values.size and values.max() > 30 * values[values > 0].min():
        axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0,)))


def _panel_title(key: tuple) -> str:
    family, batch, _, _, hidden, layers = key
    return f"{safe(family)} · batch {batch} · h{hidden}" + (f" · l{layers}" if layers != 1 else "")


def _streaming_cdf(measured, hue):
    rows = _streaming(measured)
    if rows.empty:
        return None
    panels = _panels(rows)
    fig, axes = _grid(len(panels))
    steps = int(rows["samples_s"].map(len).min())
    for ax, key in zip(axes, panels):
        part = rows.set_index(["family", "batch", "seq_len", "input_size", "hidden_size", "num_layers"]).loc[[key]]
        for _, row in part.iterrows():
            x = np.asarray(row["samples_s"], dtype=float) * 1e6
            sns.ecdfplot(x=x, ax=ax, color=hue.get(row["label"], "#888888"), label=row["label"], linewidth=1.3)
            p99 = float(np.percentile(x, 99))
            ax.plot([p99], [0.99], marker="o", markersize=4, color=hue.get(row["label"], "#888888"))
        _log_axis(ax.xaxis, np.concatenate([np.asarray(s, dtype=float) * 1e6 for s in part["samples_s"]]))
        ax.axhline(0.99, color="#999999", linewidth=0.6, linestyle=":")
        ax.set_xlabel("one step (µs), log scale")
        ax.set_ylabel("share of steps")
        ax.set_title(_panel_title(key), fontsize=9)
    axes[0].legend(fontsize=7, loc="lower right")
    place(fig, left=0.7, bottom=0.6, top=0.35, wspace=0.35, hspace=0.6)
    return Figure(
        "streaming-cdf",
        "Streaming: latency of a single step",
        f"Each step of a stream (one time step per call, state carried, no_grad) timed on its own; at least "
        f"{steps:,} steps per implementation over repeated sequences. The curve is the share of steps at or under "
        "a latency; the dot marks the p99. A long flat tail is what a median over blocks of calls hides.",
        png(fig),
    )


def _streaming_tail(measured, hue):
    rows = _streaming(measured)
    if rows.empty or "step_p99_s" not in rows:
        return None
    rows = rows.assign(p50=pd.to_numeric(rows["step_p50_s"]), p99=pd.to_numeric(rows["step_p99_s"]))
    factor, unit = time_scale(rows["p50"])
    panels = _panels(rows)
    fig, axes = _grid(len(panels))
    for ax, key in zip(axes, panels):
        part = rows.set_index(["family", "batch", "seq_len", "input_size", "hidden_size", "num_layers"]).loc[[key]]
        y = np.arange(len(part))
        colors = [hue.get(label, "#888888") for label in part["label"]]
        ax.barh(y - 0.2, part["p50"] * factor, height=0.38, color=colors, label="p50")
        ax.barh(y + 0.2, part["p99"] * factor, height=0.38, color=colors, alpha=0.45, hatch="///", label="p99")
        for yi, p50, p99 in zip(y, part["p50"], part["p99"]):
            ax.text(p99 * factor, yi + 0.2, f" {p99 / p50:.1f}x", va="center", fontsize=7)
        ax.set_yticks(y, part["label"])
        ax.invert_yaxis()
        _log_axis(ax.xaxis, np.concatenate([part["p50"], part["p99"]]) * factor)
        ax.set_xlabel(f"one step ({unit}), log scale")
        ax.set_title(_panel_title(key), fontsize=9)
        ax.margins(x=0.2)
    axes[0].legend(fontsize=7, loc="lower right")
    place(fig, left=1.5, bottom=0.6, top=0.35, wspace=0.6, hspace=0.6)
    return Figure(
        "streaming-tail",
        "Streaming: p99 beside the median",
        "Median (solid) and 99th percentile (hatched) of single-step latency; the ratio p99/p50 is printed "
        "beside each pair. Gate on the tail with `rnnbench compare --statistic p99`.",
        png(fig),
    )


def padding_share(rows: pd.DataFrame) -> pd.Series:
    """The share of a padded batch's steps that are padding: 1 - mean_length / seq_len (0 for fixed lengths)."""
    mean = pd.to_numeric(rows["mean_length"], errors="coerce").fillna(rows["seq_len"])
    return 1.0 - mean / rows["seq_len"]


def _lengths(measured, hue):
    rows = measured[~measured["mode"].eq("streaming")].copy()
    shape = [c for c in data.GROUP_COLUMNS if c != "length_dist"]
    spread = rows.groupby(shape)["length_dist"].transform("nunique")
    rows = rows[spread.ge(2) & rows["length_dist"].notna()]
    if rows.empty or not rows["length_dist"].ne(FIXED).any():
        return None
    rows["padding_pct"] = 100 * padding_share(rows)
    groups = sorted(rows.groupby(["family", "mode", "device", "dtype"]).groups)[:3]
    factor, unit = time_scale(rows["median_s"])
    fig, axes = plt.subplots(2, len(groups), squeeze=False, figsize=(PANEL_WIDTH_IN * len(groups) + 1.8, 5.8))
    for j, (family, mode, device, dtype) in enumerate(groups):
        part = rows[rows["family"].eq(family) & rows["mode"].eq(mode)]
        part = part[part["device"].eq(device) & part["dtype"].eq(dtype)].sort_values("padding_pct")
        part = part.assign(latency=part["median_s"] * factor)
        for i, (column, label) in enumerate([("latency", f"median ({unit})"), ("tokens_per_s", "real tokens/s")]):
            ax = axes[i][j]
            sns.lineplot(
                part, x="padding_pct", y=column, hue="label", palette=hue, marker="o", ax=ax, legend=i + j == 0
            )
            ax.set_xlabel("padding share of the batch (%)")
            ax.set_ylabel(label)
            ax.set_title(f"{safe(family)} · {mode} · {device} {dtype}", fontsize=9)
    if axes[0][0].get_legend():
        axes[0][0].legend(fontsize=7, title=None)
    place(fig, left=0.9, bottom=0.6, top=0.35, wspace=0.35, hspace=0.55)
    return Figure(
        "lengths",
        "Variable-length batches: cost of padding",
        "Latency (top) and throughput in real tokens (bottom, padding not counted) as the batch's lengths spread: "
        "0% is every sequence at seq_len, more is shorter sequences padded to seq_len (lengths drawn uniformly, "
        "the same for every implementation). Masked loops pay for every padded step; packing and the shrinking "
        "batch drop finished sequences.",
        png(fig),
    )
