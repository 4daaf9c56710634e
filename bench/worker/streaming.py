"""Streaming mode: the case's sequence fed one time step per call, the state carried from call to call.

This is how speech, control and trading systems run an RNN, and what they care about is the tail of a single
step's latency, which a median over blocks of calls cannot show. So each step is timed on its own: on a CPU by
`time.perf_counter` around the call, on a GPU by a pair of CUDA events around it, waited for before the next step
(a streaming caller needs each step's output before it has the next input). The sequence is replayed until the
stated number of steps is reached, the state starting afresh from h0 at each replay; no_grad throughout.

With `cache = "cold"` the last-level cache (CUDA: L2) is flushed before every step, outside the timed region: the
latency of a step that finds its weights evicted, as after other work on the same core between two inputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

PERCENTILES = {"step_p50_s": 50.0, "step_p90_s": 90.0, "step_p99_s": 99.0, "step_p999_s": 99.9}


@dataclass
class Stream:
    """A model fed x (batch, seq_len, features) one step at a time; `step()` is one call."""

    model: nn.Module
    x: torch.Tensor
    state0: object
    state: object = None
    t: int = 0
    steps: list[torch.Tensor] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.steps = [self.x[:, t : t + 1].detach() for t in range(self.x.size(1))]  # the inputs as they arrive
        self.state = self.state0

    def step(self) -> torch.Tensor:
        """One step; the caller holds no_grad (outside the timed region, so that it costs no step anything)."""
        output, self.state = self.model(self.steps[self.t], self.state)
        self.t += 1
        if self.t == len(self.steps):
            self.t, self.state = 0, self.state0
        return output


def _nothing() -> None:
    return None


def _time_cpu(stream: Stream, count: int, flush: Callable[[], None]) -> list[float]:
    samples = []
    clock = time.perf_counter
    for _ in range(count):
        flush()
        start = clock()
        stream.step()
        samples.append(clock() - start)
    return samples


def _time_cuda(stream: Stream, count: int, device: torch.device, flush: Callable[[], None]) -> list[float]:
    pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(count)]
    torch.cuda.synchronize(device)
    for start, end in pairs:
        flush()  # enqueued before the start event: the step's time starts when the flush has finished
        start.record()
        stream.step()
        end.record()
        end.synchronize()  # the caller waits for each step's output before it feeds the next input
    return [start.elapsed_time(end) / 1e3 for start, end in pairs]


def time_steps(stream: Stream, count: int, flush: Callable[[], None] | None = None) -> list[float]:
    """Seconds of each of `count` steps, after a warm-up pass over the whole sequence; `flush` (the cold cache's
    flusher) runs before each step, untimed."""
    flush = flush or _nothing
    with torch.no_grad():
        for _ in range(len(stream.steps)):
            stream.step()
        stream.t, stream.state = 0, stream.state0
        device = stream.x.device
        if device.type == "cuda":
            return _time_cuda(stream, count, device, flush)
        return _time_cpu(stream, count, flush)


def step_percentiles(samples: list[float]) -> dict[str, float]:
    """The row's tail columns: p50, p90, p99, p99.9 and the slowest step (numpy's linear interpolation)."""
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("no step samples")
    found = {name: float(np.percentile(x, q)) for name, q in PERCENTILES.items()}
    found["step_max_s"] = float(x.max())
    return found


class Stepwise(nn.Module):
    """A model run one step per call over a whole sequence, outputs concatenated: what the correctness check
    compares with the reference, so that a streaming row's `correct` is about the calls that were timed."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, state):
        outputs = []
        for t in range(x.size(1)):
            output, state = self.model(x[:, t : t + 1], state)
            outputs.append(output)
        return torch.cat(outputs, 1), state
