"""The time-to-target table of a training run, as `rnnbench show` and `rnnbench train` print it."""

from __future__ import annotations

import math

import pandas as pd

from bench.analysis.training import target_table
from bench.render.terminal import color, format_table
from bench.results.vocabulary import MISSING, format_seconds

HEADERS = ["implementation", "final loss", "steps to target", "time to target", "median step", "peak memory",
           "curve vs baseline", "parity"]  # fmt: skip


def _number(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return format(value, fmt)


def _seconds(value) -> str:
    return format_seconds(value)


def _bytes(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{int(value)} B"


def _parity(row, colored: bool) -> str:
    if row.status != "ok":
        return color(str(row.status), "red", colored)
    if row.correct is None or pd.isna(row.correct):
        return MISSING
    if row.key == row.parity_baseline:
        return "baseline"
    return color("ok", "green", colored) if bool(row.correct) else color("INCORRECT", "red", colored)


def training_lines(frame: pd.DataFrame, colored: bool) -> list[str]:
    """Lines of the table, or [] when the run trained nothing."""
    table = target_table(frame)
    if table.empty:
        return []
    first = frame[frame["task"].notna()].iloc[0]
    target = first.get("target_loss")
    rows = [
        [
            r.key,
            _number(r.final_loss, ".4g"),
            _number(r.steps_to_target, ".0f"),
            _seconds(r.seconds_to_target),
            _seconds(r.median_s),
            _bytes(r.peak_mem_bytes),
            _number(r.loss_curve_rel_diff, ".1e"),
            _parity(r, colored),
        ]
        for r in table.itertuples()
    ]
    title = (f"training: {first['task']}, {first['dtype']} on {first['device']}, {_number(first.get('steps'), '.0f')} "
             f"steps, seed {_number(first.get('seed'), '.0f')}, target loss {_number(target, 'g')}")  # fmt: skip
    return [color(title, "bold", colored), format_table(HEADERS, rows, align_right=(1, 2, 3, 4, 5, 6))]
