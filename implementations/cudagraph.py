"""The premul loop captured into a CUDA graph and replayed: one launch for the whole sequence instead of one per op.

A graph is captured per input signature (shapes, dtype, device, which inputs need gradients, grad mode) on first
use. Without autograd (inference) it is a plain `torch.cuda.graph` capture; with autograd (training) the loop goes
through `torch.cuda.make_graphed_callables`, which captures forward and backward as two graphs. Inputs are copied
into the graph's static buffers and outputs are cloned out of them, so results stay valid after the next replay.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from implementations._module import LoopRNN, State, split_state
from implementations.families import FAMILIES
from implementations.registry import register

WARMUP_ITERATIONS = 3


class _Flat(nn.Module):
    """The loop with tensors only in and out, as graph capture requires; shares the loop's parameters."""

    def __init__(self, loop: LoopRNN) -> None:
        super().__init__()
        self.loop = loop

    def forward(self, x: Tensor, h0: Tensor, *c0: Tensor) -> tuple[Tensor, ...]:
        output, state = self.loop(x, (h0, c0[0]) if c0 else h0)
        return (output, *state) if isinstance(state, tuple) else (output, state)


def _capture_inference(flat: _Flat, inputs: tuple[Tensor, ...]) -> Callable[..., tuple[Tensor, ...]]:
    static_inputs = tuple(t.detach().clone() for t in inputs)
    stream = torch.cuda.Stream(device=inputs[0].device)
    stream.wait_stream(torch.cuda.current_stream(inputs[0].device))
    with torch.cuda.stream(stream), torch.no_grad():
        for _ in range(WARMUP_ITERATIONS):  # warm-up off the capture (cuBLAS workspaces, allocator)
            flat(*static_inputs)
    torch.cuda.current_stream(inputs[0].device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.no_grad(), torch.cuda.graph(graph):
        static_outputs = flat(*static_inputs)

    def replay(*args: Tensor) -> tuple[Tensor, ...]:
        for static, arg in zip(static_inputs, args):
            static.copy_(arg)
        graph.replay()
        return tuple(out.clone() for out in static_outputs)

    return replay


def _capture_training(flat: _Flat, inputs: tuple[Tensor, ...]) -> Callable[..., tuple[Tensor, ...]]:
    samples = tuple(t.detach().clone().requires_grad_(t.requires_grad) for t in inputs)
    return torch.cuda.make_graphed_callables(flat, samples, num_warmup_iters=WARMUP_ITERATIONS)


class CudaGraphLoop(nn.Module):
    def __init__(self, reference: nn.Module, device: str, dtype: torch.dtype) -> None:
        super().__init__()
        if torch.device(device).type != "cuda":
            raise ValueError("cudagraph needs a CUDA device")
        self.loop = LoopRNN(reference, device, dtype, premul=True)
        self._graphs: dict[tuple, Callable[..., tuple[Tensor, ...]]] = {}

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h0, c0 = split_state(state)
        inputs = (x, h0, c0) if isinstance(state, tuple) else (x, h0)
        training = torch.is_grad_enabled() and (
            any(t.requires_grad for t in inputs) or any(p.requires_grad for p in self.parameters())
        )
        signature = (training, *((tuple(t.shape), t.dtype, t.device, t.requires_grad) for t in inputs))
        replay = self._graphs.get(signature)
        if replay is None:
            # a fresh wrapper per graph: make_graphed_callables replaces the forward of the module it is given
            flat = _Flat(self.loop)
            replay = _capture_training(flat, inputs) if training else _capture_inference(flat, inputs)
            self._graphs[signature] = replay
        output, *final = replay(*inputs)
        return output, (tuple(final) if len(final) == 2 else final[0])


for _family in FAMILIES:
    register(
        f"{_family}.cudagraph",
        _family,
        description="premul loop captured into a CUDA graph and replayed (training via make_graphed_callables)",
        devices=("cuda",),
    )(CudaGraphLoop)
