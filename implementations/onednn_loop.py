"""The premul loop with its matmuls through oneDNN instead of MKL: how much of a loop's cost is the GEMM library.

Each weight is reordered once into oneDNN's blocked layout (torch.ops.mkldnn._reorder_linear_weight, the op
inductor uses for frozen CPU linears) and every matmul is `torch.ops.mkldnn._linear_pointwise` on dense
tensors in and out, bias fused; the gate equations are `_loops`' own. Inference only: these ops have no
autograd formula. Compare it with `premul_loop` at the same shape.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from implementations._loops import gru_update, lstm_update, rnn_update
from implementations._module import ReferenceWeights, State, split_state
from implementations.families import FAMILIES
from implementations.registry import register


def _linear(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


class OnednnLoop(ReferenceWeights):
    def __init__(self, reference: nn.Module, device: str, dtype: torch.dtype) -> None:
        super().__init__(reference, device, dtype)
        self._packed: dict[tuple, list] = {}

    def _weights(self, batch: int) -> list:
        """Per layer x direction: (w_ih, w_hh reordered for `batch` rows, b_ih, b_hh); reordered once per batch."""
        if batch not in self._packed:
            reorder = torch.ops.mkldnn._reorder_linear_weight
            packed = []
            for layer_index in range(self.num_layers):
                for direction in range(self.directions):
                    w_ih, w_hh, b_ih, b_hh = (w.detach() for w in self.weights(layer_index, direction))
                    packed.append((w_ih, reorder(w_hh, batch), b_ih, b_hh))
            self._packed[batch] = packed
        return self._packed[batch]

    def _layer(self, x: Tensor, h: Tensor, c: Tensor, weights, reverse: bool) -> tuple[Tensor, Tensor, Tensor]:
        w_ih, w_hh, b_ih, b_hh = weights
        seq_len, batch = x.size(1), x.size(0)
        gru = self.family == "gru"
        bias = b_ih if gru else b_ih + b_hh
        projected = _linear(x.transpose(0, 1).reshape(seq_len * batch, -1), w_ih, bias).view(seq_len, batch, -1)
        zero = torch.zeros_like(b_hh)
        outputs: list[Tensor] = []
        for step in range(seq_len):
            t = seq_len - 1 - step if reverse else step
            gh = _linear(h, w_hh, b_hh if gru else zero)
            if self.family == "lstm":
                h, c = lstm_update(projected[t] + gh, c)
            elif gru:
                h = gru_update(projected[t], gh, h)
            else:
                h = rnn_update(self.family, projected[t] + gh)
            outputs.append(h)
        if reverse:
            outputs = outputs[::-1]
        return torch.stack(outputs, 1), h, c

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h0, c0 = split_state(state)
        packed = self._weights(x.size(0))

        def run_direction(layer_input: Tensor, h: Tensor, c: Tensor, layer_index: int, direction: int):
            return self._layer(layer_input, h, c, packed[layer_index * self.directions + direction], direction == 1)

        return self.pack(*self.stack(x, h0, c0, run_direction))


for _family in FAMILIES:
    register(
        f"{_family}.onednn_loop",
        _family,
        description="premul loop with every matmul through oneDNN (prepacked weights, mkldnn._linear_pointwise)",
        devices=("cpu",),
        dtypes=(torch.float32,),
        training=False,
    )(OnednnLoop)
