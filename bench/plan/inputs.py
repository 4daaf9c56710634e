"""What a case is fed: sequences of one length or of drawn lengths, a whole sequence per call or one step.

The `lengths` axis of a spec holds distributions: `fixed` (every sequence has seq_len steps) or `uniform:F`
(each sequence's length drawn uniformly from [ceil(F * seq_len), seq_len]). The draw is seeded by the case's
shape and distribution only, never by its implementation, so every implementation, and both sides of a
comparison, see the same lengths. Pure: numpy only, importable by the worker and the planner alike.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from bench.errors import UsageError

MODES = ("inference", "training", "streaming")  # streaming: one step per call, state carried (no_grad)
FIXED = "fixed"
DISTRIBUTIONS = ("fixed", "uniform:F (0 < F <= 1)")


def parse_lengths(text: str) -> float:
    """The least fraction of seq_len a sequence can have: 1.0 for `fixed`, F for `uniform:F`. Bad text: UsageError."""
    if not isinstance(text, str):
        raise UsageError(f"lengths must be strings like 'fixed' or 'uniform:0.3', got {text!r}")
    if text == FIXED:
        return 1.0
    name, _, value = text.partition(":")
    if name != "uniform" or not value:
        raise UsageError(f"unknown length distribution {text!r}; known: {', '.join(DISTRIBUTIONS)}")
    try:
        fraction = float(value)
    except ValueError:
        raise UsageError(f"length distribution {text!r}: {value!r} is not a number") from None
    if not 0 < fraction <= 1 or not math.isfinite(fraction):
        raise UsageError(f"length distribution {text!r}: F must be in (0, 1], the shortest fraction of seq_len")
    return fraction


def draw_lengths(dist: str, batch: int, seq_len: int, seed: int = 0) -> list[int]:
    """Each sequence's length, the same for the same distribution, batch, seq_len and seed."""
    fraction = parse_lengths(dist)
    if dist == FIXED:
        return [seq_len] * batch
    shortest = max(1, math.ceil(fraction * seq_len))
    key = zlib.crc32(f"{dist}|b{batch}|t{seq_len}|seed{seed}".encode())
    rng = np.random.default_rng(key)
    return [int(n) for n in rng.integers(shortest, seq_len, size=batch, endpoint=True)]


def input_reason(case, variable_length: bool) -> str | None:
    """Why an implementation cannot be fed the case's inputs, or None. `variable_length`: the implementation
    declares it takes `model(x, state, lengths)`."""
    if case.length_dist != FIXED:
        if case.mode == "streaming":
            return "streaming feeds one step at a time: the lengths axis does not apply (use lengths = 'fixed')"
        if not variable_length:
            return f"{case.key} does not take variable-length batches (no variable_length=True)"
    if case.mode == "streaming" and case.bidirectional:
        return "streaming is unidirectional: a reverse direction needs the whole sequence before its first output"
    return None


def length_label(dist) -> str:
    """The shape label's suffix: nothing for fixed lengths (or a row from before the axis), else " len uniform:F"."""
    return "" if dist in (None, FIXED) or dist != dist else f" len {dist}"
