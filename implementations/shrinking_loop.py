"""A variable-length batch as cuDNN runs a packed one: sorted by length, finished sequences dropped from the matmul.

The batch is sorted longest first, so at step t the sequences still running are the first n_t rows (n_t is
PackedSequence's `batch_sizes[t]`); the step's h @ W_hh and gate ops run on those rows only and the finished rows
keep their state. Where masking pays for every padded step, this loop's sequential work shrinks with the batch.
The reverse direction walks back from the end: a row joins when t reaches its last real step, starting from h0.
With equal lengths it is the premul loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from implementations._labels import time_step
from implementations._loops import cell
from implementations._module import ReferenceWeights, State, split_state
from implementations.families import FAMILIES
from implementations.registry import register


def shrinking_layer(
    family: str, x: Tensor, h: Tensor, c: Tensor, weights: tuple[Tensor, ...], reverse: bool, sizes: list[int]
) -> tuple[Tensor, Tensor, Tensor]:
    """One layer and direction over a batch sorted longest first; `sizes[t]` rows are real at step t."""
    w_ih, w_hh, b_ih, b_hh = weights
    batch, seq_len = x.size(0), x.size(1)
    projected = torch.matmul(x.transpose(0, 1), w_ih.t()) + b_ih
    outputs: list[Tensor] = [h] * seq_len
    for i in range(seq_len):
        t = seq_len - 1 - i if reverse else i
        n = sizes[t]
        with time_step(i):
            h_new, c_new = cell(family, projected[t, :n], h[:n], c[:n], w_hh, b_hh)
        if n < batch:  # finished (or, in reverse, not yet started) rows keep their state and output zeros
            h, c = torch.cat((h_new, h[n:])), torch.cat((c_new, c[n:]))
            outputs[t] = F.pad(h_new, (0, 0, 0, batch - n))
        else:
            h, c = h_new, c_new
            outputs[t] = h_new
    return torch.stack(outputs, 1), h, c


class ShrinkingLoop(ReferenceWeights):
    def forward(self, x: Tensor, state: State, lengths: Tensor | None = None) -> tuple[Tensor, State]:
        batch, seq_len = x.size(0), x.size(1)
        if lengths is None:
            lengths = torch.full((batch,), seq_len, dtype=torch.int64)
        sorted_lengths, order = torch.sort(lengths, descending=True, stable=True)
        sizes = [int(n) for n in (sorted_lengths.unsqueeze(0) > torch.arange(seq_len).unsqueeze(1)).sum(1)]
        order = order.to(x.device)
        restore = torch.argsort(order)
        h0, c0 = split_state(state)
        h0, c0 = h0.index_select(1, order), c0.index_select(1, order)

        def run_direction(layer_input: Tensor, h: Tensor, c: Tensor, layer_index: int, direction: int):
            weights = self.weights(layer_index, direction)
            return shrinking_layer(self.family, layer_input, h, c, weights, direction == 1, sizes)

        output, h_n, c_n = self.stack(x.index_select(0, order), h0, c0, run_direction)
        return self.pack(output.index_select(0, restore), h_n.index_select(1, restore), c_n.index_select(1, restore))


for _family in FAMILIES:
    register(
        f"{_family}.shrinking_loop",
        _family,
        description="premul loop over a length-sorted batch; finished sequences leave the per-step matmul",
        variable_length=True,
    )(ShrinkingLoop)
