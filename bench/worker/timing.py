"""How a call is timed: torch.utils.benchmark.Timer, with threads set explicitly and adaptive sampling.

Each sample is one block of calls (one call for anything slower than ~50 us), so samples are
independent enough for rank statistics. The Timer synchronizes CUDA around each block.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch.utils import benchmark


def time_first_call(fn: Callable[[], object], synchronize: Callable[[], None]) -> float:
    """Wall time of one call, synchronized: used for the first call, compile and warm-up included."""
    synchronize()
    start = time.perf_counter()
    fn()
    synchronize()
    return time.perf_counter() - start


def sample(
    fn: Callable[[], object],
    *,
    threads: int,
    min_time_s: float,
    budget_s: float,
    target_rel_iqr: float,
    min_samples: int,
    per_call_estimate_s: float,
    label: str = "",
    clock: str = "wall",
) -> tuple[list[float], int]:
    """Per-call times (one per block of calls) and the block size.

    Samples at least `min_samples` blocks' worth of time, then stops once IQR/median is below
    `target_rel_iqr` (torch's adaptive_autorange) or once `budget_s` is spent.
    """
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads, label=label, **clock_option(clock))
    min_run_time = min(budget_s, max(min_time_s, min_samples * expected_block_s(per_call_estimate_s)))
    measurement = timer.adaptive_autorange(threshold=target_rel_iqr, min_run_time=min_run_time, max_run_time=budget_s)
    return [float(t) for t in measurement.times], int(measurement.number_per_run)


def clock_option(clock: str) -> dict:
    """The Timer's clock. "cpu" is the process's CPU time (all its threads): time the scheduler gives to
    other processes is not counted, so a busy neighbour cannot inflate it; with one thread it is the
    call's compute time. The sampling budget is then counted in CPU seconds too (the per-case timeout
    still bounds the wall time). "wall" keeps the Timer's own clock (perf_counter, CUDA synchronized)."""
    return {"timer": time.process_time} if clock == "cpu" else {}


def block_calls(per_call_s: float) -> int:
    """Calls per block: the Timer runs calls in blocks of 10**k, long enough (~10 ms) that its own overhead is
    negligible."""
    return 10 ** max(0, math.ceil(math.log10(0.01 / per_call_s))) if per_call_s > 0 else 1


def expected_block_s(per_call_s: float) -> float:
    return block_calls(per_call_s) * per_call_s if per_call_s > 0 else 0.01


def matmul_peak_flops(device: str, dtype: torch.dtype, threads: int, size: int | None = None) -> float:
    """The machine's practical peak: FLOP/s of a large square matmul on the run's device and dtype."""
    if size is None:
        size = 4096 if device.startswith("cuda") else 1024
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    timer = benchmark.Timer(stmt="torch.mm(a, b)", globals={"a": a, "b": b, "torch": torch}, num_threads=threads)
    measurement = timer.blocked_autorange(min_run_time=0.3)
    return 2.0 * size**3 / measurement.median
