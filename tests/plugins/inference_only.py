"""Plugin for the training tests: an implementation registered without training support."""

from __future__ import annotations

import copy

from implementations.registry import register


@register("gru.test_inference_only", "gru", training=False)
def build(reference, device, dtype):
    """nn.GRU declared inference only"""
    return copy.deepcopy(reference).to(device=device, dtype=dtype)
