"""The tutorials' from-scratch loop: explicit weight matrices, x_t @ W_ih and h @ W_hh at every time step."""

from __future__ import annotations

import torch
from torch import nn

from implementations._varlen import MaskedLoopRNN
from implementations.families import FAMILIES
from implementations.registry import register


def build(reference: nn.Module, device: str, dtype: torch.dtype) -> nn.Module:
    return MaskedLoopRNN(reference, device, dtype, premul=False)


for _family in FAMILIES:
    register(
        f"{_family}.scratch_loop",
        _family,
        description="Python loop over time, both matmuls per step, gate equations written out",
        variable_length=True,
    )(build)
