"""Correctness of a variable-length batch, sequence by sequence.

The model runs the padded batch with its lengths (`model(x, state, lengths)`); the float64 reference runs each
sequence alone, unpadded. Compared: the outputs at real steps, the outputs at padded steps (which must be zero),
the final states (each sequence's own), and in training the gradients with respect to x at real steps, x at
padded steps (zero: padding must not reach the loss), h0 (c0) and every parameter (summed over sequences, as in
the batch). Padding that leaks into anything fails. The padding of x holds random values, not zeros, so a leak
cannot hide behind a zero input.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from bench.plan.cases import DTYPES
from bench.worker.correctness import TOLERANCES, CheckResult, _states, model_parameters, tolerance, verdict
from bench.worker.workload import matmul_precision
from implementations.families import family_of, make_inputs


def _real(t: Tensor, lengths: list[int]) -> Tensor:
    """The real steps of every sequence of a batch-first tensor, concatenated: (tokens, features)."""
    return torch.cat([t[i, :n] for i, n in enumerate(lengths)])


def _padding(t: Tensor, lengths: list[int]) -> Tensor:
    """The padded steps, concatenated (possibly none)."""
    return torch.cat([t[i, n:] for i, n in enumerate(lengths)])


def _reference_per_sequence(reference, x, states, lengths, upstream, gradients):
    """Per sequence alone: outputs (concatenated), final states (stacked on batch) and the gradients."""
    params = list(reference.parameters())
    outputs, finals, grad_x, grad_states = [], [], [], []
    grad_params = [torch.zeros_like(p) for p in params]
    for i, n in enumerate(lengths):
        xi = x[i : i + 1, :n].detach().requires_grad_(gradients)
        si = [s[:, i : i + 1].detach().requires_grad_(gradients) for s in states]
        with torch.set_grad_enabled(gradients):
            out, final = reference(xi, tuple(si) if len(si) == 2 else si[0])
        outs = [out, *_states(final)]
        outputs.append(out[0].detach())
        finals.append([f.detach() for f in outs[1:]])
        if gradients:
            ups = [upstream[0][i : i + 1, :n]] + [u[:, i : i + 1] for u in upstream[1:]]
            grads = torch.autograd.grad(outs, [xi, *si, *params], ups)
            grad_x.append(grads[0][0])
            grad_states.append(grads[1 : 1 + len(si)])
            grad_params = [a + g for a, g in zip(grad_params, grads[1 + len(si) :])]
    stacked = [torch.cat([f[k] for f in finals], 1) for k in range(len(states))]
    result = {"output": torch.cat(outputs), "finals": stacked}
    if gradients:
        result["grad x"] = torch.cat(grad_x)
        result["grad states"] = [torch.cat([g[k] for g in grad_states], 1) for k in range(len(states))]
        result["grad params"] = grad_params
    return result


def _gradients(model, reference, inputs, outs, upstream, ref, lengths, dtype: str):
    """(name, got, reference) for every gradient, the padded steps of x's among them (zero), and why any
    parameter has none."""
    params, missing = model_parameters(model, reference)
    device, torch_dtype = inputs[0].device, DTYPES[dtype]
    with matmul_precision(dtype):
        grads = torch.autograd.grad(
            outs, inputs + list(params.values()), [u.to(device=device, dtype=torch_dtype) for u in upstream],
            allow_unused=True,
        )  # fmt: skip
    grad_x = grads[0] if grads[0] is not None else torch.zeros_like(inputs[0])
    padded = torch.zeros(inputs[0].numel() // inputs[0].size(2) - sum(lengths), inputs[0].size(2), dtype=torch.float64)
    compared = [("grad x", _real(grad_x, lengths), ref["grad x"])]
    compared += [("grad x at padding", _padding(grad_x, lengths), padded)]
    names = [f"grad {name}0" for name in family_of(reference).state_names]
    compared += list(zip(names, grads[1 : len(inputs)], ref["grad states"]))
    got = dict(zip(params, grads[len(inputs) :]))
    named = [name for name, _ in reference.named_parameters()]
    compared += [(f"grad {name}", got.get(name), g) for name, g in zip(named, ref["grad params"])]
    return compared, {f"grad {name}": why for name, why in missing.items()}


def check_varlen(
    model: nn.Module,
    reference: nn.Module,
    lengths: list[int],
    *,
    seq_len: int,
    device: str,
    dtype: str,
    gradients: bool,
    seed: int = 0,
) -> CheckResult:
    """Run `model(x, state, lengths)` on a padded batch and compare each sequence with the reference alone."""
    if dtype not in TOLERANCES:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(TOLERANCES)}")
    torch_dtype = DTYPES[dtype]
    reference = copy.deepcopy(reference).to(device="cpu", dtype=torch.float64)
    batch = len(lengths)
    ref_x, ref_state = make_inputs(reference, batch, seq_len, seed=seed + 1)
    ref_states = _states(ref_state)
    family = family_of(reference)
    state_names = [f"{name}_n" for name in family.state_names]
    gen = torch.Generator().manual_seed(seed + 2)
    directions = 2 if reference.bidirectional else 1
    out_shape = (batch, seq_len, reference.hidden_size * directions)
    upstream = [torch.randn(s, generator=gen, dtype=torch.float64) for s in [out_shape] + [t.shape for t in ref_states]]
    ref = _reference_per_sequence(reference, ref_x, ref_states, lengths, upstream, gradients)

    inputs = [t.to(device=device, dtype=torch_dtype).requires_grad_(gradients) for t in [ref_x, *ref_states]]
    state = tuple(inputs[1:]) if len(inputs) == 3 else inputs[1]
    with matmul_precision(dtype), torch.set_grad_enabled(gradients):
        output, final = model(inputs[0], state, torch.tensor(lengths, dtype=torch.int64))
    finals = _states(final)
    shaped = output is not None and tuple(output.shape) == out_shape
    real = _real(output, lengths) if shaped else None
    padding = _padding(output, lengths) if shaped else None
    zeros = torch.zeros(batch * seq_len - sum(lengths), out_shape[2], dtype=torch.float64)
    compared = [("output", real, ref["output"]), ("output at padding", padding, zeros)]
    compared += list(zip(state_names, finals, ref["finals"]))
    n_forward, problems = len(compared), {}
    if gradients:
        more, problems = _gradients(model, reference, inputs, [output, *finals], upstream, ref, lengths, dtype)
        compared += more
    return verdict(compared, n_forward, problems, dtype, gradients, tolerance(family, dtype))
