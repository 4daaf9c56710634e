"""The words every stage shares, defined once: statuses, shape labels, baselines and how values are written.

Stages import these instead of spelling them again, so that `show`, the report, `compare` and the progress
lines say the same thing the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

# What became of a case. "ok" was measured; "skipped" was not run, with the reason in `error`; the rest failed.
STATUSES = ("ok", "skipped", "error", "timeout", "oom", "crashed")
# The failed statuses, most alarming first (the order tables list them in).
FAILED_STATUSES = ("crashed", "timeout", "oom", "error")

SHAPE_FIELDS = ("batch", "seq_len", "input_size", "hidden_size", "num_layers", "bidirectional")

# The variant that speedups are measured against, unless a family names another.
BASELINE_VARIANT = "native"

MISSING = "—"


def is_failed(status) -> bool:
    return status in FAILED_STATUSES


def baseline_key(family: str) -> str:
    """The implementation key speedups within `family` are measured against."""
    return f"{family}.{BASELINE_VARIANT}"


def shape_label(shape) -> str:
    """"b32 t128 i64 h256 l1 uni" (+ " len uniform:0.3" when lengths vary): a shape (a mapping, dataclass or row
    with SHAPE_FIELDS) in one form."""
    get = shape.get if isinstance(shape, Mapping) else lambda name: getattr(shape, name, None)
    direction = "bi" if _truthy(get("bidirectional")) else "uni"
    return (
        f"b{_int(get('batch'))} t{_int(get('seq_len'))} i{_int(get('input_size'))} h{_int(get('hidden_size'))}"
        f" l{_int(get('num_layers'))} {direction}"
    ) + length_suffix(get("length_dist"))


def length_suffix(dist) -> str:
    """" len uniform:0.3" for a variable-length case; nothing for fixed lengths (or a row from before the axis)."""
    return "" if missing(dist) or dist == "fixed" else f" len {dist}"


def missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pandas NA
    except (TypeError, ValueError):
        return type(value).__name__ in ("NAType", "NaTType")


def _number(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"


def format_instructions(value) -> str:
    """2.13e6 -> "2.13 M instr"; a missing value -> "—"."""
    if missing(value):
        return MISSING
    value = float(value)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.4g} {unit} instr"
    return f"{value:.4g} instr"


def format_seconds(value) -> str:
    """1.234e-3 -> "1.23 ms"; ns, µs, ms or s; a missing value -> "—"."""
    if missing(value):
        return MISSING
    value = float(value)
    if math.isinf(value):
        return "inf s"
    for factor, unit in ((1e9, "ns"), (1e6, "µs"), (1e3, "ms")):
        if abs(value) * factor < 1000:
            return f"{_number(value * factor)} {unit}"
    return f"{_number(value)} s"


def format_bytes(value) -> str:
    """1536 -> "1.5 KiB"; a missing value -> "—"."""
    if missing(value):
        return MISSING
    value = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{_number(value)} {unit}"
        value /= 1024
    return f"{_number(value)} TiB"


def _int(value) -> int | str:
    try:
        return int(value)
    except (TypeError, ValueError):
        return "?"


def _truthy(value) -> bool:
    return not missing(value) and bool(value)
