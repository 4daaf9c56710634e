"""The check a family passes when it is registered: its reference builds, runs and counts FLOPs at a tiny shape.

So a broken plugin family is one line at start-up, naming what failed, rather than a crashed case per shape.
"""

from __future__ import annotations

import math

import torch

BATCH, SEQ_LEN, INPUT_SIZE, HIDDEN_SIZE = 2, 3, 3, 4
ATTRIBUTES = ("input_size", "hidden_size", "num_layers", "bidirectional")


def _fail(family, what: str, exc: BaseException | None = None) -> None:
    from implementations.families import RegistryError

    detail = "" if exc is None else f": {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
    raise RegistryError(f"family {family.name!r}: {what}{detail}")


def _run_reference(family):
    from implementations.families import build_reference

    try:
        reference = build_reference(family, INPUT_SIZE, HIDDEN_SIZE, 1, False)
    except Exception as exc:
        _fail(family, f"reference {getattr(family.reference, '__name__', family.reference)!r} failed to build", exc)
    missing = [a for a in ATTRIBUTES if not hasattr(reference, a)]
    if missing:
        _fail(family, f"the reference module has no attribute {', '.join(missing)}")
    try:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(BATCH, SEQ_LEN, INPUT_SIZE, generator=generator, dtype=torch.float64)
        state = family.new_state(reference, BATCH, torch.float64, generator)
        with torch.no_grad():
            result = reference(x, state)
    except Exception as exc:
        _fail(family, "the reference's forward(x, state) raised", exc)
    return result


def _check_shapes(family, result) -> None:
    expected = f"(output, state) with output ({BATCH}, {SEQ_LEN}, {HIDDEN_SIZE})"
    if not isinstance(result, tuple) or len(result) != 2 or not isinstance(result[0], torch.Tensor):
        _fail(family, f"the reference's forward must return {expected}, got {type(result).__name__}")
    output, state = result
    states = state if isinstance(state, tuple) else (state,)
    if tuple(output.shape) != (BATCH, SEQ_LEN, HIDDEN_SIZE):
        _fail(family, f"the reference's output has shape {tuple(output.shape)}, expected {expected}")
    shapes = [tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__ for s in states]
    if len(states) != len(family.state_names) or any(s != (1, BATCH, HIDDEN_SIZE) for s in shapes):
        _fail(family, f"the reference's final state is {shapes}, expected {len(family.state_names)} tensor(s) "
                      f"({', '.join(family.state_names)}) of shape (1, {BATCH}, {HIDDEN_SIZE})")


def _check_flops(family) -> None:
    try:
        count = family.flops(BATCH, SEQ_LEN, INPUT_SIZE, HIDDEN_SIZE, 1, False)
    except Exception as exc:
        _fail(family, "flops(batch, seq_len, input_size, hidden_size, num_layers, bidirectional) raised", exc)
    if isinstance(count, bool) or not isinstance(count, int | float) or not math.isfinite(count) or count < 0:
        _fail(family, f"flops(...) must return a finite number >= 0, got {count!r}")


def smoke_test(family) -> None:
    with torch.random.fork_rng(devices=[]):
        _check_shapes(family, _run_reference(family))
    _check_flops(family)
