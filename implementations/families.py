"""The four RNN families rnnbench knows, and how to build the PyTorch reference of each."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Family:
    name: str
    module_class: type[nn.Module]
    gates: int  # matmul blocks per step: 1 rnn, 3 gru, 4 lstm
    nonlinearity: str | None = None  # only for nn.RNN

    @property
    def has_cell_state(self) -> bool:
        return self.name == "lstm"


FAMILIES: dict[str, Family] = {
    "rnn_tanh": Family("rnn_tanh", nn.RNN, 1, "tanh"),
    "rnn_relu": Family("rnn_relu", nn.RNN, 1, "relu"),
    "lstm": Family("lstm", nn.LSTM, 4),
    "gru": Family("gru", nn.GRU, 3),
}


def family_of(reference: nn.Module) -> Family:
    """The family a reference module belongs to (nn.RNN is split by its nonlinearity)."""
    if isinstance(reference, nn.LSTM):
        return FAMILIES["lstm"]
    if isinstance(reference, nn.GRU):
        return FAMILIES["gru"]
    if isinstance(reference, nn.RNN):
        return FAMILIES["rnn_" + reference.nonlinearity]
    raise TypeError(f"not an nn.RNN/nn.LSTM/nn.GRU: {type(reference).__name__}")


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
    """A seeded, batch_first reference module on CPU; weights are PyTorch's default init."""
    fam = FAMILIES[family]
    kwargs: dict = {"batch_first": True, "num_layers": num_layers, "bidirectional": bidirectional}
    if fam.nonlinearity is not None:
        kwargs["nonlinearity"] = fam.nonlinearity
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        module = fam.module_class(input_size, hidden_size, dtype=dtype, **kwargs)
    finally:
        torch.random.set_rng_state(gen_state)
    return module


def make_inputs(
    reference: nn.Module,
    batch: int,
    seq_len: int,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    seed: int = 1,
    requires_grad: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
    """Random x (batch, seq_len, input_size) and h0 (or (h0, c0)) for a reference module."""
    directions = 2 if reference.bidirectional else 1
    state_shape = (reference.num_layers * directions, batch, reference.hidden_size)
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        t = torch.randn(*shape, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)
        return t.requires_grad_(requires_grad)

    x = randn(batch, seq_len, reference.input_size)
    h0 = randn(*state_shape)
    if isinstance(reference, nn.LSTM):
        return x, (h0, randn(*state_shape))
    return x, h0
