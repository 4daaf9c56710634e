"""Plain-text tables and colour for the terminal; colour only when the stream is a TTY."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

_CODES = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}


def use_color(stream=None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(os.environ.get("FORCE_COLOR")) or (hasattr(stream, "isatty") and stream.isatty())


def color(text: str, name: str, enabled: bool) -> str:
    return f"\033[{_CODES[name]}m{text}\033[0m" if enabled else text


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], align_right: Sequence[int] = ()) -> str:
    """Columns padded to width; `align_right` lists numeric column indexes."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(_strip_ansi(row[i])) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = []
        for i, cell in enumerate(row):
            pad = widths[i] - len(_strip_ansi(cell))
            parts.append(" " * pad + cell if i in align_right else cell + " " * pad)
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\033\[[0-9;]*m", "", text)


def format_frame(frame, limit: int | None = None) -> str:
    """A DataFrame as format_table draws it: numbers right-aligned, floats to 6 significant digits,
    missing values blank; past `limit` rows, a last line says how many were left out."""
    import pandas as pd

    shown = frame if limit is None else frame.head(limit)
    numeric = [i for i, dtype in enumerate(frame.dtypes) if pd.api.types.is_numeric_dtype(dtype)]

    def cell(value) -> str:
        if value is None or (not isinstance(value, list | tuple | dict) and pd.isna(value) is True):
            return ""
        return f"{value:.6g}" if isinstance(value, float) else str(value)

    rows = [[cell(v) for v in row] for row in shown.itertuples(index=False)]
    text = format_table([str(c) for c in frame.columns], rows, align_right=numeric)
    if len(shown) < len(frame):
        text += f"\n... {len(frame) - len(shown)} more rows"
    return text
