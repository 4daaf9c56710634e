"""Plugin for the training tests: nn.RNN whose backward turns one weight gradient's direction by a known amount.

`rnn_tanh.grad_direction_1e-N` adds eps * ||g|| * u to the gradient g of weight_hh_l0, u a fixed unit-norm random
direction, eps = 1e-N: that gradient's norm-wise relative error is eps, every other tensor is exact. Adam divides
each update by the gradient's own running scale, so a constant factor on g would change nothing; a turned
direction does.
"""

from __future__ import annotations

import copy

import torch

from implementations.registry import register

EXPONENTS = range(4, 17)


def _perturbing(eps: float):
    def build(reference, device, dtype):
        model = copy.deepcopy(reference).to(device=device, dtype=dtype)
        weight = model.weight_hh_l0
        generator = torch.Generator().manual_seed(1234)
        direction = torch.randn(weight.shape, generator=generator, dtype=torch.float64)
        direction = (direction / direction.norm()).to(device=device, dtype=dtype)
        weight.register_hook(lambda grad: grad + eps * grad.norm() * direction)
        return model

    build.__doc__ = f"nn.RNN with weight_hh_l0's gradient turned by a relative {eps:.0e}"
    return build


for _exponent in EXPONENTS:
    register(f"rnn_tanh.grad_direction_1e-{_exponent}", "rnn_tanh", max_layers=1, bidirectional=False)(
        _perturbing(10.0**-_exponent)
    )
