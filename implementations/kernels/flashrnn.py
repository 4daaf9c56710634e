"""FlashRNN (github.com/NX-AI/flashrnn, Pöppel et al. 2024) as LSTM and GRU implementations, one per backend.

`flashrnn.flashrnn(Wx, R, b, states, function=, backend=)` runs the recurrence on a precomputed input projection
Wx (batch, time, gates, heads, head_dim); the adapter computes W_ih x itself and uses one head (the dense
recurrent matrix of nn.LSTM / nn.GRU). Its layouts, read from the package's pointwise functions:
- LSTM: gates i, f, z, o as nn.LSTM's i, f, g, o; R (gates, heads, out, in) is weight_hh as it is; one bias
  b_ih + b_hh; states (h, c).
- GRU: Wx gates r, z, n as weight_ih's; R gates (n, r, z), weight_hh's blocks reordered; four biases
  (b_hn, b_ir + b_hr, b_iz + b_hz, b_in), so that h' = z h + (1 - z) tanh(W_in x + b_in + r (W_hn h + b_hn)),
  exactly nn.GRU's, b_hn inside r.
Layers and directions are the generic stack's (`_module.LoopRNN`), under the reference's parameter names.
"""

from __future__ import annotations

import importlib.util
from functools import partial

import torch
from torch import Tensor, nn

from implementations._module import LoopRNN
from implementations.kernels import quiet_import
from implementations.registry import register

KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
DTYPE_NAMES = {torch.float64: "float64", torch.float32: "float32", torch.bfloat16: "bfloat16",
               torch.float16: "float16"}  # fmt: skip
# variant -> (backend, families, devices, dtypes, what it is)
BACKENDS = {
    "flashrnn_vanilla": ("vanilla", ("lstm", "gru"), ("cpu", "cuda"), (torch.float64, *KERNEL_DTYPES),
                         "FlashRNN's PyTorch loop (autograd)"),
    "flashrnn_vanilla_fwbw": ("vanilla_fwbw", ("lstm",), ("cpu", "cuda"), KERNEL_DTYPES,
                              "FlashRNN's PyTorch loop with its hand-written backward"),
    "flashrnn_cuda": ("cuda", ("lstm", "gru"), ("cuda",), KERNEL_DTYPES,
                      "FlashRNN's alternating CUDA kernels (cuBLAS matmul + pointwise kernel per step; nvcc)"),
    "flashrnn_cuda_fused": ("cuda_fused", ("lstm",), ("cuda",), KERNEL_DTYPES,
                            "FlashRNN's fused CUDA kernel (one kernel for all time steps; nvcc)"),
    "flashrnn_triton_fused": ("triton_fused", ("lstm",), ("cuda",), KERNEL_DTYPES,
                              "FlashRNN's fused Triton kernel"),
}  # fmt: skip


def pack_lstm(w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> tuple[Tensor, Tensor]:
    """nn.LSTM's (w_hh, b_ih, b_hh) as FlashRNN's R (4, 1, H, H) and b (4, 1, H): same gate order."""
    hidden = w_hh.size(1)
    return w_hh.view(4, 1, hidden, hidden), (b_ih + b_hh).view(4, 1, hidden)


def pack_gru(w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> tuple[Tensor, Tensor]:
    """nn.GRU's (w_hh, b_ih, b_hh) as FlashRNN's R (gates n, r, z) and b (b_hn, b_r, b_z, b_in)."""
    hidden = w_hh.size(1)
    w_r, w_z, w_n = w_hh.chunk(3)
    i_r, i_z, i_n = b_ih.chunk(3)
    h_r, h_z, h_n = b_hh.chunk(3)
    recurrent = torch.cat((w_n, w_r, w_z)).view(3, 1, hidden, hidden)
    return recurrent, torch.cat((h_n, i_r + h_r, i_z + h_z, i_n)).view(4, 1, hidden)


PACK = {"lstm": pack_lstm, "gru": pack_gru}


def layer(backend: str, family: str, x: Tensor, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor,
          b_hh: Tensor, reverse: bool, premul: bool) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """One layer and direction through `flashrnn.flashrnn`: (output, h_n, c_n), as `_loops.layer`."""
    flashrnn = quiet_import("flashrnn").flashrnn
    if reverse:
        x = x.flip(1)
    batch, seq_len, hidden = x.size(0), x.size(1), h.size(-1)
    wx = torch.matmul(x, w_ih.t()).view(batch, seq_len, -1, 1, hidden)
    recurrent, bias = PACK[family](w_hh, b_ih, b_hh)
    states = (torch.stack((h, c)) if family == "lstm" else h.unsqueeze(0)).view(-1, batch, 1, 1, hidden)
    output, last = flashrnn(wx, recurrent, bias, states=states, function=family, backend=backend,
                            dtype=DTYPE_NAMES[x.dtype])  # fmt: skip
    output = output[0, :, :, 0]  # states x batch x time x heads x head_dim: the first state is h
    h_n = last[0, :, 0, 0]
    c_n = last[1, :, 0, 0] if family == "lstm" else c
    return (output.flip(1) if reverse else output), h_n, c_n


def _builder(backend: str):
    def build(reference: nn.Module, device: str, dtype: torch.dtype) -> nn.Module:
        quiet_import("flashrnn")  # a package that cannot load here fails the build, with its reason
        return LoopRNN(reference, device, dtype, premul=True, layer_fn=partial(layer, backend))

    return build


if importlib.util.find_spec("flashrnn") is not None:
    for _variant, (_backend, _families, _devices, _dtypes, _what) in BACKENDS.items():
        for _family in _families:
            _description = f"{_what}; one head, weights mapped from the reference"
            register(f"{_family}.{_variant}", _family, devices=_devices, dtypes=_dtypes, description=_description)(
                _builder(_backend)
            )
