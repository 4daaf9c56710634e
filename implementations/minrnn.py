"""minGRU and minLSTM, five ways: the sequential loop, Heinsen's log-space parallel scan, a chunked scan,
torch.compile of the scan, and torch's prototype associative_scan. Equations in `_minrnn`.

The scan turns seq_len dependent steps into cumsum + logcumsumexp over time (O(log T) depth on a parallel
machine, T x more memory traffic than the state alone); the chunked scan scans within chunks and carries log h
across them, which bounds what inference holds at once and how far the cumulative sums grow (their rounding is
what drifts with seq_len in the plain scan).

torch._higher_order_ops.associative_scan in torch 2.13: combine_mode="generic" runs eagerly on CPU and CUDA, with
autograd, as a Python-level tree of ops (slow, but exact in linear space); combine_mode="pointwise" needs CUDA
(or XPU) tensors and is compiled to one Triton kernel; compiling the generic mode on CPU takes ~30 s per shape.
"""

from __future__ import annotations

import copy
import functools

import torch
from torch import Tensor, nn

from implementations._minrnn import coefficients, log_coefficients, log_scan, skip_padding, stack, zero_padding
from implementations._module import fresh_function
from implementations.registry import register

MIN_FAMILIES = ("mingru", "minlstm")
CHUNK = 64


def _flipped(reverse: bool, x: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """x and its mask in the order the direction reads them."""
    if not reverse:
        return x, mask
    return x.flip(1), None if mask is None else mask.flip(1)


def _output(h: Tensor, reverse: bool, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """(output in time order with padding zeroed, final state) from the states in reading order."""
    final = h[:, -1]
    if reverse:
        h, mask = _flipped(True, h, mask)
    return zero_padding(h, mask), final


def scan_layer(
    kind: str, x: Tensor, w: Tensor, b: Tensor, h0: Tensor, reverse: bool, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """All time steps of one layer and direction at once, in log space."""
    x, mask = _flipped(reverse, x, mask)
    log_a, log_b = skip_padding(*log_coefficients(kind, torch.matmul(x, w.t()) + b), mask, log_space=True)
    h = log_scan(log_a, log_b, torch.log(h0)).exp()
    return _output(h, reverse, mask)


def chunked_layer(
    chunk: int, kind: str, x: Tensor, w: Tensor, b: Tensor, h0: Tensor, reverse: bool, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The scan over chunks of `chunk` steps, log h carried from one chunk to the next."""
    x, mask = _flipped(reverse, x, mask)
    log_h, outputs = torch.log(h0), []
    for start in range(0, x.size(1), chunk):
        part = slice(start, start + chunk)
        coefficients = log_coefficients(kind, torch.matmul(x[:, part], w.t()) + b)
        log_a, log_b = skip_padding(*coefficients, None if mask is None else mask[:, part], log_space=True)
        log_hs = log_scan(log_a, log_b, log_h)
        log_h = log_hs[:, -1]
        outputs.append(log_hs.exp())
    return _output(torch.cat(outputs, 1), reverse, mask)


def _combine(left: tuple[Tensor, Tensor], right: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """(a1, b1) then (a2, b2): h -> a2 (a1 h + b1) + b2."""
    a1, b1 = left
    a2, b2 = right
    return a1 * a2, a2 * b1 + b2


def associative_layer(
    mode: str, kind: str, x: Tensor, w: Tensor, b: Tensor, h0: Tensor, reverse: bool, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The linear-space recurrence through associative_scan; h0 is folded into the first step's b."""
    from torch._higher_order_ops.associative_scan import associative_scan

    x, mask = _flipped(reverse, x, mask)
    a, b_t = skip_padding(*coefficients(kind, torch.matmul(x, w.t()) + b), mask, log_space=False)
    b_t = torch.cat(((a[:, :1] * h0.unsqueeze(1) + b_t[:, :1]), b_t[:, 1:]), 1)
    _, h = associative_scan(_combine, (a, b_t), dim=1, combine_mode=mode)
    return _output(h, reverse, mask)


class MinStack(nn.Module):
    """The reference's parameters under their own names, run layer by layer through `layer_fn`."""

    def __init__(self, reference: nn.Module, device: str, dtype: torch.dtype, layer_fn) -> None:
        super().__init__()
        self.kind, self.num_layers, self.bidirectional = reference.kind, reference.num_layers, reference.bidirectional
        for name, param in reference.named_parameters():
            self.register_parameter(name, nn.Parameter(param.detach().to(device=device, dtype=dtype).clone()))
        self.layer_fn = layer_fn

    def forward(self, x: Tensor, h0: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return stack(self.layer_fn, self, x, h0, lengths)


def build_loop(reference: nn.Module, device: str, dtype: torch.dtype) -> nn.Module:
    return copy.deepcopy(reference).to(device=device, dtype=dtype)


def builder(layer_fn):
    return lambda reference, device, dtype: MinStack(reference, device, dtype, layer_fn)


def build_compiled(reference: nn.Module, device: str, dtype: torch.dtype) -> nn.Module:
    """A fresh copy of `scan_layer` per model, so models do not share torch.compile's cache and its limit."""
    compiled = torch.compile(fresh_function(scan_layer), dynamic=False, fullgraph=True)
    return MinStack(reference, device, dtype, compiled)


VARIANTS = {  # variant -> (builder, description, devices)
    "loop": (build_loop, "the reference's sequential loop over time (gates for all steps in one matmul)", None),
    "scan": (builder(scan_layer), "log-space parallel scan (Heinsen: cumsum + logcumsumexp, one pass)", None),
    "chunked_scan": (
        builder(functools.partial(chunked_layer, CHUNK)),
        f"log-space scan within chunks of {CHUNK} steps, log h carried across chunks (bounded memory)",
        None,
    ),
    "compile_scan": (build_compiled, "torch.compile of the log-space scan (fullgraph, recompiled per shape)", None),
    "associative_scan": (
        builder(functools.partial(associative_layer, "generic")),
        "torch._higher_order_ops.associative_scan, generic mode, eager (prototype)",
        None,
    ),
    "associative_scan_pointwise": (
        builder(functools.partial(associative_layer, "pointwise")),
        "associative_scan, pointwise mode (one Triton kernel; prototype)",
        ("cuda",),
    ),
}

for _family in MIN_FAMILIES:
    for _variant, (_build, _description, _devices) in VARIANTS.items():
        devices = {"devices": _devices} if _devices else {}
        register(f"{_family}.{_variant}", _family, description=_description, variable_length=True, **devices)(_build)
