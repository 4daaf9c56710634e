"""The report's figures per device and dtype (latency, throughput, memory, efficiency vs one size; the speedup
heatmap) and across the run (first-call time, training's forward/backward split). How a figure is drawn is in
bench.render.report.figure; streaming and variable-length figures are in input_plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from bench.plan.inputs import MODES
from bench.render.report import data, input_plots
from bench.render.report.figure import (
    Figure,
    hue_of,
    line_grid,
    log_scale,
    place,
    plt,
    png,
    safe,
    slice_text,
    text_in,
    time_scale,
)
from bench.render.report.heatmap import speedup_heatmap

MAX_SETTINGS = 3  # device/dtype combinations drawn; bounds the figure count on huge sweeps


def figures(df: pd.DataFrame, verdict: pd.DataFrame, colors: dict[str, str]) -> list[Figure]:
    """Every figure the data supports; a figure without data is left out rather than drawn empty."""
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.85)
    measured = df[data.usable(df)].copy()
    if measured.empty:
        return []
    measured["label"] = measured["impl"].map(safe)
    hue = hue_of(colors)
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
                speedup_heatmap(verdict[verdict["device"].eq(device) & verdict["dtype"].eq(dtype)], where, tag),
                _throughput(part, hue, where, tag),
                _memory(part, hue, where, tag),
                _efficiency(part, hue, where, tag),
            )
            if f is not None
        ]
    out += [f for f in (_first_call(measured, hue), _training_split(measured, hue)) if f is not None]
    return out + input_plots.figures(measured, hue)


def _latency(part, hue, where, tag):
    fixed = data.reference_slice(part, "seq_len")
    rows = data.select(part, fixed).copy()
    if rows.empty:
        return None
    factor, unit = time_scale(rows["median_s"])
    for column in ("median_s", "ci_low_s", "ci_high_s"):
        rows[column] = pd.to_numeric(rows.get(column), errors="coerce") * factor
    fig = line_grid(
        rows, hue, "seq_len", "median_s", low="ci_low_s", high="ci_high_s",
        xlabel="seq_len (steps)", ylabel=f"median latency ({unit})", log_y=True,
    )  # fmt: skip
    return Figure(
        f"latency-{tag}",
        f"Latency vs sequence length — {where}",
        f"One call (forward; forward + backward in training) at {slice_text(fixed)}. "
        "Error bars: 95% confidence interval of the median from the raw samples. Lower is better.",
        png(fig),
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
    fig = line_grid(
        rows, hue, "batch", "ktokens_per_s", low="low", high="high",
        xlabel="batch (sequences)", ylabel="throughput (k tokens/s)", log_y=True,
    )  # fmt: skip
    return Figure(
        f"throughput-{tag}",
        f"Throughput vs batch size — {where}",
        f"Tokens per second (batch × seq_len / median latency) at {slice_text(fixed)}. Higher is better.",
        png(fig),
    )


def _memory(part, hue, where, tag):
    rows = part[pd.to_numeric(part.get("peak_mem_bytes"), errors="coerce") > 0]
    fixed = data.reference_slice(rows, "seq_len")
    rows = data.select(rows, fixed).copy()
    if rows.empty:
        return None
    rows["peak_mib"] = pd.to_numeric(rows["peak_mem_bytes"]) / 2**20
    fig = line_grid(
        rows, hue, "seq_len", "peak_mib", xlabel="seq_len (steps)", ylabel="peak extra memory (MiB)", log_y=True
    )
    return Figure(
        f"memory-{tag}",
        f"Peak memory vs sequence length — {where}",
        f"Peak memory one call adds above what existed before it, at {slice_text(fixed)}. "
        "Training keeps activations for backward, so it grows with seq_len. Lower is better.",
        png(fig),
    )


def _efficiency(part, hue, where, tag):
    rows = part[part["efficiency_pct"].notna()]
    fixed = data.reference_slice(rows, "hidden_size")
    rows = data.select(rows, fixed)
    if rows.empty:
        return None
    fig = line_grid(
        rows, hue, "hidden_size", "efficiency_pct",
        xlabel="hidden_size (units)", ylabel="% of matmul peak", log_y=False,
    )  # fmt: skip
    return Figure(
        f"efficiency-{tag}",
        f"Efficiency vs hidden size — {where}",
        f"Achieved FLOP/s (analytic count / median latency) as a share of the matmul peak measured at the start "
        f"of the run on the same device and dtype, at {slice_text(fixed)}. Higher is better.",
        png(fig),
    )


def _first_call(measured, hue):
    rows = measured[pd.to_numeric(measured.get("first_call_s"), errors="coerce") > 0].copy()
    if rows.empty:
        return None
    rows["first_call_s"] = pd.to_numeric(rows["first_call_s"])
    rows["key_label"] = rows["key"].map(safe)
    order = rows.groupby("key_label")["first_call_s"].median().sort_values().index.tolist()
    height = min(0.28 * len(order) + 1.2, 12)
    modes = [m for m in MODES if m in set(rows["mode"])]
    fig, axes = plt.subplots(
        1, len(modes), squeeze=False, sharey=True, figsize=(4.6 * len(modes) + text_in(order) + 0.5, height)
    )
    for ax, mode in zip(axes[0], modes):
        part = rows[rows["mode"].eq(mode)]
        sns.stripplot(
            part, x="first_call_s", y="key_label", hue="label", palette=hue, order=order, ax=ax,
            size=4, jitter=0.15, alpha=0.8, legend=False,
        )  # fmt: skip
        medians = part.groupby("key_label")["first_call_s"].median().reindex(order)
        ax.scatter(medians.to_numpy(), range(len(order)), marker="|", s=300, color="black", zorder=5)
        log_scale(ax.xaxis)
        ax.set_title(mode, fontsize=9)
        ax.set_xlabel("first call (s), log scale")
        ax.set_ylabel("")
    place(fig, left=text_in(order) + 0.3, bottom=0.6, top=0.35, wspace=0.06)
    return Figure(
        "first-call",
        "First call: compile and warm-up time",
        "Time of the very first call of each case (tracing, compilation, allocator warm-up included), one dot "
        "per shape; the black bar is the median over shapes. What a short-lived process pays before steady state.",
        png(fig),
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
    factor, unit = time_scale(rows["forward_median_s"] + rows["backward_median_s"])
    families = sorted(rows["family"].unique())
    label_in = text_in(rows["label"]) + 0.3
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
        ax.set_title(safe(family), fontsize=9)
        ax.margins(x=0.25)
    place(fig, left=label_in, bottom=0.6, top=0.35, wspace=(label_in + 0.2) / 4.2)
    return Figure(
        "training-split",
        "Training: forward vs backward",
        f"Forward (solid) and backward (hatched), each timed alone, at {slice_text(fixed)}, "
        f"{fixed['device']} {fixed['dtype']}. The share of backward is printed beside each bar.",
        png(fig),
    )
