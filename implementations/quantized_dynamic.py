"""int8 dynamic quantization in PyTorch: torch.ao.quantization.quantize_dynamic of the reference module.

Weights int8 (per tensor), activations quantized at run time, FBGEMM kernels. torch.ao.quantization is
deprecated in current PyTorch (it warns so, pointing to torchao); it is measured while torch still ships it.
nn.RNN has no dynamically quantized module, so only LSTM and GRU are registered.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from implementations._export import INT8_TOLERANCE, EngineModel, Runner
from implementations._module import check_reference
from implementations.registry import register


def quantize(module: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
        return torch.ao.quantization.quantize_dynamic(module, {nn.LSTM, nn.GRU}, dtype=torch.qint8)


def quantized_runner(flat: nn.Module, inputs: list[torch.Tensor]) -> Runner:
    quantized = quantize(copy.deepcopy(flat))

    def run(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        return list(quantized(*tensors))

    return run


def build(reference: nn.Module, device: str, dtype: torch.dtype) -> nn.Module:
    check_reference(reference)
    return EngineModel(reference, device, dtype, quantized_runner)


for _family in ("lstm", "gru"):
    register(
        f"{_family}.quantized_dynamic",
        _family,
        description="torch.ao.quantization.quantize_dynamic, int8 weights (deprecated in torch, still shipped)",
        devices=("cpu",),
        dtypes=(torch.float32,),
        training=False,
        tolerance=INT8_TOLERANCE,
    )(build)
