"""torch.compile of the premul loop: the whole forward (unrolled over time, recompiled per shape and seq_len), or
only the per-step cell (compiled once per batch/hidden shape, whatever the seq_len). On CUDA also
mode="reduce-overhead", which replays the compiled code through CUDA graphs.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from implementations._loops import cell, stepwise_layer
from implementations._module import LoopRNN, State, fresh_function
from implementations._varlen import MaskedLoopRNN, step_mask
from implementations.families import FAMILIES
from implementations.registry import register


class WholeLoopCompiled(MaskedLoopRNN):
    """The premul loop's forward, compiled as one graph (fullgraph: a graph break is an error, not a silent split).
    With `lengths`, the masked forward is compiled instead (the mask an input: one graph whatever the lengths)."""

    def __init__(self, reference: nn.Module, device: str, dtype: torch.dtype, mode: str | None = None) -> None:
        super().__init__(reference, device, dtype, premul=True)
        self._compiled = torch.compile(fresh_function(LoopRNN.forward), dynamic=False, fullgraph=True, mode=mode)
        masked = fresh_function(MaskedLoopRNN.masked_forward)
        self._compiled_masked = torch.compile(masked, dynamic=False, fullgraph=True, mode=mode)
        self._graphs = mode == "reduce-overhead"

    def forward(self, x: Tensor, state: State, lengths: Tensor | None = None) -> tuple[Tensor, State]:
        if self._graphs:
            # each call is a new iteration for the CUDA-graph trees: without the mark, a forward that follows a
            # finished backward can be taken for the same iteration and replay over tensors autograd still holds
            torch.compiler.cudagraph_mark_step_begin()
        if lengths is not None:
            return self._compiled_masked(self, x, state, step_mask(lengths, x))
        return self._compiled(self, x, state)


def _cloning(step):
    """CUDA-graph replays write every output into the same buffers, so step t+1 would overwrite the h that step t
    returned (kept in the sequence output): the outputs are copied out of the graph's pool after each step."""

    def run(*args: Tensor) -> tuple[Tensor, Tensor]:
        h, c = step(*args)
        return h.clone(), c.clone()

    return run


class StepCompiled(MaskedLoopRNN):
    """The premul loop in Python; only `cell` (h @ W_hh and the gate equations) is compiled."""

    def __init__(self, reference: nn.Module, device: str, dtype: torch.dtype, mode: str | None = None) -> None:
        step = torch.compile(fresh_function(cell), dynamic=False, fullgraph=True, mode=mode)
        if mode == "reduce-overhead":
            step = _cloning(step)
        layer_fn = functools.partial(stepwise_layer, step)  # with a mask for a padded batch, without for a full one
        super().__init__(reference, device, dtype, premul=True, layer_fn=layer_fn, masked_fn=layer_fn)


for _family in FAMILIES:
    register(
        f"{_family}.compile",
        _family,
        description="torch.compile of the whole premul loop (one graph, recompiled per shape and seq_len)",
        variable_length=True,
    )(WholeLoopCompiled)
    register(
        f"{_family}.compile_step",
        _family,
        description="premul loop in Python calling a torch.compile'd step (compiled once per shape, any seq_len)",
        variable_length=True,
    )(StepCompiled)
    register(
        f"{_family}.compile_reduce_overhead",
        _family,
        description='torch.compile(mode="reduce-overhead") of the whole premul loop (CUDA graphs)',
        devices=("cuda",),
        variable_length=True,
    )(functools.partial(WholeLoopCompiled, mode="reduce-overhead"))
    register(
        f"{_family}.compile_step_reduce_overhead",
        _family,
        description='premul loop calling a torch.compile(mode="reduce-overhead") step (CUDA graphs)',
        devices=("cuda",),
        variable_length=True,
    )(functools.partial(StepCompiled, mode="reduce-overhead"))
