"""SRU (github.com/asappresearch/sru, Lei et al. 2018) as its own family: the package's module is the reference.

The reference is `sru.SRU` in float64 on CPU with autograd on, which is when the package runs its pure-PyTorch
recurrence; `sru.package` is the same module as a user runs it: without autograd on CPU the package calls its
C++ CPU operator (float32 only), on CUDA its fused kernel (compiled on first use; needs nvcc). So the check
compares those kernels with the package's own PyTorch equations. The layout is adapted:
batch-first x, and the state (layers x directions, batch, hidden) like nn.GRU's (the package keeps
(layers, batch, hidden x directions)).
"""

from __future__ import annotations

import copy
import importlib.util
import warnings

import torch
from torch import Tensor, nn

from implementations.registry import register, register_family


class SRUReference(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, batch_first=True):
        super().__init__()
        if not batch_first:
            raise ValueError("SRUReference is batch_first only")
        with warnings.catch_warnings():  # the package warns when it cannot compile its CUDA kernels (no nvcc)
            warnings.simplefilter("ignore")
            import sru

        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional = bidirectional
        self.python_recurrence = True  # the reference: the package's PyTorch path, which it takes under autograd
        self.sru = sru.SRU(input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                           nn_rnn_compatible_return=True)  # fmt: skip

    def forward(self, x: Tensor, c0: Tensor) -> tuple[Tensor, Tensor]:
        directions = 2 if self.bidirectional else 1
        layers, batch, hidden = self.num_layers, c0.size(1), self.hidden_size
        packed = c0.reshape(layers, directions, batch, hidden).permute(0, 2, 1, 3).reshape(layers, batch, -1)
        with warnings.catch_warnings(), torch.set_grad_enabled(torch.is_grad_enabled() or self.python_recurrence):
            warnings.simplefilter("ignore")  # "Running SRU on CPU with grad_enabled=True. Are you sure?"
            output, c_n = self.sru(x.transpose(0, 1), packed)
        return output.transpose(0, 1), c_n


def sru_flops(batch, seq_len, input_size, hidden_size, num_layers, bidirectional):
    """The one projection per layer: 3 blocks of hidden x directions, 4 when the width changes (skip projection)."""
    directions = 2 if bidirectional else 1
    total, width = 0, input_size
    for _ in range(num_layers):
        blocks = 3 if width == hidden_size * directions else 4
        total += 2 * width * blocks * hidden_size * directions * batch * seq_len
        width = hidden_size * directions
    return total


if importlib.util.find_spec("sru") is not None:
    register_family("sru", SRUReference, state_names=("c",), flops=sru_flops, baseline="sru.package",
                    description="SRU (the sru package's module)")  # fmt: skip

    @register("sru.package", "sru", dtypes=(torch.float32,),
              description="sru.SRU as used: its C++ operator on CPU (float32), its fused kernel on CUDA")  # fmt: skip
    def build(reference, device, dtype):
        model = copy.deepcopy(reference).to(device=device, dtype=dtype)
        model.python_recurrence = False
        return model
