"""A plugin that makes registered implementations slower by a known factor, to test the regression gate.

    RNNBENCH_SLOWDOWN="lstm.native=0.25,gru.*=0.10" rnnbench sweep --plugin bench/experiments/slowdown.py ...

Each matching implementation keeps its key (so its cases keep their case_id and compare against an
unslowed run) but its module does extra CPU work after every forward: a counting loop, sized at the first
call so that a call through the wrapper costs `factor` more than the bare call. A call in inference mode
is one forward, in training mode forward + backward, so in both modes the timed step grows by about
`factor`. The size is measured, not assumed: after warm-up calls, the bare call and the loop are timed
alternately for a first size, then the wrapped call against the bare one, alternately, and the size is
corrected by what is missing (the wrapper's own cost, a loop slower between real calls than alone).
Afterwards the loop slows down with the machine just as the real work does, where a fixed busy-wait in
seconds would not.
"""

from __future__ import annotations

import os
import statistics
import time

import torch

from bench.experiments import added_work
from bench.experiments.added_work import work

ENV = "RNNBENCH_SLOWDOWN"
WARMUP_CALLS = 10  # the first calls of a fresh model are slower (allocator, kernel caches): sizing on them overshoots
CALIBRATION_CALLS = 15
CORRECTIONS = 2  # rounds of timing the wrapped call against the bare one, correcting the size


def parse(text: str) -> dict[str, float]:
    """`glob=factor,glob=factor` -> {glob: factor}."""
    return added_work.parse(text, ENV, "a slowdown factor")


LOOP_PROBE = 2000  # iterations timed to learn the loop's speed


class Slowed(added_work.AddedWork):
    def _size(self, x, state, training: bool) -> int:
        """Iterations of the loop that make a call through this wrapper cost `factor` more than the bare call.

        A first size comes from the loop's speed; then the wrapped call (loop, wrapper and all) is timed against
        the bare one, alternately, and the size corrected by what is still missing or too much: what the
        wrapper itself costs, and a loop that runs slower between real calls than on its own, are measured
        instead of assumed.
        """

        def timed(fn) -> float:
            start = time.perf_counter()
            output = fn(x, state)
            if training:
                output[0].sum().backward()
            if x.device.type == "cuda":
                torch.cuda.synchronize(x.device)
            return time.perf_counter() - start

        def one_probe() -> float:
            start = time.perf_counter()
            work(LOOP_PROBE)
            return time.perf_counter() - start

        for _ in range(WARMUP_CALLS):
            timed(self.module)
        calls, probes = [], []
        for _ in range(CALIBRATION_CALLS):  # alternated, so both see the same load
            calls.append(timed(self.module))
            probes.append(one_probe())
        seconds_per_iteration = statistics.median(probes) / LOOP_PROBE
        call_s = statistics.median(calls)
        self.iterations[training] = round(self.factor * call_s / seconds_per_iteration)
        for _ in range(CORRECTIONS):
            extra = [timed(self) - timed(self.module) for _ in range(CALIBRATION_CALLS)]
            missing_s = self.factor * call_s - statistics.median(extra)
            self.iterations[training] = max(0, self.iterations[training] + round(missing_s / seconds_per_iteration))
        if training:
            self.module.zero_grad(set_to_none=True)
        return self.iterations[training]


def install(factors: dict[str, float]) -> list[str]:
    """Wrap every registered implementation matching a glob; returns the keys wrapped."""
    return added_work.install(factors, Slowed, lambda factor: f"slowed by {factor:.0%}")


install(parse(os.environ.get(ENV, "")))
