"""What the slowdown (seconds) and extra-work (instructions) plugins share: their `glob=factor` spec, the
counting loop they add after every forward, and wrapping each matching implementation under its own key."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

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
