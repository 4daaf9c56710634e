"""The implementation registry: one decorator registers a builder, for built-ins and plugins alike."""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from implementations import _loading
from implementations import families as _families
from implementations._loading import load_plugin
from implementations.families import Family, RegistryError, all_families, get_family, register_family

__all__ = [
    "Family",
    "Implementation",
    "RegistryError",
    "all",
    "all_families",
    "baseline",
    "get",
    "get_family",
    "match",
    "register",
    "register_family",
    "wrap",
    "load_plugin",
]

DEVICES = ("cpu", "cuda")
FLOAT_DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)

BuildFn = Callable[[nn.Module, str, torch.dtype], nn.Module]


@dataclass(frozen=True)
class Implementation:
    """A registered way of computing an RNN family; `build` copies a reference module's weights."""

    key: str
    family: str
    build_fn: BuildFn = field(repr=False, compare=False)
    description: str = ""
    devices: tuple[str, ...] = DEVICES
    dtypes: tuple[torch.dtype, ...] = FLOAT_DTYPES
    max_layers: int | None = None
    bidirectional: bool = True
    training: bool = True
    variable_length: bool = False  # called as model(x, state, lengths) on padded batches: see _varlen.py
    source: str = "builtin"
    requires: tuple[str, ...] = ()  # importable modules the implementation needs (optional dependencies)
    tolerance: float | None = None  # its own relative-error tolerance (int8), instead of the dtype's
    # why it cannot run on a device type here although it is registered for it (a missing GPU provider), or None
    device_reason: Callable[[str], str | None] | None = field(default=None, repr=False, compare=False)

    @property
    def unavailable_reason(self) -> str | None:
        """Why this implementation cannot run here at all (a missing optional package), or None."""
        missing = [name for name in self.requires if not _importable(name)]
        if missing:
            return f"{self.key} needs {', '.join(missing)}, not installed (pip install 'rnnbench[engines]')"
        return None

    @property
    def unavailable_devices(self) -> dict[str, str]:
        """Registered device types it cannot use here, each with the reason (a missing GPU provider)."""
        if self.device_reason is None or self.unavailable_reason is not None:
            return {}
        reasons = {device: self.device_reason(device) for device in self.devices}
        return {device: why for device, why in reasons.items() if why is not None}

    @property
    def impl(self) -> str:
        return self.key.split(".", 1)[1]

    def unsupported_reason(
        self,
        device: str = "cpu",
        dtype: torch.dtype = torch.float32,
        num_layers: int = 1,
        bidirectional: bool = False,
        mode: str = "inference",
    ) -> str | None:
        """Why this implementation cannot run a case, or None when it can."""
        if self.unavailable_reason is not None:
            return self.unavailable_reason
        device_type = torch.device(device).type
        if device_type not in self.devices:
            return f"{self.key} runs on {', '.join(self.devices)}, not {device_type}"
        if self.device_reason is not None and (why := self.device_reason(device_type)) is not None:
            return why
        if dtype not in self.dtypes:
            return f"{self.key} does not support {str(dtype).removeprefix('torch.')}"
        if self.max_layers is not None and num_layers > self.max_layers:
            return f"{self.key} supports at most {self.max_layers} layer(s)"
        if bidirectional and not self.bidirectional:
            return f"{self.key} is unidirectional only"
        if mode == "training" and not self.training:
            return f"{self.key} is inference only (no backward)"
        return None

    def supports(
        self,
        device: str = "cpu",
        dtype: torch.dtype = torch.float32,
        num_layers: int = 1,
        bidirectional: bool = False,
        mode: str = "inference",
    ) -> bool:
        return self.unsupported_reason(device, dtype, num_layers, bidirectional, mode) is None

    def build(self, reference: nn.Module, device: str = "cpu", dtype: torch.dtype = torch.float32) -> nn.Module:
        """A module computing `reference`'s function with copied weights, on `device` in `dtype`."""
        return self.build_fn(reference, device, dtype)


_REGISTRY: dict[str, Implementation] = {}


def register(
    key: str,
    family: str,
    *,
    description: str | None = None,
    devices: Iterable[str] = DEVICES,
    dtypes: Iterable[torch.dtype] = FLOAT_DTYPES,
    max_layers: int | None = None,
    bidirectional: bool = True,
    training: bool = True,
    requires: Iterable[str] = (),
    tolerance: float | None = None,
    variable_length: bool = False,
    device_reason: Callable[[str], str | None] | None = None,
) -> Callable[[BuildFn], BuildFn]:
    """Register `build(reference, device, dtype) -> nn.Module` under `key` ("family.variant").

    `family` must be registered first (`register_family`); a variant registers only for families it computes.
    `requires` names the optional modules it imports (it is listed, and its cases skipped, without them);
    `tolerance` replaces the dtype's relative-error tolerance in its correctness check (int8 engines);
    `device_reason(device_type)` says why a registered device cannot be used here (None: it can).
    """
    devices = tuple(devices)
    _check_key(key, family, devices)

    def decorator(build_fn: BuildFn) -> BuildFn:
        if key in _REGISTRY:
            raise RegistryError(
                f"duplicate implementation key {key!r} from {_families.current_source()} "
                f"(already registered by {_REGISTRY[key].source})"
            )
        doc = (build_fn.__doc__ or "").strip().splitlines()
        _REGISTRY[key] = Implementation(
            key=key,
            family=family,
            build_fn=build_fn,
            description=description if description is not None else (doc[0] if doc else ""),
            devices=devices,
            dtypes=tuple(dtypes),
            max_layers=max_layers,
            bidirectional=bidirectional,
            training=training,
            variable_length=variable_length,
            source=_families.current_source(),
            requires=tuple(requires),
            tolerance=tolerance,
            device_reason=device_reason,
        )
        return build_fn

    return decorator


def _check_key(key: str, family: str, devices: tuple[str, ...]) -> None:
    """A key names a registered family and a variant ("family.variant"), and only known devices."""
    known = [f.name for f in all_families()]
    if family not in known:
        raise RegistryError(f"unknown family {family!r} for {key!r}; known: {', '.join(known)}")
    if not key.startswith(family + ".") or len(key) <= len(family) + 1:
        raise RegistryError(f"key {key!r} must look like '{family}.<variant>'")
    for device in devices:
        if device not in DEVICES:
            raise RegistryError(f"{key}: unknown device {device!r}; known: {', '.join(DEVICES)}")


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def wrap(key: str, wrapper: Callable[[BuildFn], BuildFn], note: str) -> Implementation:
    """Replace a registered implementation's builder by `wrapper(builder)`, keeping its key and limits.

    For plugins that change an implementation rather than add one (inject a known slowdown, add logging);
    `note` is appended to its source so `rnnbench list` shows what was done to it.
    """
    impl = get(key)
    _REGISTRY[key] = dataclasses.replace(impl, build_fn=wrapper(impl.build_fn), source=f"{impl.source}, {note}")
    return _REGISTRY[key]


def all() -> list[Implementation]:  # noqa: A001 - the public contract names it `all`
    """Every registered implementation (built-ins, entry points, loaded plugins), sorted by key."""
    _loading.load_builtins()
    _loading.load_entry_points()
    return sorted(_REGISTRY.values(), key=lambda impl: impl.key)


def get(key: str) -> Implementation:
    for impl in all():
        if impl.key == key:
            return impl
    raise RegistryError(f"unknown implementation {key!r}; see 'rnnbench list'")


def baseline(family: str) -> str | None:
    """The key speedups in `family` are measured against: the family's own choice when it is registered, else
    "<family>.native" when there is one, else the family's first registered implementation (None: it has none)."""
    all()
    keys = [key for key, impl in _REGISTRY.items() if impl.family == family]
    chosen = get_family(family).baseline
    for candidate in (chosen, f"{family}.native"):
        if candidate in keys:
            return candidate
    return keys[0] if keys else None


def match(patterns: Iterable[str]) -> list[Implementation]:
    """Implementations whose key matches any glob; a pattern matching nothing is an error."""
    impls = all()
    chosen: dict[str, Implementation] = {}
    for pattern in patterns:
        hits = [impl for impl in impls if fnmatch.fnmatchcase(impl.key, pattern)]
        if not hits:
            raise RegistryError(f"no implementation matches {pattern!r}; see 'rnnbench list'")
        chosen.update((impl.key, impl) for impl in hits)
    return sorted(chosen.values(), key=lambda impl: impl.key)
