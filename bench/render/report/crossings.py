"""The report's crossover table (where another implementation starts to beat the baseline along seq_len) and
numeric drift figure (error against the float64 reference as seq_len grows). Numbers from bench.analysis.crossover.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.render.report.html import fmt_plain, fmt_speedup

ERROR_FLOOR = 1e-17  # an error of exactly 0 (the float64 loop is the reference itself) is drawn at this floor


def _memory(ratio: float) -> str:
    return "—" if pd.isna(ratio) else f"×{ratio:.2f}"


def _crossing(r: dict) -> str:
    """256; "≤ 16 (every seq_len)"; "not up to 1024"."""
    if pd.isna(r["crossover_seq_len"]):
        return f"not up to {r['seq_lens'].split(', ')[-1]}"
    at = int(r["crossover_seq_len"])
    return f"≤ {at} (every seq_len)" if r["verdict"].startswith("wins at every") else str(at)


def rows(table: pd.DataFrame) -> list[dict]:
    """Rows for the page: who beats the baseline from which seq_len, the memory it costs there."""
    out = []
    for r in table.sort_values([*table.columns[:9], "crossover_seq_len"]).to_dict("records"):
        shape = f"b{r['batch']} i{r['input_size']} h{r['hidden_size']}"
        shape += (f" l{r['num_layers']}" if int(r["num_layers"]) != 1 else "") + (" bi" if r["bidirectional"] else "")
        out.append({
            "setting": f"{r['family']} · {r['mode']}",
            "device": f"{r['device']} {r['dtype']}",
            "shape": shape,
            "impl": fmt_plain(r["impl"]),
            "baseline": fmt_plain(r["baseline"]),
            "crossover": _crossing(r),
            "sort": -1 if pd.isna(r["crossover_seq_len"]) else int(r["crossover_seq_len"]),
            "wins": bool(pd.notna(r["crossover_seq_len"])),
            "seq_lens": r["seq_lens"],
            "speedup": fmt_speedup(r["speedup_at_longest"]),
            "memory": _memory(r["memory_ratio"]),
        })  # fmt: skip
    return out


def drift_figure(drift: pd.DataFrame, hue: dict[str, str]):
    """Rows: family; columns: dtype; a line per implementation of its worst forward rel. error over seq_len."""
    if drift.empty:
        return None
    from bench.render.report import figure  # matplotlib only when a report is built

    plt = figure.plt
    families, dtypes = sorted(drift["family"].unique()), sorted(drift["dtype"].unique())
    labels = [k for k in hue if k in set(drift["impl"].map(figure.safe))]
    legend_in = figure.legend_width_in(labels)
    facet_in = figure.facet_width(len(dtypes), 0.8 + legend_in)
    fig, axes = plt.subplots(
        len(families), len(dtypes), squeeze=False, sharex=True,
        figsize=(facet_in * len(dtypes) + 0.8 + legend_in, figure.FACET_HEIGHT_IN * len(families) + 1.0),
    )  # fmt: skip
    for i, family in enumerate(families):
        for j, dtype in enumerate(dtypes):
            ax, panel = axes[i][j], drift[drift["family"].eq(family) & drift["dtype"].eq(dtype)]
            for impl, line in panel.groupby("impl"):
                line = line.sort_values("seq_len")
                values = np.maximum(line["rel_err"].to_numpy(float), ERROR_FLOOR)
                ax.plot(line["seq_len"], values, color=hue.get(figure.safe(impl), "#888888"), marker="o", ms=3.5,
                        lw=1.4, label=figure.safe(impl))  # fmt: skip
            ax.set_yscale("log")
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(figure.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
            ax.set_title(f"{figure.safe(family)} · {dtype}", fontsize=9)
            ax.set_xlabel("seq_len (steps)" if i == len(families) - 1 else "")
            ax.set_ylabel("rel. error vs float64" if j == 0 else "")
    figure.place(fig, right=legend_in, wspace=0.25, hspace=0.45)
    figure.right_legend(fig, hue, labels, legend_in)
    return figure.Figure(
        "drift",
        "Numeric drift: error against the float64 reference as seq_len grows",
        "Each point: the worst norm-wise relative error of output and final state, ||got − ref|| / ||ref||, over "
        "the cases measured at that seq_len (every batch, size and mode), the reference being the family's own "
        f"module run in float64 on CPU with the same weights and inputs. Exact zeros are drawn at {ERROR_FLOOR:g}. "
        "Lower is better; a line that climbs with seq_len accumulates rounding along the sequence.",
        figure.png(fig),
    )
