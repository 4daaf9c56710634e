"""Families as data: what a family computes (its float64 reference), its state, its FLOPs, how to seed it.

A family is registered once with `register_family` (re-exported by `implementations.registry`, the public
place); the built-in ones are registered at the bottom of this module with the very same call, so nothing else
in rnnbench needs to know a family's name: the harness asks the `Family` object.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType

import torch
from torch import nn

from implementations import _flops
from implementations._minrnn import MinGRU, MinLSTM, positive_state

State = torch.Tensor | tuple[torch.Tensor, ...]
FlopsFn = Callable[[int, int, int, int, int, bool], float]
MakeStateFn = Callable[[nn.Module, int, torch.dtype, torch.Generator], State]
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class RegistryError(ValueError):
    """A plugin or registration problem (a family or an implementation), worded for the person who wrote it."""


@dataclass(frozen=True)
class Family:
    """One recurrence: `reference(input_size, hidden_size, num_layers=, bidirectional=, batch_first=True)` builds it.

    `flops(batch, seq_len, input_size, hidden_size, num_layers, bidirectional)` counts one forward; `tolerances`
    replaces the per-dtype correctness tolerance for the dtypes it names (tighter or looser, said here).
    """

    name: str
    reference: Callable[..., nn.Module] = field(repr=False)
    state_names: tuple[str, ...] = ("h",)
    flops: FlopsFn = field(default=_flops.zero, repr=False)
    make_state: MakeStateFn | None = field(default=None, repr=False)
    baseline: str | None = None
    description: str = ""
    tolerances: Mapping[str, float] = field(default_factory=dict)
    source: str = "builtin"

    @property
    def module_class(self) -> type[nn.Module]:
        """The reference's class (nn.RNN for both Elman families, whose reference binds the nonlinearity)."""
        return getattr(self.reference, "func", self.reference)

    def new_state(self, reference: nn.Module, batch: int, dtype: torch.dtype, generator: torch.Generator) -> State:
        """The initial state: the family's `make_state`, or standard normal per state name (as nn.LSTM's h0, c0)."""
        if self.make_state is not None:
            return self.make_state(reference, batch, dtype, generator)
        shape = state_shape(reference, batch)
        states = tuple(torch.randn(shape, generator=generator, dtype=dtype) for _ in self.state_names)
        return states if len(states) > 1 else states[0]


_FAMILIES: dict[str, Family] = {}
_current_source = "builtin"


@contextmanager
def loading(source: str) -> Iterator[None]:
    """Families and implementations registered inside are attributed to `source` (a plugin file, an entry point)."""
    global _current_source
    previous, _current_source = _current_source, source
    try:
        yield
    finally:
        _current_source = previous


def current_source() -> str:
    return _current_source


def state_shape(reference: nn.Module, batch: int) -> tuple[int, int, int]:
    directions = 2 if reference.bidirectional else 1
    return (reference.num_layers * directions, batch, reference.hidden_size)


def register_family(
    name: str,
    reference: Callable[..., nn.Module],
    *,
    state_names: tuple[str, ...] = ("h",),
    flops: FlopsFn,
    make_state: MakeStateFn | None = None,
    baseline: str | None = None,
    description: str = "",
    tolerances: Mapping[str, float] | None = None,
) -> Family:
    """Register a family; its reference is built and run once at a tiny shape, so a broken one fails here."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise RegistryError(f"family name {name!r} must be lower-case letters, digits and '_'")
    if name in _FAMILIES:
        raise RegistryError(f"family {name!r} from {_current_source} is already registered by {_FAMILIES[name].source}")
    state_names = tuple(state_names)
    if not state_names or not all(isinstance(s, str) and s for s in state_names):
        raise RegistryError(f"family {name!r}: state_names must be a non-empty tuple of names, got {state_names!r}")
    for what, fn in (("reference", reference), ("flops", flops), ("make_state", make_state or callable)):
        if not callable(fn):
            raise RegistryError(f"family {name!r}: {what} must be callable, got {type(fn).__name__}")
    family = Family(
        name, reference, state_names, flops, make_state, baseline, description or "",
        MappingProxyType(dict(tolerances or {})), _current_source,
    )
    from implementations._family_check import smoke_test  # a tiny build + forward + flops call

    smoke_test(family)
    _FAMILIES[name] = family
    return family


def get_family(name: str) -> Family:
    if name not in _FAMILIES:
        raise RegistryError(f"unknown family {name!r}; known: {', '.join(_FAMILIES)}")
    return _FAMILIES[name]


def all_families() -> list[Family]:
    return list(_FAMILIES.values())


def family_of(reference: nn.Module) -> Family:
    """The family a reference module was built for (by `make_reference`; nn.RNN/LSTM/GRU also by type)."""
    name = getattr(reference, "rnnbench_family", None)
    if name is None:
        if isinstance(reference, nn.LSTM):
            name = "lstm"
        elif isinstance(reference, nn.GRU):
            name = "gru"
        elif isinstance(reference, nn.RNN):
            name = "rnn_" + reference.nonlinearity
        else:
            raise TypeError(f"{type(reference).__name__} was not built by make_reference and is no nn.RNN/LSTM/GRU")
    return get_family(name)


def build_reference(family: Family, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool):
    """The family's reference, parameters created in float64 (the same values as nn.LSTM(..., dtype=float64))."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        module = family.reference(
            input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional, batch_first=True
        )
    finally:
        torch.set_default_dtype(default)
    module.rnnbench_family = family.name
    return module


def make_reference(
    family: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    *,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
) -> nn.Module:
    """A seeded, batch_first reference module on CPU; weights are the reference class's own init."""
    fam = get_family(family)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = build_reference(fam, input_size, hidden_size, num_layers, bidirectional)
    return module.to(dtype=dtype)


def make_inputs(
    reference: nn.Module,
    batch: int,
    seq_len: int,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    seed: int = 1,
    requires_grad: bool = False,
) -> tuple[torch.Tensor, State]:
    """Random x (batch, seq_len, input_size) and the family's initial state (a tensor, or a tuple of them)."""
    gen = torch.Generator().manual_seed(seed)

    def place(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=device, dtype=dtype).requires_grad_(requires_grad)

    x = place(torch.randn(batch, seq_len, reference.input_size, generator=gen, dtype=torch.float64))
    state = family_of(reference).new_state(reference, batch, torch.float64, gen)
    return x, (tuple(place(s) for s in state) if isinstance(state, tuple) else place(state))


# The built-in families, registered exactly as a plugin registers its own. The first four are PyTorch's cells,
# computed by every generic loop (CLASSIC); minGRU and minLSTM (Feng et al. 2024) are log-space recurrences.
register_family("rnn_tanh", partial(nn.RNN, nonlinearity="tanh"), flops=partial(_flops.gated, 1),
                description="Elman RNN, tanh (nn.RNN)")
register_family("rnn_relu", partial(nn.RNN, nonlinearity="relu"), flops=partial(_flops.gated, 1),
                description="Elman RNN, relu (nn.RNN)")
register_family("lstm", nn.LSTM, state_names=("h", "c"), flops=partial(_flops.gated, 4), description="nn.LSTM")
register_family("gru", nn.GRU, flops=partial(_flops.gated, 3), description="nn.GRU")
# In bfloat16 the min-RNNs' input gradients are up to ~2x the classic cells' error (2 layers, bidirectional:
# grad x 9e-2 for the sequential loop itself, at verify's shapes), so bfloat16 is checked to 1e-1 for them.
MIN_TOLERANCES = {"bfloat16": 1e-1}
register_family("mingru", MinGRU, flops=partial(_flops.input_only, 2), make_state=positive_state,
                baseline="mingru.loop", tolerances=MIN_TOLERANCES,
                description="minGRU: h = (1-z) h + z g(W_h x), gates from x only")
register_family("minlstm", MinLSTM, flops=partial(_flops.input_only, 3), make_state=positive_state,
                baseline="minlstm.loop", tolerances=MIN_TOLERANCES,
                description="minLSTM: normalized forget/input gates from x only")

CLASSIC = ("rnn_tanh", "rnn_relu", "lstm", "gru")
# The families PyTorch's nn.RNN/LSTM/GRU compute: what the generic loops (scratch, premul, fused, cell, script,
# compile, cudagraph) register for. A variant file loops over these, or names the families it computes.
FAMILIES: Mapping[str, Family] = MappingProxyType({name: _FAMILIES[name] for name in CLASSIC})

