"""The from-scratch loop with the input projection of all time steps hoisted into one matmul per layer/direction."""

from __future__ import annotations

import torch
from torch import nn

from implementations._varlen import MaskedLoopRNN
from implementations.families import FAMILIES
from implementations.registry import register


def build(reference: nn.Module, device: str, dtype: torch.dtype) -> nn.Module:
    return MaskedLoopRNN(reference, device, dtype, premul=True)


for _family in FAMILIES:
    register(
        f"{_family}.premul_loop",
        _family,
        description="Python loop over time; x @ W_ih for all steps in one matmul, only h @ W_hh per step",
        variable_length=True,
    )(build)
