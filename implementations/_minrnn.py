"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"), log-space form: equations and references.

Both gates depend on x_t only, so each step is the linear recurrence h_t = a_t * h_{t-1} + b_t with a_t, b_t > 0:
  g(v)    = v + 0.5 where v >= 0, sigmoid(v) otherwise (positive, so log-space is defined)
  mingru  (rows [z; h~]):    z = sigmoid(a_z),                a_t = 1 - z,        b_t = z * g(a_h)
  minlstm (rows [f; i; h~]): f, i = sigmoid(a_f), sigmoid(a_i), a_t = f / (f + i),  b_t = i / (f + i) * g(a_h)
with [a_z; a_h] = W_ih x_t + b_ih. Layers and directions stack as in nn.GRU: parameters weight_ih_l{k}[_reverse]
and bias_ih_l{k}[_reverse]; layer k+1 reads the concatenated outputs of layer k; h0 > 0 (the log-space scan
takes log h0).

Variable-length batches (the contract in `_varlen`): past a sequence's end a step is the identity, a_t = 1 and
b_t = 0 (log a_t = 0, log b_t = -inf), so the state is kept and the output there is zeroed. Forward, the state
freezes after the last real step; in reverse (time flipped), it stays at h0 until the last real step.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GATES = {"mingru": 2, "minlstm": 3}


def g(v: Tensor) -> Tensor:
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def log_g(v: Tensor) -> Tensor:
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


def coefficients(kind: str, pre: Tensor) -> tuple[Tensor, Tensor]:
    """(a_t, b_t) of h_t = a_t * h_{t-1} + b_t from the pre-activations W_ih x + b_ih (last dim G*H)."""
    if kind == "mingru":
        a_z, a_h = pre.chunk(2, -1)
        z = torch.sigmoid(a_z)
        return 1 - z, z * g(a_h)
    a_f, a_i, a_h = pre.chunk(3, -1)
    f, i = torch.sigmoid(a_f), torch.sigmoid(a_i)
    return f / (f + i), i / (f + i) * g(a_h)


def log_coefficients(kind: str, pre: Tensor) -> tuple[Tensor, Tensor]:
    """(log a_t, log b_t), computed in log space throughout (softplus, no log of a rounded sigmoid)."""
    if kind == "mingru":
        a_z, a_h = pre.chunk(2, -1)
        return -F.softplus(a_z), -F.softplus(-a_z) + log_g(a_h)
    a_f, a_i, a_h = pre.chunk(3, -1)
    diff = F.softplus(-a_f) - F.softplus(-a_i)  # log(i / f)
    return -F.softplus(diff), -F.softplus(-diff) + log_g(a_h)


def log_scan(log_a: Tensor, log_b: Tensor, log_h0: Tensor) -> Tensor:
    """Heinsen's parallel scan: log h_t for all t in one pass, log_a/log_b (batch, seq_len, H), log_h0 (batch, H).

    log h_t = A_t + logsumexp_{k<=t}(log b_k - A_k), A_t = sum_{j<=t} log a_j, with b_0 = h0 and A_0 = 0.
    """
    a_star = F.pad(torch.cumsum(log_a, 1), (0, 0, 1, 0))
    values = torch.cat((log_h0.unsqueeze(1), log_b), 1)
    return (a_star + torch.logcumsumexp(values - a_star, 1))[:, 1:]


def step_mask(lengths: Tensor, x: Tensor) -> Tensor:
    """(batch, seq_len, 1) bool on x's device: True at each sequence's real steps."""
    steps = torch.arange(x.size(1)).unsqueeze(0)
    return (steps < lengths.unsqueeze(1)).unsqueeze(-1).to(x.device)


def skip_padding(a: Tensor, b: Tensor, mask: Tensor | None, log_space: bool) -> tuple[Tensor, Tensor]:
    """(a_t, b_t) with padded steps made the identity: a = 1, b = 0 (in log space: 0 and -inf)."""
    if mask is None:
        return a, b
    identity, nothing = (0.0, -math.inf) if log_space else (1.0, 0.0)
    return torch.where(mask, a, identity), torch.where(mask, b, nothing)


def zero_padding(output: Tensor, mask: Tensor | None) -> Tensor:
    return output if mask is None else output.masked_fill(~mask, 0.0)


def loop_layer(
    kind: str, x: Tensor, w: Tensor, b: Tensor, h: Tensor, reverse: bool, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The sequential form: one step after another over time. x (batch, seq_len, in) -> (output, h_n)."""
    a, b_t = skip_padding(*coefficients(kind, torch.matmul(x, w.t()) + b), mask, log_space=False)
    seq_len = x.size(1)
    outputs = []
    for step in range(seq_len):
        t = seq_len - 1 - step if reverse else step
        h = a[:, t] * h + b_t[:, t]
        outputs.append(h)
    if reverse:
        outputs.reverse()
    return zero_padding(torch.stack(outputs, 1), mask), h


def stack(layer_fn, module: nn.Module, x: Tensor, h0: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Layers x directions as nn.GRU stacks them; `layer_fn(kind, x, w, b, h0, reverse[, mask]) -> (output, h_n)`,
    given the padded batch's mask when `lengths` is (a CPU int64 tensor of shape (batch,))."""
    masked = {} if lengths is None else {"mask": step_mask(lengths, x)}
    layer_input, h_n = x, []
    directions = 2 if module.bidirectional else 1
    for layer in range(module.num_layers):
        outputs = []
        for direction in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            w, b = getattr(module, "weight_ih" + suffix), getattr(module, "bias_ih" + suffix)
            state = h0[layer * directions + direction]
            out, h = layer_fn(module.kind, layer_input, w, b, state, direction == 1, **masked)
            outputs.append(out)
            h_n.append(h)
        layer_input = outputs[0] if directions == 1 else torch.cat(outputs, 2)
    return layer_input, torch.stack(h_n)


class MinRNN(nn.Module):
    """The float64 reference of minGRU/minLSTM: nn.GRU's constructor and parameter names, the sequential loop."""

    kind = "mingru"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if not batch_first:
            raise ValueError(f"{type(self).__name__} is batch_first only")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional, self.batch_first = bidirectional, True
        directions = 2 if bidirectional else 1
        bound = 1 / math.sqrt(hidden_size)  # nn.GRU's init: U(-1/sqrt(H), 1/sqrt(H))
        rows = GATES[self.kind] * hidden_size
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                for name, shape in (("weight_ih", (rows, width)), ("bias_ih", (rows,))):
                    param = nn.Parameter(torch.empty(shape, device=device, dtype=dtype).uniform_(-bound, bound))
                    self.register_parameter(name + suffix, param)

    def forward(self, x: Tensor, h0: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return stack(loop_layer, self, x, h0, lengths)

    def extra_repr(self) -> str:
        shape = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        return f"{shape}, bidirectional={self.bidirectional}"


class MinGRU(MinRNN):
    kind = "mingru"


class MinLSTM(MinRNN):
    kind = "minlstm"


def positive_state(reference: nn.Module, batch: int, dtype: torch.dtype, generator: torch.Generator) -> Tensor:
    """h0 in [0.5, 1.5): the log-space scan takes log h0, so the state must be positive."""
    directions = 2 if reference.bidirectional else 1
    shape = (reference.num_layers * directions, batch, reference.hidden_size)
    return 0.5 + torch.rand(shape, generator=generator, dtype=dtype)
