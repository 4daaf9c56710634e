"""One persistent Triton kernel per layer and direction for the whole recurrence (implementations/_triton_rnn.py).

Inference only on the kernel: x @ W_ih for all steps in one matmul, then one launch whose programs keep their slice
of W_hh on chip for every step and meet at a grid-wide barrier between steps. With autograd on (training) the
forward is the premul PyTorch loop instead and autograd differentiates that: the kernel has no backward yet.
Needs CUDA and triton (pip install 'rnnbench[gpu]'). `persistent=False` runs the same kernel one step per launch,
the form Triton's interpreter can run on CPU tensors (the tests build it that way).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from implementations._loops import layer as loop_layer
from implementations._module import ReferenceWeights, State, split_state
from implementations.registry import register

FAMILIES = ("lstm", "gru", "rnn_tanh")
CPU_BLOCK_H = 4  # the interpreter has no SMs to fill: a few units per program, so odd sizes span several programs


class TritonPersistentRNN(ReferenceWeights):
    def __init__(self, reference: nn.Module, device: str, dtype: torch.dtype, *, persistent: bool = True) -> None:
        super().__init__(reference, device, dtype)
        from implementations import _triton_rnn  # triton is optional: imported only when a model is built

        self.kernels = _triton_rnn
        self.persistent = persistent
        device = torch.device(device)
        if persistent and device.type != "cuda":
            raise ValueError("the persistent kernel needs a CUDA device (persistent=False runs on the interpreter)")
        programs = torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 0
        hidden = self.hidden_size
        self.block_h = _triton_rnn.block_h_for(hidden, programs) if programs else CPU_BLOCK_H

    def _layer(self, x: Tensor, h0: Tensor, c0: Tensor, layer_index: int, direction: int) -> tuple[Tensor, ...]:
        w_ih, w_hh, b_ih, b_hh = self.weights(layer_index, direction)
        if torch.is_grad_enabled() and (x.requires_grad or w_ih.requires_grad):
            return loop_layer(self.family, x, h0, c0, w_ih, w_hh, b_ih, b_hh, direction == 1, True)
        gx = torch.matmul(x.transpose(0, 1), w_ih.t()) + b_ih  # (T, B, G*H), in the model's dtype
        if direction == 1:
            gx = gx.flip(0)
        hbuf, h_n, c_n = self.kernels.run_layer(
            self.family, gx.to(torch.float32).contiguous(), h0, c0, w_hh, b_hh,
            block_h=self.block_h, persistent=self.persistent,
        )  # fmt: skip
        out = hbuf[1:].flip(0) if direction == 1 else hbuf[1:]
        return out.transpose(0, 1).to(x.dtype), h_n.to(x.dtype), c_n.to(x.dtype)

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h0, c0 = split_state(state)
        return self.pack(*self.stack(x, h0, c0, self._layer))


for _family in FAMILIES:
    register(
        f"{_family}.triton_persistent",
        _family,
        description="x @ W_ih in one matmul, then one persistent Triton kernel for the recurrence, W_hh slices on "
        "chip, grid-wide barrier per step (training: autograd of the premul loop)",
        devices=("cuda",),
        dtypes=(torch.float32, torch.bfloat16, torch.float16),
    )(TritonPersistentRNN)
