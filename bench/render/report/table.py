"""The page's table of every case: its columns (header, column, formatter) and its cells (the text shown, a raw
sort key and a CSS class), so the template only lays them out."""

from __future__ import annotations

import pandas as pd

from bench.analysis.stats import TOO_FEW_FOR_CI
from bench.render.report.html import (
    fmt_bytes,
    fmt_plain,
    fmt_rate,
    fmt_sci,
    fmt_seconds,
    fmt_speedup,
    sort_value,
    speedup_class,
)
from bench.results.vocabulary import STATUSES

KNOWN_STATUSES = set(STATUSES)

# (header, column, formatter); the formatter turns a raw value into the text shown with its unit
TABLE_COLUMNS = [
    ("status", "status", fmt_plain),
    ("implementation", "key", fmt_plain),
    ("device", "device", fmt_plain),
    ("dtype", "dtype", fmt_plain),
    ("mode", "mode", fmt_plain),
    ("batch", "batch", fmt_plain),
    ("seq_len", "seq_len", fmt_plain),
    ("input", "input_size", fmt_plain),
    ("hidden", "hidden_size", fmt_plain),
    ("layers", "num_layers", fmt_plain),
    ("bidir", "bidirectional", fmt_plain),
    ("lengths", "length_dist", fmt_plain),
    ("median", "median_s", fmt_seconds),
    ("step p99", "step_p99_s", fmt_seconds),  # streaming: the tail beside the median
    ("IQR", "iqr_s", fmt_seconds),
    ("95% CI of median", "interval", fmt_plain),  # "low – high", or why there is none (see interval_text)
    ("samples", "n_samples", fmt_plain),
    ("cache", "cache", fmt_plain),
    ("isolation", "isolation", fmt_plain),
    ("forward", "forward_median_s", fmt_seconds),
    ("backward", "backward_median_s", fmt_seconds),
    ("first call", "first_call_s", fmt_seconds),
    ("peak memory", "peak_mem_bytes", fmt_bytes),
    ("throughput", "tokens_per_s", lambda v: fmt_rate(v, "tok/s")),
    ("achieved", "achieved_flops_per_s", lambda v: fmt_rate(v, "FLOP/s")),
    ("efficiency", "efficiency_pct", lambda v: "—" if pd.isna(v) else f"{v:.1f} %" + (" (above peak)" * (v > 100))),
    ("vs baseline", "speedup", fmt_speedup),
    ("max abs err", "max_abs_err", fmt_sci),
    ("rel err", "rel_err", fmt_sci),
    ("grad rel err", "grad_rel_err", fmt_sci),
    ("correct", "correct", fmt_plain),
    ("error", "error", fmt_plain),
]


def cell_value(row: pd.Series, column: str):
    if column == "interval":
        return interval_text(row)
    value = row.get(column) if column in row.index else None
    return None if value is pd.NA else value


def interval_text(row: pd.Series) -> str | None:
    """The interval of the median as shown: "low – high", "too few samples" where the row has none."""
    low, high = row.get("ci_low_s"), row.get("ci_high_s")
    if pd.notna(low) and pd.notna(high):
        return f"{fmt_seconds(low)} – {fmt_seconds(high)}"
    if row.get("status") == "ok":
        return TOO_FEW_FOR_CI
    return None


def table_rows(df: pd.DataFrame, columns=TABLE_COLUMNS) -> list[list[dict]]:
    """Cells with shown text, a raw sort key and a CSS class; the template only lays them out."""
    rows = []
    for _, row in df.iterrows():
        cells = []
        for _header, column, formatter in columns:
            value = cell_value(row, column)
            key = cell_value(row, "ci_low_s") if column == "interval" else value  # intervals sort by their low end
            cells.append({"text": formatter(value), "sort": sort_value(key), "css": _css(column, value)})
        rows.append(cells)
    return rows


def _css(column: str, value) -> str:
    """The cell's CSS class: a status colour, a speedup shade, a wrong result in red, text or a number."""
    if column == "status":
        return f"st st-{value}" if value in KNOWN_STATUSES else "st st-other"
    if column == "speedup":
        return f"num {speedup_class(value)}"
    if column == "correct":
        return "bad" if value is False or value == False else ""  # noqa: E712 - numpy bools too
    if column == "key":
        return "text"
    if column == "error":
        return "text reason"
    return "num" if column not in ("device", "dtype", "mode") else ""
