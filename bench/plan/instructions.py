"""The instructions clock's rules for a sweep: what it counts, and which cases and settings it refuses.

Counts come from Valgrind's Callgrind, which runs the worker on a simulated CPU (bench/worker/callgrind.py):
one thread at a time, CPU instructions only. So a CUDA case is skipped with its reason (the GPU's work is
not counted), the thread count is one, and one round is enough (counts do not drift between processes the
way times do; see docs/instructions.md).
"""

from __future__ import annotations

from bench.errors import UsageError

CLOCK = "instructions"
CUDA_REASON = "the instructions clock counts CPU instructions only; a CUDA case's work runs on the GPU"
STREAMING_REASON = "the instructions clock counts whole calls; streaming mode times steps one by one"


def skip_reason(clock: str, device: str, mode: str = "inference") -> str | None:
    """Why a case on `device` in `mode` is not measured under `clock`, or None."""
    if clock != CLOCK:
        return None
    if str(device).startswith("cuda"):
        return CUDA_REASON
    return STREAMING_REASON if mode == "streaming" else None


def threads(timing, default: int) -> int:
    """The run's torch threads: the spec's, else one under this clock (Valgrind serializes threads), else `default`."""
    return timing.threads or (1 if timing.clock == CLOCK else default)


def validate(timing, where: str) -> None:
    """Settings the clock cannot honour are bad input."""
    if timing.clock != CLOCK:
        return
    if timing.threads > 1:
        raise UsageError(
            f"{where}: timing.clock = 'instructions' counts with one thread (Valgrind runs threads one at a time), "
            f"got threads = {timing.threads}"
        )
    if timing.rounds > 1:
        raise UsageError(
            f"{where}: timing.clock = 'instructions' needs one round (counts repeat across processes), "
            f"got rounds = {timing.rounds}"
        )


def check_run(executor: str, profile: bool) -> None:
    """A sweep under this clock runs its worker under Valgrind here: not on Ray, and not profiled."""
    if executor != "local" or profile:
        raise UsageError("--clock instructions needs the local executor and no --profile (its worker runs in Valgrind)")
