"""Shared by the loop implementations: the reference's weights under its own names, and the layer x direction stack.

Parameters are registered with exactly the reference's names (weight_ih_l0, bias_hh_l1_reverse, ...), so gradients
can be compared name by name with the reference (see `bench.worker.correctness`).
"""

from __future__ import annotations

import types
from collections.abc import Callable

import torch
from torch import Tensor, nn

from implementations._loops import layer
from implementations.families import family_of

State = Tensor | tuple[Tensor, Tensor]
# one layer and direction: (layer_input, h0, c0, layer_index, direction) -> (output, h_n, c_n)
DirectionFn = Callable[[Tensor, Tensor, Tensor, int, int], tuple[Tensor, Tensor, Tensor]]


def suffix(layer_index: int, direction: int) -> str:
    """PyTorch's parameter suffix: _l0, _l0_reverse, _l1, ..."""
    return f"_l{layer_index}" + ("_reverse" if direction else "")


def check_reference(reference: nn.Module) -> None:
    """The loops implement the plain module: biases on, no LSTM projection."""
    if not getattr(reference, "bias", True):
        raise ValueError("references built with bias=False are not supported")
    if getattr(reference, "proj_size", 0):
        raise ValueError("LSTM references with proj_size > 0 are not supported")


def split_state(state: State) -> tuple[Tensor, Tensor]:
    """(h0, c0); for families without a cell state c0 is h0, carried through and ignored."""
    if isinstance(state, tuple):
        return state[0], state[1]
    return state, state


class ReferenceWeights(nn.Module):
    """Copies of a reference module's parameters, same names, on `device` in `dtype`."""

    def __init__(self, reference: nn.Module, device: str | torch.device, dtype: torch.dtype) -> None:
        super().__init__()
        check_reference(reference)
        family = family_of(reference)
        self.family = family.name
        self.cell_state = len(family.state_names) == 2  # (h, c): LSTM
        self.num_layers = reference.num_layers
        self.directions = 2 if reference.bidirectional else 1
        self.hidden_size = reference.hidden_size
        for name, param in reference.named_parameters():
            self.register_parameter(name, nn.Parameter(param.detach().to(device=device, dtype=dtype).clone()))

    def weights(self, layer_index: int, direction: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(w_ih, w_hh, b_ih, b_hh) of one layer and direction."""
        s = suffix(layer_index, direction)
        return (
            getattr(self, "weight_ih" + s),
            getattr(self, "weight_hh" + s),
            getattr(self, "bias_ih" + s),
            getattr(self, "bias_hh" + s),
        )

    def pack(self, output: Tensor, h_n: Tensor, c_n: Tensor) -> tuple[Tensor, State]:
        return output, ((h_n, c_n) if self.cell_state else h_n)

    def stack(self, x: Tensor, h0, c0, run: DirectionFn) -> tuple[Tensor, Tensor, Tensor]:
        """Layers x directions: `run(layer_input, h0, c0, layer_index, direction) -> (output, h_n, c_n)` for each,
        the directions' outputs joined on the feature dimension as the next layer's input. Returns the last
        layer's output and every (layer, direction)'s final states stacked, in PyTorch's order."""
        layer_input = x
        h_n: list[Tensor] = []
        c_n: list[Tensor] = []
        for layer_index in range(self.num_layers):
            outputs = []
            for direction in range(self.directions):
                index = layer_index * self.directions + direction
                out, h, c = run(layer_input, h0[index], c0[index], layer_index, direction)
                outputs.append(out)
                h_n.append(h)
                c_n.append(c)
            layer_input = outputs[0] if self.directions == 1 else torch.cat(outputs, 2)
        return layer_input, torch.stack(h_n), torch.stack(c_n)


LayerFn = Callable[..., tuple[Tensor, Tensor, Tensor]]


class LoopRNN(ReferenceWeights):
    """Runs `layer_fn` (eager, scripted or compiled `_loops.layer`) over layers x directions."""

    def __init__(
        self,
        reference: nn.Module,
        device: str | torch.device,
        dtype: torch.dtype,
        *,
        premul: bool,
        layer_fn: LayerFn = layer,
    ) -> None:
        super().__init__(reference, device, dtype)
        self.premul = premul
        self.layer_fn = layer_fn

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h0, c0 = split_state(state)
        return self.pack(*self.stack(x, h0, c0, self.run_direction))

    def run_direction(self, x: Tensor, h: Tensor, c: Tensor, layer_index: int, direction: int):
        """One layer and direction through `layer_fn`."""
        w_ih, w_hh, b_ih, b_hh = self.weights(layer_index, direction)
        return self.layer_fn(self.family, x, h, c, w_ih, w_hh, b_ih, b_hh, direction == 1, self.premul)


def fresh_function(fn: Callable) -> Callable:
    """A copy of `fn` with its own code object.

    torch.compile keeps its cache, and its recompile limit (8), per code object. Compiling a fresh copy per model
    keeps models from sharing one cache: no silent fallback to eager once several shapes were compiled in one
    process, and no guard checks of other models' entries on every call.
    """
    return types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
