"""The report's part for runs under the instructions clock: a table column and a figure of instruction counts.

Counts are never drawn on a time axis: their figure has its own axis, instructions per call.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.analysis.counts import MEASURE, per_repeat
from bench.render.report import data, figure
from bench.results.vocabulary import format_instructions

COLUMN = ("instructions/call", MEASURE, format_instructions)
COUNTED = (
    "This run counted instructions (--clock instructions) instead of timing: the verdict and the time plots, "
    "which rank times, are empty; the counts are in the instructions/call column and the Instructions figure."
)


def counted(df: pd.DataFrame) -> pd.Series:
    """Rows with a count: ok, measured under the instructions clock, not known to be wrong."""
    if MEASURE not in df.columns:
        return pd.Series(False, index=df.index)
    wrong = df["correct"].eq(False).fillna(False).astype(bool)
    return df["status"].eq("ok") & pd.to_numeric(df[MEASURE], errors="coerce").gt(0) & ~wrong


def only_counted(df: pd.DataFrame) -> bool:
    """Whether the run counted and timed nothing."""
    return bool(counted(df).any()) and not bool(data.usable(df).any())


def messages(df: pd.DataFrame, found: list[str]) -> list[str]:
    """The page's messages, where a counted run's "nothing measured" would mislead: what it holds instead."""
    if not only_counted(df):
        return found
    return [COUNTED, *(m for m in found if not m.startswith("No case produced a correct measurement"))]


def table_columns(df: pd.DataFrame, columns: list) -> list:
    """The table's columns, with instructions per call after the shape where the run counted."""
    if not counted(df).any():
        return columns
    at = next(i for i, (_, column, _) in enumerate(columns) if column == "bidirectional") + 1
    return [*columns[:at], COLUMN, *columns[at:]]


def figures(df: pd.DataFrame, colors: dict[str, str]) -> list[figure.Figure]:
    """Instructions per call vs sequence length, one line per implementation, per device and dtype."""
    measured = df[counted(df)].copy()
    if measured.empty:
        return []
    measured[MEASURE] = pd.to_numeric(measured[MEASURE]) / 1e6
    repeats = [per_repeat(row) / 1e6 for _, row in measured.iterrows()]
    measured["low"], measured["high"] = [float(np.min(r)) for r in repeats], [float(np.max(r)) for r in repeats]
    measured["label"] = measured["impl"].map(figure.safe)
    hue = figure.hue_of(colors)
    out = []
    for (device, dtype), part in measured.groupby(["device", "dtype"], sort=True):
        fixed = data.reference_slice(part.assign(median_s=part[MEASURE]), "seq_len")
        rows = data.select(part, fixed)
        fig = figure.line_grid(
            rows, hue, "seq_len", MEASURE, low="low", high="high",
            xlabel="seq_len (steps)", ylabel="instructions per call (millions)", log_y=True,
        )  # fmt: skip
        caption = (
            f"CPU instructions of one call (forward; forward + backward in training), counted under Callgrind, at "
            f"{figure.slice_text(fixed)}. Error bars: the range over the repeats. Lower is better."
        )
        title = f"Instructions vs sequence length — {device} {dtype}"
        out.append(figure.Figure(f"instructions-{device}-{dtype}", title, caption, figure.png(fig)))
    return out
