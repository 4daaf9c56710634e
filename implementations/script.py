"""TorchScript (torch.jit.script) of the scratch and premul loops: the same `_loops.layer`, scripted once.

TorchScript is deprecated in current PyTorch; it is kept because it is still how many deployed RNNs run. Its
deprecation warning is silenced here (and in the CLI) so that it does not drown our output.
"""

from __future__ import annotations

import functools
import warnings

import torch
from torch import nn

from implementations._loops import layer
from implementations._varlen import MaskedLoopRNN, masked_layer
from implementations.families import FAMILIES
from implementations.registry import register


@functools.cache
def scripted(fn):
    """torch.jit.script of `fn` (`_loops.layer`, `_varlen.masked_layer`), once per process, its deprecation
    warning silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=r".*TorchScript.*")
        return torch.jit.script(fn)


def build_scratch(reference: nn.Module, device: str, dtype: torch.dtype) -> nn.Module:
    return MaskedLoopRNN(
        reference, device, dtype, premul=False, layer_fn=scripted(layer), masked_fn=scripted(masked_layer)
    )


def build_premul(reference: nn.Module, device: str, dtype: torch.dtype) -> nn.Module:
    return MaskedLoopRNN(
        reference, device, dtype, premul=True, layer_fn=scripted(layer), masked_fn=scripted(masked_layer)
    )


for _family in FAMILIES:
    register(
        f"{_family}.script_scratch",
        _family,
        description="torch.jit.script of the scratch loop (layer function scripted; TorchScript is deprecated)",
        variable_length=True,
    )(build_scratch)
    register(
        f"{_family}.script_premul",
        _family,
        description="torch.jit.script of the premul loop (layer function scripted; TorchScript is deprecated)",
        variable_length=True,
    )(build_premul)
