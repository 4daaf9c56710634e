"""A family from outside rnnbench, in one file: IndRNN (Li et al. 2018), h_t = relu(W x_t + b + u * h_{t-1}).

Registered as a plugin registers any family: its float64 reference, its FLOP count, then implementations of it.
`indrnn.loop` is the reference's own loop, `indrnn.premul` hoists W x out of the loop, and `indrnn.wrong_tanh`
is deliberately wrong (tanh instead of relu), for `verify` to catch.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from implementations.registry import register, register_family


class IndRNN(nn.Module):
    """Layers and directions stack as in nn.RNN: weight_ih_l{k}[_reverse], weight_hh_l{k}[_reverse] (a vector)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, batch_first=True, activation="relu"):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional, self.activation, self.premul = bidirectional, activation, False
        directions = 2 if bidirectional else 1
        bound = 1 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * directions
            for suffix in [f"_l{layer}", f"_l{layer}_reverse"][:directions]:
                for name, shape in (("weight_ih", (hidden_size, width)), ("weight_hh", (hidden_size,)),
                                    ("bias_ih", (hidden_size,))):
                    self.register_parameter(name + suffix, nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))

    def _direction(self, x, h, suffix, reverse):
        w, u, b = (getattr(self, name + suffix) for name in ("weight_ih", "weight_hh", "bias_ih"))
        act = torch.relu if self.activation == "relu" else torch.tanh
        projected = x @ w.t() + b if self.premul else None
        steps = range(x.size(1) - 1, -1, -1) if reverse else range(x.size(1))
        outputs = {}
        for t in steps:
            h = act((projected[:, t] if self.premul else x[:, t] @ w.t() + b) + u * h)
            outputs[t] = h
        return torch.stack([outputs[t] for t in range(x.size(1))], 1), h

    def forward(self, x, h0):
        directions = 2 if self.bidirectional else 1
        h_n = []
        for layer in range(self.num_layers):
            outputs = []
            for d, suffix in enumerate([f"_l{layer}", f"_l{layer}_reverse"][:directions]):
                out, h = self._direction(x, h0[layer * directions + d], suffix, d == 1)
                outputs.append(out)
                h_n.append(h)
            x = torch.cat(outputs, 2)
        return x, torch.stack(h_n)


def indrnn_flops(batch, seq_len, input_size, hidden_size, num_layers, bidirectional):
    """W x per step (the recurrent weight is a vector: element-wise, not counted)."""
    directions = 2 if bidirectional else 1
    widths = [input_size] + [hidden_size * directions] * (num_layers - 1)
    return sum(2 * hidden_size * width * batch * seq_len * directions for width in widths)


register_family("indrnn", IndRNN, state_names=("h",), flops=indrnn_flops, description="IndRNN (test plugin)")


@register("indrnn.loop", "indrnn", description="the reference's loop")
def build_loop(reference, device, dtype):
    return copy.deepcopy(reference).to(device=device, dtype=dtype)


@register("indrnn.premul", "indrnn", description="W x for all steps in one matmul")
def build_premul(reference, device, dtype):
    model = copy.deepcopy(reference).to(device=device, dtype=dtype)
    model.premul = True
    return model


@register("indrnn.wrong_tanh", "indrnn", description="tanh instead of relu: wrong on purpose")
def build_wrong(reference, device, dtype):
    model = copy.deepcopy(reference).to(device=device, dtype=dtype)
    model.activation = "tanh"
    return model
