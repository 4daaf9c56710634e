"""Sweep progress: a tqdm bar with the current case and ETA on a terminal, plain lines in CI logs."""

from __future__ import annotations

import os
import sys

from bench.plan.cases import Case
from bench.results.vocabulary import format_instructions, format_seconds, shape_label


def describe(case: Case) -> str:
    return f"{case.key} {case.device} {case.dtype} {case.mode} {shape_label(case)}"


def outcome(row: dict) -> str:
    status = row.get("status")
    if status != "ok":
        return f"{status}: {row.get('error') or ''}"[:160]
    if row.get("instructions_per_call") is not None:  # a counted case: no time, no spread
        text = f"ok {format_instructions(row['instructions_per_call'])} a call ({row.get('calls_per_sample')} calls x "
        text += f"{len(row.get('instruction_counts') or ())} counts)"
    else:
        median = row.get("median_s") or float("nan")
        spread = row.get("iqr_s") or 0.0
        rounds = int(row.get("rounds") or 1)
        pooled = f", {rounds} rounds pooled" if rounds > 1 else ""
        text = f"ok {format_seconds(median)} (IQR {100 * spread / median:.0f}%, n={row.get('n_samples')}{pooled})"
    return text + ("" if row.get("correct") is not False else "  INCORRECT")


class Progress:
    def __init__(self, mode: str = "auto", stream=None) -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "plain"
        self.mode = mode
        self._bar = None

    def __call__(self, index: int, total: int, case: Case, row: dict | None) -> None:
        if self.mode == "none":
            return
        if self.mode == "bar":
            from tqdm import tqdm

            if self._bar is None or self._bar.total != total:
                self.close()
                self._bar = tqdm(total=total, file=self.stream, unit="case", **bar_size(self.stream))
            if row is None:
                self._bar.set_description_str(describe(case))
            else:
                if row.get("status") != "ok" or row.get("correct") is False:
                    self._bar.write(f"{describe(case)}: {outcome(row)}", file=self.stream)
                self._bar.update(1)
        elif row is not None:
            print(f"[{index}/{total}] {describe(case)}: {outcome(row)}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def bar_size(stream) -> dict:
    """Follow the terminal's size; one that reports none (0 x 0, as some CI pseudo-terminals do) gets
    120 x 40, since tqdm draws nothing in zero rows."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, AttributeError, ValueError):
        size = os.terminal_size((0, 0))
    return {"dynamic_ncols": True} if size.columns > 0 and size.lines > 0 else {"ncols": 120, "nrows": 40}
