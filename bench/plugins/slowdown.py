"""A plugin that makes registered implementations slower by a known factor, to test the regression gate.

    RNNBENCH_SLOWDOWN="lstm.native=0.25,gru.*=0.10" rnnbench sweep --plugin bench/plugins/slowdown.py ...

Each matching implementation keeps its key (so its cases keep their case_id and compare against an
unslowed run) but its module busy-waits, after every forward, for `factor` times the time of one call
measured at the first call: a call in inference mode is one forward, in training mode forward + backward,
so in both modes the timed step grows by about `factor`. Busy-waiting holds the core the way extra
computation would, and its length does not depend on what the implementation does.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import statistics
import time

import torch
from torch import nn

from implementations import registry

ENV = "RNNBENCH_SLOWDOWN"
CALIBRATION_CALLS = 9


def parse(text: str) -> dict[str, float]:
    """`glob=factor,glob=factor` -> {glob: factor}."""
    found = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        glob, _, factor = part.partition("=")
        try:
            found[glob.strip()] = float(factor)
        except ValueError:
            raise registry.RegistryError(f"{ENV}: expected glob=factor, got {part!r}") from None
        if found[glob.strip()] < 0:
            raise registry.RegistryError(f"{ENV}: a slowdown factor cannot be negative ({part!r})")
    return found


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class Slowed(nn.Module):
    def __init__(self, module: nn.Module, factor: float) -> None:
        super().__init__()
        self.module = module
        self.factor = factor
        self.extra_s: dict[bool, float] = {}  # per grad mode: inference and training cost differ

    def _calibrate(self, x, state, training: bool) -> float:
        def one_call() -> float:
            start = time.perf_counter()
            output = self.module(x, state)
            if training:
                output[0].sum().backward()
            if x.device.type == "cuda":
                torch.cuda.synchronize(x.device)
            return time.perf_counter() - start

        one_call()
        seconds = statistics.median(one_call() for _ in range(CALIBRATION_CALLS))
        if training:
            self.module.zero_grad(set_to_none=True)
        return self.factor * seconds

    def forward(self, x, state):
        training = torch.is_grad_enabled()
        if training not in self.extra_s:
            self.extra_s[training] = self._calibrate(x, state, training)
        output = self.module(x, state)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        _spin(self.extra_s[training])
        return output


def _slowed(build, factor: float):
    return lambda reference, device, dtype: Slowed(build(reference, device, dtype), factor)


def install(factors: dict[str, float]) -> list[str]:
    """Wrap every registered implementation matching a glob; returns the keys wrapped."""
    wrapped = []
    for impl in registry.all():
        factor = next((f for glob, f in factors.items() if fnmatch.fnmatchcase(impl.key, glob)), None)
        if factor:
            # the registry offers no replace; the wrapped entry keeps everything but its builder
            registry._REGISTRY[impl.key] = dataclasses.replace(
                impl, build_fn=_slowed(impl.build_fn, factor), source=f"{impl.source}, slowed by {factor:.0%}"
            )
            wrapped.append(impl.key)
    return wrapped


install(parse(os.environ.get(ENV, "")))
