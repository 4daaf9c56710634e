"""Profiler labels an implementation can put inside its own loops, free when no profiler is recording.

`torch.autograd.profiler._is_profiler_enabled` is a plain module flag, so the check costs one attribute
read per time step when nothing is being profiled (timed runs); only a recording profiler gets a
`record_function` range, which shows up in TensorBoard, Perfetto and HTA as a named region.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
import torch.autograd.profiler as autograd_profiler
from torch.profiler import record_function

TIME_STEP_PREFIX = "time_step"
_NO_LABEL = nullcontext()


def time_step(t: int) -> AbstractContextManager:
    """`with time_step(t):` around the body of a Python loop over time steps.

    Inside torch.compile'd code it is a no-op (no label, no graph break); profiling warms such code up
    under a recording profiler first, so the guard on the flag costs no recompilation inside a trace.
    """
    if autograd_profiler._is_profiler_enabled and not torch.compiler.is_compiling():
        return record_function(f"{TIME_STEP_PREFIX} {t}")
    return _NO_LABEL
