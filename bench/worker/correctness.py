"""Correctness of an implementation: its model against the reference module run in float64 on CPU, same weights.

Compared: the output, the final state(s) and, with `gradients`, the gradients with respect to x, h0 (and c0) and
every parameter, under a random upstream gradient on the output and the final states. Errors are norm-wise:
rel_err = ||got - ref|| / ||ref|| over each tensor, the worst tensor reported. NaN or Inf never passes.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from bench.plan.cases import DTYPES
from bench.worker.workload import matmul_precision
from implementations import registry
from implementations.families import Family, family_of, make_inputs, make_reference

# Norm-wise relative tolerance per dtype. The loops differ from the reference only by rounding: each matmul and
# gate op adds about one unit roundoff u (2^-53, 2^-24, 2^-11 for tf32's 10-bit mantissa, 2^-9 bf16, 2^-11 fp16)
# and the recurrence carries it through seq_len x num_layers steps, with weights and inputs themselves rounded to
# the dtype first. Weight gradients also sum batch x seq_len terms in an order the library picks (cuDNN's float32
# weight gradients are 1.8e-5 off at verify's shapes on an H100, ~150x u). The tolerances are ~1e6x u for float64,
# ~1700x u for float32 and ~10x u for the short formats, which leaves room for the sweep's shapes, while a wrong
# equation (a swapped gate, a missing bias, a reversed direction) gives errors of order 1e-1..1 and fails in every
# dtype.
TOLERANCES: dict[str, float] = {
    "float64": 1e-10,
    "float32": 1e-4,
    "tf32": 5e-3,
    "bfloat16": 5e-2,
    "float16": 1e-2,
}


@dataclass(frozen=True)
class CheckResult:
    max_abs_err: float  # over output and final state(s)
    rel_err: float  # worst norm-wise relative error over output and final state(s)
    grad_rel_err: float | None  # worst over all gradients; None when gradients were not checked
    correct: bool
    tolerance: float
    worst: str  # the tensor furthest off relative to the tolerance: "output", "h_n", "grad x", "grad weight_hh_l0"
    message: str  # one line for a person


def _errors(got: Tensor | None, ref: Tensor) -> tuple[float, float]:
    """(max abs error, norm-wise relative error); inf for a missing or non-finite result, or a shape mismatch."""
    if got is None or got.shape != ref.shape:
        return math.inf, math.inf
    got = got.detach().to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(got).all()):
        return math.inf, math.inf
    diff = got - ref
    max_abs = float(diff.abs().max()) if diff.numel() else 0.0
    ref_norm = float(ref.norm())
    rel = float(diff.norm()) / ref_norm if ref_norm > 0 else float(diff.norm())
    return max_abs, rel


def _states(state) -> list[Tensor]:
    return list(state) if isinstance(state, tuple) else [state]


def tolerance(family: Family, dtype: str) -> float:
    """The family's own tolerance for `dtype` where it states one, else the per-dtype one above."""
    return family.tolerances.get(dtype, TOLERANCES[dtype])


def model_parameters(model: nn.Module, reference: nn.Module) -> tuple[dict[str, nn.Parameter], dict[str, str]]:
    """The model's parameter for each of the reference's parameter names, and why any name has none.

    A model either defines `reference_parameters()` keyed by the reference's names, or has parameters whose
    named_parameters() names end with them (`weight_ih_l0`, `_orig_mod.weight_ih_l0`, `loop.weight_ih_l0`).
    A name matched by none, or by several, is reported, and fails the check: nothing is silently left out.
    """
    ref_names = [name for name, _ in reference.named_parameters()]
    problems: dict[str, str] = {}
    if hasattr(model, "reference_parameters"):
        given = dict(model.reference_parameters())
        mapping = {name: given[name] for name in ref_names if name in given}
    else:
        named = list(model.named_parameters())
        mapping = {}
        for ref_name in ref_names:
            hits = [p for name, p in named if name == ref_name or name.endswith("." + ref_name)]
            if len(hits) > 1:
                problems[ref_name] = f"{len(hits)} model parameters are named like {ref_name}"
            elif hits:
                mapping[ref_name] = hits[0]
    for name in ref_names:
        if name not in mapping and name not in problems:
            problems[name] = f"the model has no parameter for {name}"
    return mapping, problems


def check_model(
    model: nn.Module,
    reference: nn.Module,
    *,
    batch: int,
    seq_len: int,
    device: str,
    dtype: str,
    gradients: bool,
    seed: int = 0,
    own_tolerance: float | None = None,
) -> CheckResult:
    """Run an already-built model and the float64 reference on the same fresh random inputs; compare.

    `own_tolerance` (an implementation's own, e.g. int8's) replaces the family's and dtype's.
    """
    if dtype not in TOLERANCES:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(TOLERANCES)}")
    family = family_of(reference)
    limit = own_tolerance if own_tolerance is not None else tolerance(family, dtype)
    torch_dtype = DTYPES[dtype]
    if any(p.dtype != torch.float64 or p.device.type != "cpu" for p in reference.parameters()):
        reference = copy.deepcopy(reference).to(device="cpu", dtype=torch.float64)
    ref_x, ref_state = make_inputs(reference, batch, seq_len, seed=seed + 1, requires_grad=gradients)
    ref_inputs = [ref_x, *_states(ref_state)]
    names = ["output", *(f"{name}_n" for name in family.state_names)]
    with torch.set_grad_enabled(gradients):
        ref_output, ref_final = reference(ref_x, ref_state)
    ref_outs = [ref_output, *_states(ref_final)]

    inputs = [t.detach().to(device=device, dtype=torch_dtype).requires_grad_(gradients) for t in ref_inputs]
    state = tuple(inputs[1:]) if len(inputs) > 2 else inputs[1]
    with matmul_precision(dtype), torch.set_grad_enabled(gradients):
        output, final = model(inputs[0], state)
    outs = [output, *_states(final)]

    compared: list[tuple[str, Tensor | None, Tensor]] = list(zip(names, outs, [o.detach() for o in ref_outs]))
    n_forward = len(compared)
    problems: dict[str, str] = {}
    if gradients:
        grads, problems = _gradients(model, reference, (outs, inputs), (ref_outs, ref_inputs), device, dtype, seed)
        compared += grads
    return verdict(compared, n_forward, problems, dtype, gradients, limit, own=own_tolerance is not None)


def _gradients(
    model: nn.Module, reference: nn.Module, model_side: tuple, reference_side: tuple, device: str, dtype: str, seed: int
) -> tuple[list[tuple[str, Tensor | None, Tensor]], dict[str, str]]:
    """(name, got, reference) for the gradients with respect to the inputs, the initial state(s) and every
    parameter under one seeded random upstream gradient, and why any of the model's is missing.
    `model_side`, `reference_side`: each one's (outputs and final states, inputs and initial states)."""
    (outs, inputs), (ref_outs, ref_inputs) = model_side, reference_side
    gen = torch.Generator().manual_seed(seed + 2)
    upstream = [torch.randn(o.shape, generator=gen, dtype=torch.float64) for o in ref_outs]
    ref_params = dict(reference.named_parameters())
    params, missing = model_parameters(model, reference)
    problems = {f"grad {name}": why for name, why in missing.items()}
    ref_grads = torch.autograd.grad(ref_outs, ref_inputs + list(ref_params.values()), upstream)
    with matmul_precision(dtype):
        grads = torch.autograd.grad(
            outs,
            inputs + list(params.values()),
            [u.to(device=device, dtype=DTYPES[dtype]) for u in upstream],
            allow_unused=True,
        )
    input_names = ["grad x", *(f"grad {name}0" for name in family_of(reference).state_names)]
    got = dict(zip(input_names + [f"grad {n}" for n in params], grads))
    ref_names = input_names + [f"grad {n}" for n in ref_params]
    return [(name, got.get(name), ref) for name, ref in zip(ref_names, ref_grads)], problems


def verdict(
    compared: list[tuple[str, Tensor | None, Tensor]],
    n_forward: int,
    problems: dict[str, str],
    dtype: str,
    gradients: bool,
    limit: float,
    own: bool = False,
) -> CheckResult:
    """The check's result from (name, got, reference) triples, the first `n_forward` of them forward results,
    against the tolerance `limit` (`own`: the implementation's declared one, not the dtype's); `problems` says
    why a named tensor is missing."""
    errors = [(name, *_errors(got, ref)) for name, got, ref in compared]
    forward_errors = errors[:n_forward]
    max_abs_err = max(e[1] for e in forward_errors)
    rel_err = max(e[2] for e in forward_errors)
    grad_rel_err = max(e[2] for e in errors[n_forward:]) if gradients else None
    worst_name, _, worst_rel = max(errors, key=lambda e: e[2])
    correct = all(e[2] <= limit for e in errors)
    if correct:
        message = f"ok: worst {worst_name} rel err {worst_rel:.2e} <= {limit:.0e}"
    elif worst_name in problems:
        message = f"{worst_name}: {problems[worst_name]}"
    elif not math.isfinite(worst_rel):
        message = f"{worst_name} is missing, mis-shaped, NaN or Inf"
    else:
        over = worst_rel / limit
        times = f"{over:,.0f}" if over >= 10 else f"{over:.2f}"
        whose = "the implementation's own" if own else f"the {dtype}"
        message = f"{worst_name} rel err {worst_rel:.2e} is {times}x {whose} tolerance {limit:.0e}"
    return CheckResult(max_abs_err, rel_err, grad_rel_err, correct, limit, worst_name, message)


def check(
    impl: registry.Implementation,
    *,
    device: str = "cpu",
    dtype: str = "float32",
    batch: int,
    seq_len: int,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    gradients: bool = True,
    seed: int = 0,
) -> CheckResult:
    """Build `impl` from a fresh seeded reference and check it (see `check_model`)."""
    if dtype not in TOLERANCES:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(TOLERANCES)}")
    mode = "training" if gradients else "inference"
    reason = impl.unsupported_reason(device, DTYPES[dtype], num_layers, bidirectional, mode)
    if reason is not None:
        raise ValueError(reason)
    reference = make_reference(impl.family, input_size, hidden_size, num_layers, bidirectional, seed=seed)
    with matmul_precision(dtype):
        model = impl.build(reference, device, DTYPES[dtype])
    return check_model(
        model,
        reference,
        batch=batch,
        seq_len=seq_len,
        device=device,
        dtype=dtype,
        gradients=gradients,
        seed=seed,
        own_tolerance=impl.tolerance,
    )
