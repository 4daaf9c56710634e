"""accelerated-scan (github.com/proger/accelerated-scan) as minGRU/minLSTM implementations.

Both families reduce to the linear recurrence h_t = a_t h_{t-1} + b_t, which is what the package solves:
`accelerated_scan.ref.scan` (a Blelloch tree in plain PyTorch: any device, any length), `accelerated_scan.warp`
(a CUDA C++ kernel compiled on first use; needs nvcc) and `accelerated_scan.scalar` (Triton, CUDA). The
package's layout is (batch, channels, time) with h_{-1} = 0, so h0 is folded into the first step's b; the gates
and values are the family's own (implementations._minrnn), computed in linear space.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import partial

import torch
from torch import Tensor

from implementations._minrnn import coefficients
from implementations.minrnn import MIN_FAMILIES, MinStack
from implementations.registry import register

BACKENDS = {  # variant -> (module, devices, what it is)
    "accelerated_scan_ref": ("accelerated_scan.ref", ("cpu", "cuda"), "accelerated-scan's PyTorch reference scan"),
    "accelerated_scan_warp": ("accelerated_scan.warp", ("cuda",), "accelerated-scan's CUDA warp kernel"),
    "accelerated_scan_triton": ("accelerated_scan.scalar", ("cuda",), "accelerated-scan's Triton kernel"),
}


def layer(module_name: str, kind: str, x: Tensor, w: Tensor, b: Tensor, h0: Tensor, reverse: bool):
    scan = importlib.import_module(module_name).scan
    if reverse:
        x = x.flip(1)
    a, b_t = coefficients(kind, torch.matmul(x, w.t()) + b)
    b_t = torch.cat((a[:, :1] * h0.unsqueeze(1) + b_t[:, :1], b_t[:, 1:]), 1)
    seq_len = x.size(1)
    if seq_len == 1:  # the package's tree cannot split a single step: pad with the identity step (a=1, b=0)
        a, b_t = torch.cat((a, torch.ones_like(a)), 1), torch.cat((b_t, torch.zeros_like(b_t)), 1)
    h = scan(a.transpose(1, 2).contiguous(), b_t.transpose(1, 2).contiguous()).transpose(1, 2)[:, :seq_len]
    return (h.flip(1) if reverse else h), h[:, -1]


def _builder(module_name: str):
    def build(reference, device, dtype):
        importlib.import_module(module_name)  # a kernel that cannot load here fails the build, with its reason
        return MinStack(reference, device, dtype, partial(layer, module_name))

    return build


if importlib.util.find_spec("accelerated_scan") is not None:
    for _family in MIN_FAMILIES:
        for _variant, (_module, _devices, _what) in BACKENDS.items():
            register(f"{_family}.{_variant}", _family, devices=_devices,
                     description=f"{_what}, on the family's gates (linear space)")(_builder(_module))  # fmt: skip
