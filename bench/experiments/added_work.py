"""What the slowdown (seconds) and extra-work (instructions) plugins share: their `glob=factor` spec, the
counting loop they add after every forward, and wrapping each matching implementation under its own key."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

import torch
from torch import nn

from implementations import registry


def parse(text: str, env: str, what: str) -> dict[str, float]:
    """`glob=factor,glob=factor` (from the variable `env`) -> {glob: factor}; `what` names a factor in errors."""
    found = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        glob, _, factor = part.partition("=")
        try:
            found[glob.strip()] = float(factor)
        except ValueError:
            raise registry.RegistryError(f"{env}: expected glob=factor, got {part!r}") from None
        if found[glob.strip()] < 0:
            raise registry.RegistryError(f"{env}: {what} cannot be negative ({part!r})")
    return found


def work(iterations: int) -> int:
    """The added work: a plain Python counting loop, whose cost grows with `iterations` and nothing else."""
    total = 0
    for i in range(iterations):
        total += i
    return total


class AddedWork(nn.Module):
    """`module`, then the counting loop, sized by `_size(x, state, training)` at the first call of each grad mode
    (inference and training cost differ) so that a call through the wrapper costs `factor` more."""

    def __init__(self, module: nn.Module, factor: float) -> None:
        super().__init__()
        self.module = module
        self.factor = factor
        self.iterations: dict[bool, int] = {}  # loop iterations per grad mode

    def _size(self, x, state, training: bool) -> int:
        raise NotImplementedError

    def forward(self, x, state):
        training = torch.is_grad_enabled()
        if training not in self.iterations:
            self.iterations[training] = -1  # sizing may call through forward too: no added work meanwhile
            try:
                self.iterations[training] = self._size(x, state, training)
            except BaseException:
                del self.iterations[training]  # unsized: the next call sizes (or fails) again
                raise
        output = self.module(x, state)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)  # the loop runs on the CPU after the GPU's work, not beside it
        if self.iterations[training] > 0:
            work(self.iterations[training])
        return output


def install(
    factors: dict[str, float], wrapper: Callable[[nn.Module, float], nn.Module], note: Callable[[float], str]
) -> list[str]:
    """Wrap every registered implementation matching a glob in `wrapper(module, factor)`, noted as `note(factor)`;
    returns the keys wrapped."""
    wrapped = []
    for impl in registry.all():
        factor = next((f for glob, f in factors.items() if fnmatch.fnmatchcase(impl.key, glob)), None)
        if factor:
            registry.wrap(impl.key, lambda build, f=factor: _wrapping(build, wrapper, f), note(factor))
            wrapped.append(impl.key)
    return wrapped


def _wrapping(build, wrapper, factor: float):
    return lambda reference, device, dtype: wrapper(build(reference, device, dtype), factor)
