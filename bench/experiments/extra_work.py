"""A plugin that adds work of a known instruction cost to implementations, to test the count gate.

    RNNBENCH_EXTRA_WORK="lstm.native=0.02" rnnbench ci --base HEAD --clock instructions \\
        --new-plugin bench/experiments/extra_work.py

Under the instructions clock only (the worker runs under Callgrind): each matching implementation keeps its
key, but after every forward it runs a counting loop of n iterations, n sized at the first call so that a
call through the wrapper counts `factor` more instructions than the bare call (forward, and backward in
training mode). A Python loop rather than a tensor operation: one torch operator costs tens of thousands of
instructions before it touches an element, more than 1% of a small case. The size is counted, not assumed:
the bare call and the loop at two sizes are counted with Callgrind (a line a + b n), then the wrapped call
against the bare one, and n corrected by what is missing. bench/experiments/slowdown.py is the same idea in
seconds, for the timing gate.
"""

from __future__ import annotations

import os

from bench.experiments import added_work
from bench.experiments.added_work import work
from bench.worker import callgrind

ENV = "RNNBENCH_EXTRA_WORK"
CALLS = 3  # calls per counted block while sizing
PROBES = (100, 2000)  # iterations of the two probes of the loop's cost line


def parse(text: str) -> dict[str, float]:
    """`glob=factor,glob=factor` -> {glob: factor}."""
    return added_work.parse(text, ENV, "an extra-work factor")


class ExtraWork(added_work.AddedWork):
    def _size(self, x, state, training: bool) -> int:
        """Iterations of the loop that make a call through this wrapper count `factor` more than the bare call."""
        if not callgrind.under_callgrind():
            raise RuntimeError(f"{ENV}: the extra-work plugin sizes its work in instructions: --clock instructions")

        def call(fn):
            output = fn(x, state)
            if training:
                output[0].sum().backward()

        def cost(fn) -> float:
            return callgrind.count_block(fn, CALLS) / CALLS

        for _ in range(callgrind.WARMUP_CALLS):  # counted before Python's interpreter settles, both would be off
            call(self.module)
            work(PROBES[0])
        target = self.factor * cost(lambda: call(self.module))
        low, high = (cost(lambda n=n: work(n)) for n in PROBES)
        per_iteration = (high - low) / (PROBES[1] - PROBES[0])
        self.iterations[training] = max(0, round((target - low) / per_iteration + PROBES[0]))
        missing = target - (cost(lambda: call(self)) - cost(lambda: call(self.module)))
        self.iterations[training] = max(0, self.iterations[training] + round(missing / per_iteration))
        if training:
            self.module.zero_grad(set_to_none=True)
        return self.iterations[training]


def install(factors: dict[str, float]) -> list[str]:
    """Wrap every registered implementation matching a glob; returns the keys wrapped."""
    return added_work.install(factors, ExtraWork, lambda factor: f"{factor:.0%} more instructions")


install(parse(os.environ.get(ENV, "")))
