"""PyTorch's own nn.RNN / nn.LSTM / nn.GRU: cuDNN on CUDA, oneDNN/MKL on CPU."""

from __future__ import annotations

import copy

import torch
from torch import nn

from implementations._varlen import with_lengths
from implementations.families import FAMILIES
from implementations.registry import register


def _clone(reference: nn.Module, device: str, dtype: torch.dtype) -> nn.Module:
    module = copy.deepcopy(reference).to(device=device, dtype=dtype)
    module.flatten_parameters()  # one contiguous weight buffer, or cuDNN compacts the weights at every call
    return with_lengths(module)  # variable-length batches through pack_padded_sequence


class _NoCudnn(nn.Module):
    """Runs the wrapped module with cuDNN disabled, to show what cuDNN buys."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x, state, lengths=None):
        with torch.backends.cudnn.flags(enabled=False):
            return self.module(x, state, lengths)


for _family in FAMILIES:
    register(
        f"{_family}.native",
        _family,
        description=f"nn.{FAMILIES[_family].module_class.__name__} (cuDNN on CUDA, oneDNN/MKL on CPU)",
        variable_length=True,
    )(_clone)
    register(
        f"{_family}.native_nocudnn",
        _family,
        description=f"nn.{FAMILIES[_family].module_class.__name__} with cuDNN disabled",
        devices=("cuda",),
        variable_length=True,
    )(lambda reference, device, dtype: _NoCudnn(_clone(reference, device, dtype)))
