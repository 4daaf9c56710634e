"""The recurrence, written once: the per-family cell equations and the loop over time of one layer.

Kept in the TorchScript subset (type hints, no closures, the family passed as a string) so the very same functions
run eagerly, under `torch.jit.script` and under `torch.compile`. The equations follow PyTorch's documented ones:
LSTM gates in the order i, f, g, o; GRU gates r, z, n with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
`chunk(.., -1)` keeps them valid for any leading dimensions, e.g. both directions of a layer batched together.
"""

from __future__ import annotations

import torch
from torch import Tensor

from implementations._labels import time_step


def lstm_update(gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """New (h, c) from the summed pre-activations W_ih x + b_ih + W_hh h + b_hh (order i, f, g, o)."""
    i, f, g, o = gates.chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def gru_update(gi: Tensor, gh: Tensor, h: Tensor) -> Tensor:
    """New h from gi = W_i x + b_i and gh = W_h h + b_h kept apart, because r multiplies only W_hn h + b_hn."""
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = gh.chunk(3, -1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def rnn_update(family: str, pre: Tensor) -> Tensor:
    """Elman RNN: the nonlinearity of the summed pre-activation."""
    if family == "rnn_relu":
        return torch.relu(pre)
    if family == "rnn_tanh":
        return torch.tanh(pre)
    raise ValueError("the generic loops compute rnn_tanh, rnn_relu, lstm and gru only")


def cell(family: str, gi: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor) -> tuple[Tensor, Tensor]:
    """One time step from the input projection gi = W_ih x_t + b_ih. `c` is carried unchanged unless LSTM."""
    gh = torch.mm(h, w_hh.t()) + b_hh
    if family == "lstm":
        return lstm_update(gi + gh, c)
    if family == "gru":
        return gru_update(gi, gh, h), c
    return rnn_update(family, gi + gh), c


def layer(
    family: str,
    x: Tensor,
    h: Tensor,
    c: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
    reverse: bool,
    premul: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """One layer, one direction over x (batch, seq_len, features) -> (output, h_n, c_n).

    premul=False projects x_t inside the loop (the tutorials' form); premul=True hoists the input projection of
    every time step into one matmul before the loop, leaving only the h @ W_hh matmul on the sequential path.
    """
    seq_len = x.size(1)
    # time-major (seq_len, batch, G*H): each step reads a contiguous (batch, G*H) block
    projected = torch.matmul(x.transpose(0, 1), w_ih.t()) + b_ih if premul else x
    outputs: list[Tensor] = []
    for step in range(seq_len):
        t = seq_len - 1 - step if reverse else step
        if premul:
            gi = projected[t]
        else:
            gi = torch.mm(x[:, t], w_ih.t()) + b_ih
        h, c = cell(family, gi, h, c, w_hh, b_hh)
        outputs.append(h)
    if reverse:
        outputs = outputs[::-1]
    return torch.stack(outputs, 1), h, c


def stepwise_layer(
    step,
    family: str,
    x: Tensor,
    h: Tensor,
    c: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
    reverse: bool,
    premul: bool,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """`layer` with premul, calling `step` (a compiled `cell`) per time step; Python only, never scripted. With
    `mask`, `_varlen.masked_layer`'s rule, applied outside `step`: past a sequence's end the state is kept and the
    output is zero."""
    seq_len = x.size(1)
    # time-major, so each step's input has the same strides whatever seq_len: no recompile per sequence length
    projected = torch.matmul(x.transpose(0, 1), w_ih.t()) + b_ih
    outputs: list[Tensor] = []
    for i in range(seq_len):
        t = seq_len - 1 - i if reverse else i
        with time_step(i):  # a named region per step in profiler traces; free otherwise
            if mask is None:
                h, c = step(family, projected[t], h, c, w_hh, b_hh)
            else:
                h_new, c_new = step(family, projected[t], h, c, w_hh, b_hh)
                real = mask[t]
                h = torch.where(real, h_new, h)
                c = torch.where(real, c_new, c)
        outputs.append(h if mask is None else h_new.masked_fill(~real, 0.0))
    if reverse:
        outputs = outputs[::-1]
    return torch.stack(outputs, 1), h, c
