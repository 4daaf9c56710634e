"""How a call is timed: the project's one timing rule, for every device and clock (docs/measurement.md).

1. Calibrate once per case: the fewest calls per block for one block to last at least the device's target
   (`BLOCK_TARGET_S`: 1 ms of the case's clock on CPU, 0.2 ms of GPU time on CUDA), from the per-call time
   of a measured block.
2. Time blocks of that fixed size until at least `min_samples` exist AND either the relative IQR is at most
   `target_rel_iqr` (after `min_time_s`) or `budget_s` of the clock is spent. The budget never stops
   sampling below `min_samples`; only the case's deadline (from its timeout) does, and the row says so.
3. Every sample is the same statistic: a block's time divided by its calls, the mean per call over one
   block of the case's fixed size.

On CUDA a block is timed with CUDA events recorded around it and one synchronize after it, so the
synchronization is not in the sample. With `cache = "cold"` the last-level cache (CUDA: L2) is flushed
before every call and only the calls are timed (per-call events or clock reads), the flushes are not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.analysis.stats import relative_iqr

BLOCK_TARGET_S = {"cpu": 1e-3, "cuda": 2e-4}
CALIBRATION_TRIES = 6


@dataclass(frozen=True)
class Block:
    """One timed block: its calls' time on the case's clock and their elapsed (wall or GPU) time, and what
    the block cost on the clock with its cache flushes (what the budget counts), in seconds."""

    clock_s: float
    elapsed_s: float
    cost_s: float | None = None  # None: clock_s (no flushes)

    @property
    def spent_s(self) -> float:
        return self.clock_s if self.cost_s is None else self.cost_s


BlockTimer = Callable[[int], Block]  # calls -> the block of that many calls, timed


@dataclass(frozen=True)
class StopRule:
    min_samples: int
    min_time_s: float
    budget_s: float
    target_rel_iqr: float
    deadline: float = math.inf  # on `now`'s scale: past it sampling stops, min_samples reached or not


@dataclass(frozen=True)
class Samples:
    per_call_s: list[float]  # one per block: block clock time / calls
    elapsed_per_call_s: list[float]  # the same blocks' elapsed time / calls
    calls: int
    stopped_by: str  # "spread" | "budget" | "deadline"


def time_first_call(fn: Callable[[], object], synchronize: Callable[[], None]) -> float:
    """Wall time of one call, synchronized: used for the first call, compile and warm-up included."""
    synchronize()
    start = time.perf_counter()
    fn()
    synchronize()
    return time.perf_counter() - start


def clock_function(clock: str) -> Callable[[], float]:
    """The CPU-side clock. "cpu" is the process's CPU time, blind to time the scheduler gives to other
    processes; it is only allowed with one intra-op thread (bench.plan.spec), where it is the call's compute
    time. "wall" is perf_counter."""
    return time.process_time if clock == "cpu" else time.perf_counter


def cpu_block_timer(
    fn: Callable[[], object],
    clock: Callable[[], float] = time.perf_counter,
    flush: Callable[[], None] | None = None,
    elapsed: Callable[[], float] = time.perf_counter,
) -> BlockTimer:
    def run(calls: int) -> Block:
        if flush is None:
            c0, w0 = clock(), elapsed()
            for _ in range(calls):
                fn()
            return Block(clock() - c0, elapsed() - w0)
        clock_s = elapsed_s = 0.0
        start = clock()
        for _ in range(calls):
            flush()
            c0, w0 = clock(), elapsed()
            fn()
            clock_s, elapsed_s = clock_s + clock() - c0, elapsed_s + elapsed() - w0
        return Block(clock_s, elapsed_s, clock() - start)

    return run


def cuda_block_timer(fn: Callable[[], object], flush: Callable[[], None] | None = None, event=None) -> BlockTimer:
    """CUDA events around the block (around each call when flushing), one synchronize per block."""
    if event is None:
        import torch

        event = torch.cuda.Event

    def run(calls: int) -> Block:
        pairs = []
        if flush is None:
            pairs.append((event(enable_timing=True), event(enable_timing=True)))
            pairs[0][0].record()
            for _ in range(calls):
                fn()
            pairs[0][1].record()
        else:
            for _ in range(calls):
                flush()
                pairs.append((event(enable_timing=True), event(enable_timing=True)))
                pairs[-1][0].record()
                fn()
                pairs[-1][1].record()
        pairs[-1][1].synchronize()
        seconds = sum(start.elapsed_time(end) for start, end in pairs) / 1e3
        return Block(seconds, seconds, pairs[0][0].elapsed_time(pairs[-1][1]) / 1e3)

    return run


def block_timer(fn: Callable[[], object], device: str, clock: str, cache: str) -> BlockTimer:
    """The block timer for a case's device, clock and cache setting."""
    flush = cache_flusher(device) if cache == "cold" else None
    if device.startswith("cuda"):
        return cuda_block_timer(fn, flush)
    return cpu_block_timer(fn, clock_function(clock), flush)


def block_target_s(device: str) -> float:
    return BLOCK_TARGET_S["cuda" if device.startswith("cuda") else "cpu"]


def calls_for(target_s: float, per_call_s: float) -> int:
    """The fewest calls whose total reaches `target_s` at `per_call_s` each."""
    if not per_call_s > 0:
        return 1
    return max(1, math.ceil(target_s / per_call_s * (1 - 1e-9)))


def calibrate(run_block: BlockTimer, target_s: float, estimate_s: float) -> int:
    """Calls per block, once per case: re-measured until a block of `calls` predicts the same count."""
    calls = calls_for(target_s, estimate_s)
    for _ in range(CALIBRATION_TRIES):
        block = run_block(calls)
        needed = calls_for(target_s, block.clock_s / calls) if block.clock_s > 0 else calls * 10
        if needed == calls:
            break
        calls = needed
    return calls


def stop_reason(samples: list[float], spent_s: float, rule: StopRule, now_s: float) -> str | None:
    if now_s >= rule.deadline:
        return "deadline"
    if len(samples) < rule.min_samples:
        return None
    if spent_s >= rule.budget_s:
        return "budget"
    if spent_s >= rule.min_time_s and relative_iqr(samples) <= rule.target_rel_iqr:
        return "spread"
    return None


def sample_blocks(
    run_block: BlockTimer, calls: int, rule: StopRule, now: Callable[[], float] = time.monotonic
) -> Samples:
    """Blocks of `calls` calls until the stop rule holds (see the module's docstring)."""
    per_call, elapsed, spent = [], [], 0.0
    while True:
        block = run_block(calls)
        per_call.append(block.clock_s / calls)
        elapsed.append(block.elapsed_s / calls)
        spent += block.spent_s
        reason = stop_reason(per_call, spent, rule, now())
        if reason:
            return Samples(per_call, elapsed, calls, reason)


def measure(
    fn: Callable[[], object],
    device: str,
    clock: str,
    cache: str,
    rule: StopRule,
    estimate_s: float,
    calls: int | None = None,
) -> Samples:
    """The whole rule for one callable: calibrate (unless `calls` is given: a later round of the same case
    keeps the first round's block size, so pooled samples stay one statistic), then sample."""
    run_block = block_timer(fn, device, clock, cache)
    if calls is None:
        calls = calibrate(run_block, block_target_s(device), estimate_s)
    return sample_blocks(run_block, calls, rule)


def cache_flusher(device: str) -> Callable[[], None]:
    """Evicts the last-level cache by writing a buffer twice its size (CUDA: 256 MB, as triton's do_bench)."""
    import torch

    if device.startswith("cuda"):
        buffer = torch.empty(256 * 2**20 // 4, dtype=torch.int32, device=device)
    else:
        buffer = torch.empty(2 * last_level_cache_bytes() // 4, dtype=torch.int32)

    def flush() -> None:
        buffer.zero_()

    return flush


def last_level_cache_bytes(default: int = 32 * 2**20) -> int:
    """The largest CPU cache's size from sysfs (Linux); `default` where it cannot be read."""
    from pathlib import Path

    sizes = []
    for path in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = path.read_text().strip().upper()
        units = {"K": 2**10, "M": 2**20, "G": 2**30}
        try:
            sizes.append(int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text))
        except (ValueError, IndexError):
            continue
    return max(sizes, default=default)
