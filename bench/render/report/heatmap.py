"""The report's speedup heatmap: per mode and family, batch x hidden_size cells coloured by the fastest
correct implementation's speedup over the family's baseline (log2, green where the baseline is beaten)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm

from bench.plan.inputs import MODES
from bench.render.report import data
from bench.render.report.figure import FACET_HEIGHT_IN, Figure, facet_width, place, plt, png, safe, slice_text


def speedup_heatmap(verdict: pd.DataFrame, where: str, tag: str) -> Figure | None:
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
        figsize=(facet_width(len(families), 1.2) * len(families) + 1.2, FACET_HEIGHT_IN * len(modes) + 1.0),
    )  # fmt: skip
    limit = max(float(np.abs(np.log2(rows["speedup"])).max()), 0.25)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    for i, mode in enumerate(modes):
        for j, family in enumerate(families):
            cells = rows[rows["mode"].eq(mode) & rows["family"].eq(family)]
            if (mode, family) not in panels or cells.empty:
                axes[i][j].set_axis_off()
                continue
            _panel(axes[i][j], cells, norm, limit)
            axes[i][j].set_title(f"{safe(family)} · {mode}", fontsize=9)
    place(fig, wspace=0.3, hspace=0.45)
    return Figure(
        f"speedup-{tag}",
        f"Speedup of the fastest implementation over the family's baseline — {where}",
        f"Each cell: the baseline's median latency ({_baselines_text(rows)}) / the fastest correct "
        f"implementation's, named in the cell, at {slice_text(fixed)}. Green: an implementation beats the "
        f"baseline; ×1.00 and the baseline's name: the baseline is fastest.",
        png(fig),
    )


def _panel(ax, cells: pd.DataFrame, norm: TwoSlopeNorm, limit: float) -> None:
    """One mode/family panel: a cell per batch x hidden_size, its speedup and the fastest one's name."""
    grid = cells.pivot_table(index="batch", columns="hidden_size", values="speedup", aggfunc="first")
    names = cells.pivot_table(index="batch", columns="hidden_size", values="fastest", aggfunc="first")
    labels = grid.copy().astype(object)
    for b in grid.index:
        for h in grid.columns:
            value = grid.loc[b, h]
            labels.loc[b, h] = "" if pd.isna(value) else f"×{value:.2f}\n{safe(names.loc[b, h])}"
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
    ax.set_xlabel("hidden_size (units)")
    ax.set_ylabel("batch (sequences)")


def _baselines_text(rows: pd.DataFrame) -> str:
    pairs = rows[["family", "baseline"]].drop_duplicates().sort_values("family") if "baseline" in rows else None
    return ", ".join(f"{f}: {b}" for f, b in pairs.itertuples(index=False)) if pairs is not None else data.BASELINE


def _heatmap_slice(verdict: pd.DataFrame) -> dict:
    """The seq_len/input/layers/direction with the most batch x hidden cells; ties go to larger sizes."""
    fixed = ["seq_len", "input_size", "num_layers", "bidirectional"]
    cells = verdict.groupby(fixed).apply(lambda g: len(g[["batch", "hidden_size"]].drop_duplicates()))
    best = cells.reset_index(name="n").sort_values(["n", *fixed], ascending=False).iloc[0]
    return {c: best[c] for c in fixed}
