"""A Python loop over nn.RNNCell / nn.LSTMCell / nn.GRUCell, one cell per layer and direction."""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from implementations._labels import time_step
from implementations._module import State, check_reference, split_state, suffix
from implementations.families import FAMILIES, family_of
from implementations.registry import register

CELLS = {
    "rnn_tanh": functools.partial(nn.RNNCell, nonlinearity="tanh"),
    "rnn_relu": functools.partial(nn.RNNCell, nonlinearity="relu"),
    "lstm": nn.LSTMCell,
    "gru": nn.GRUCell,
}


class CellLoop(nn.Module):
    """Cells hold the reference's weights under their own names; `reference_parameters` maps them back."""

    def __init__(self, reference: nn.Module, device: str, dtype: torch.dtype) -> None:
        super().__init__()
        check_reference(reference)
        family = family_of(reference)
        if family.name not in CELLS:
            raise ValueError(f"cell_loop computes {', '.join(CELLS)}, not {family.name}")
        self.family = family.name
        self.num_layers = reference.num_layers
        self.directions = 2 if reference.bidirectional else 1
        hidden = reference.hidden_size
        self.cells = nn.ModuleList()
        for layer_index in range(self.num_layers):
            input_size = reference.input_size if layer_index == 0 else hidden * self.directions
            for direction in range(self.directions):
                cell = CELLS[family.name](input_size, hidden, device=device, dtype=dtype)
                s = suffix(layer_index, direction)
                with torch.no_grad():
                    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                        getattr(cell, name).copy_(getattr(reference, name + s))
                self.cells.append(cell)

    def reference_parameters(self) -> dict[str, nn.Parameter]:
        """The reference's parameter names -> this module's parameters."""
        mapping = {}
        for index, cell in enumerate(self.cells):
            s = suffix(index // self.directions, index % self.directions)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                mapping[name + s] = getattr(cell, name)
        return mapping

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h0, c0 = split_state(state)
        seq_len = x.size(1)
        layer_input = x
        h_n, c_n = [], []
        for layer_index in range(self.num_layers):
            outputs = []
            for direction in range(self.directions):
                index = layer_index * self.directions + direction
                cell = self.cells[index]
                h, c = h0[index], c0[index]
                steps = []
                for step in range(seq_len):
                    t = seq_len - 1 - step if direction else step
                    with time_step(step):
                        if self.family == "lstm":
                            h, c = cell(layer_input[:, t], (h, c))
                        else:
                            h = cell(layer_input[:, t], h)
                    steps.append(h)
                if direction:
                    steps.reverse()
                outputs.append(torch.stack(steps, 1))
                h_n.append(h)
                c_n.append(c)
            layer_input = torch.cat(outputs, 2)
        h_n_tensor = torch.stack(h_n)
        return layer_input, ((h_n_tensor, torch.stack(c_n)) if self.family == "lstm" else h_n_tensor)


for _family in CELLS:
    register(
        f"{_family}.cell_loop",
        _family,
        description=f"Python loop over nn.{FAMILIES[_family].module_class.__name__}Cell per layer and direction",
    )(CellLoop)
