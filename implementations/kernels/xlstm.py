"""xLSTM's sLSTM (github.com/NX-AI/xlstm, Beck et al. 2024) as its own family: the package's cell is the reference.

The family is the sLSTM recurrence of `xlstm.blocks.slstm.cell.sLSTMCell` with one head (a dense recurrent
matrix, as nn.LSTM's) on a dense input projection: per layer and direction weight_ih (4H, in), weight_hh (4H, H)
and one bias (4H), gates i, f, z, o, exponential input gate, states (h, c, n, m) where h is the package's y and
m its stabilizer. The sLSTMLayer around the cell (causal conv, head-wise gate projections, group norm) is not
part of it. The reference runs the cell's "vanilla" backend (its PyTorch loop) in float64 on CPU; the variants
run the same cell as a user builds it: `slstm.vanilla` in the case's dtype, `slstm.cuda` with backend="cuda"
(its CUDA kernel, compiled on first use; needs nvcc). The weights reach every cell through its own
external-to-internal layout conversion (`_recurrent_kernel_ext2int`, `_bias_ext2int`), via functional_call.
"""

from __future__ import annotations

import copy
import importlib.util
from functools import partial

import torch
from torch import Tensor, nn
from torch.func import functional_call

from implementations import _flops
from implementations._module import suffix
from implementations.kernels import quiet_import
from implementations.registry import register, register_family

GATES = 4
DTYPE_NAMES = {torch.float64: "float64", torch.float32: "float32", torch.bfloat16: "bfloat16",
               torch.float16: "float16"}  # fmt: skip


def make_cell(hidden_size: int, backend: str, dtype: torch.dtype) -> nn.Module:
    cell_module = quiet_import("xlstm.blocks.slstm.cell")
    sLSTMCell, sLSTMCellConfig = cell_module.sLSTMCell, cell_module.sLSTMCellConfig
    config = sLSTMCellConfig(hidden_size=hidden_size, num_heads=1, backend=backend, dtype=DTYPE_NAMES[dtype],
                             dtype_b=DTYPE_NAMES[dtype], output_shape="BSH")  # fmt: skip
    return sLSTMCell(config)


def external_layout(weight_hh: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    """weight_hh (4H out, H in), gate-major, and bias (4H) as the cell's external recurrent kernel
    (heads, in, gates, out) and bias (heads, gates, out)."""
    hidden = weight_hh.size(1)
    kernel = weight_hh.view(GATES, hidden, hidden).permute(2, 0, 1).unsqueeze(0)
    return kernel, bias.view(1, GATES, hidden)


def run_cell(cell: nn.Module, gates: Tensor, state: Tensor, weight_hh: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    """The cell's own forward on pre-activations (batch, time, 4H) and state (4, batch, H), with these weights."""
    kernel, bias_ext = external_layout(weight_hh, bias)
    cell.train(torch.is_grad_enabled())  # the CUDA kernel keeps what its backward needs only in training mode
    params = {"_recurrent_kernel_": cell._recurrent_kernel_ext2int(kernel), "_bias_": cell._bias_ext2int(bias_ext)}
    return functional_call(cell, params, (gates, state))


class SLSTM(nn.Module):
    """Layers x directions of sLSTM cells; forward(x (batch, time, in), (h0, c0, n0, m0)) like nn.LSTM's."""

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, batch_first=True,
                 backend="vanilla"):  # fmt: skip
        super().__init__()
        if not batch_first:
            raise ValueError("SLSTM is batch_first only")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional = bidirectional
        self.directions = 2 if bidirectional else 1
        self.backend = backend
        scale = hidden_size**-0.5  # nn.LSTM's init: uniform(-1/sqrt(H), 1/sqrt(H))
        for layer_index in range(num_layers):
            width = input_size if layer_index == 0 else hidden_size * self.directions
            for direction in range(self.directions):
                s = suffix(layer_index, direction)
                shapes = {"weight_ih": (width,), "weight_hh": (hidden_size,), "bias": ()}
                for name, tail in shapes.items():
                    weight = torch.empty(GATES * hidden_size, *tail).uniform_(-scale, scale)
                    self.register_parameter(name + s, nn.Parameter(weight))
        self._cells: dict[torch.dtype, nn.Module] = {}  # not submodules: the weights are passed in at each call

    def cell(self, dtype: torch.dtype) -> nn.Module:
        if dtype not in self._cells:
            self._cells[dtype] = make_cell(self.hidden_size, self.backend, dtype)
        return self._cells[dtype]

    def forward(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        cell, stacked = self.cell(x.dtype), torch.stack(state, 1)  # (layers x directions, 4, batch, H)
        finals, layer_input = [], x
        for layer_index in range(self.num_layers):
            outputs = []
            for direction in range(self.directions):
                s, index = suffix(layer_index, direction), layer_index * self.directions + direction
                seq = layer_input.flip(1) if direction else layer_input
                gates = torch.matmul(seq, getattr(self, "weight_ih" + s).t())
                out, final = run_cell(cell, gates, stacked[index], getattr(self, "weight_hh" + s),
                                      getattr(self, "bias" + s))  # fmt: skip
                outputs.append(out.flip(1) if direction else out)
                finals.append(final)
            layer_input = outputs[0] if self.directions == 1 else torch.cat(outputs, 2)
        return layer_input, tuple(torch.stack(finals, 1).unbind(0))


def make_state(reference: nn.Module, batch: int, dtype: torch.dtype, generator: torch.Generator):
    """h, c and the stabilizer m standard normal; the normalizer n in [1, 2) (a sum of gates: positive)."""
    shape = (reference.num_layers * (2 if reference.bidirectional else 1), batch, reference.hidden_size)
    h, c, m = (torch.randn(shape, generator=generator, dtype=dtype) for _ in range(3))
    return h, c, 1 + torch.rand(shape, generator=generator, dtype=dtype), m


def _builder(backend: str):
    def build(reference: nn.Module, device: str, dtype: torch.dtype) -> nn.Module:
        model = copy.deepcopy(reference).to(device=device, dtype=dtype)
        model.backend, model._cells = backend, {}
        return model

    return build


if importlib.util.find_spec("xlstm") is not None:
    register_family("slstm", SLSTM, state_names=("h", "c", "n", "m"), flops=partial(_flops.gated, GATES),
                    make_state=make_state, baseline="slstm.vanilla",
                    description="sLSTM (xlstm's sLSTMCell, one head, dense input projection)")  # fmt: skip
    register("slstm.vanilla", "slstm", description="xlstm's sLSTMCell, backend='vanilla' (its PyTorch loop)")(
        _builder("vanilla")
    )
    register("slstm.cuda", "slstm", devices=("cuda",), dtypes=(torch.float32, torch.bfloat16, torch.float16),
             description="xlstm's sLSTMCell, backend='cuda' (its CUDA kernel, compiled on first use)")(
        _builder("cuda")
    )  # fmt: skip
