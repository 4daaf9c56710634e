"""Plugin for the profiling tests: an eager loop that labels its time steps, and a broken implementation."""

from __future__ import annotations

import torch
from torch import nn

from implementations._labels import time_step
from implementations.registry import register


class LabeledLoop(nn.Module):
    """An Elman RNN stepped in Python through an nn.RNNCell submodule, one label per time step."""

    def __init__(self, reference: nn.Module) -> None:
        super().__init__()
        self.cell = nn.RNNCell(reference.input_size, reference.hidden_size, nonlinearity="tanh")
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self.cell, name).copy_(getattr(reference, f"{name}_l0"))

    def forward(self, x: torch.Tensor, h0: torch.Tensor):
        h = h0[0]
        outputs = []
        for t in range(x.shape[1]):
            with time_step(t):
                h = self.cell(x[:, t], h)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h.unsqueeze(0)


@register("rnn_tanh.test_labeled_loop", "rnn_tanh", max_layers=1, bidirectional=False)
def build_labeled_loop(reference, device, dtype):
    """Python loop over nn.RNNCell with time-step labels"""
    return LabeledLoop(reference).to(device=device, dtype=dtype)


@register("gru.test_broken", "gru")
def build_broken(reference, device, dtype):
    """Fails to build, on purpose"""
    raise RuntimeError("broken on purpose")
