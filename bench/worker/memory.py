"""Peak extra memory of one call: what the call allocates above what existed before it.

CUDA: the caching allocator's peak counter, reset before the call, baseline subtracted.
CPU: the profiler's allocation events ([memory] events carry the bytes of every allocation and free
from the CPU allocator, in order); their running sum's maximum is the peak. The autograd profiler that
torch.profiler.profile wraps records them alike; the wrapper's first start also imports torch._inductor
(about 1 s of every worker's start), so it is used directly. Exact, unlike process RSS,
which the allocator's caching and the OS's page handling blur.

A call's extra memory misses what an implementation holds between calls: a CUDA graph replays into a private
pool captured once, so its calls allocate nothing new. `allocated_bytes` lets the caller also record what the
case holds resident on the GPU (weights, inputs, gradients, graph pools, workspaces) above the process's
baseline from before the case was built.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch.autograd import profiler


def peak_extra_bytes(fn: Callable[[], object], device: str) -> int:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - baseline)
    with profiler.profile(use_cpu=True, profile_memory=True) as prof:
        fn()
    events = [
        e
        for e in prof.kineto_results.events()
        if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU
    ]
    events.sort(key=lambda e: e.start_ns())
    running = itertools.accumulate((e.nbytes() for e in events), initial=0)
    return int(max(running))


def allocated_bytes(device: str) -> int | None:
    """Bytes the CUDA caching allocator has handed out on `device`; None off CUDA (no such counter)."""
    if not device.startswith("cuda"):
        return None
    torch.cuda.synchronize(device)
    return int(torch.cuda.memory_allocated(device))
