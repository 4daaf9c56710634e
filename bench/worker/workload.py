"""What is timed for a case: the model built by its implementation, its inputs, and one call.

Kept plain (the nanoGPT lesson): set-up here, nothing but the call in `forward` / `step`.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from bench.plan.cases import Case
from bench.plan.inputs import FIXED, draw_lengths
from bench.worker.streaming import Stream
from implementations import families as this_tree_families
from implementations import registry


@contextmanager
def matmul_precision(case: Case | str):
    """TF32 for the `tf32` dtype (a Case or a dtype name) on CUDA, exact float32 otherwise; restored afterwards."""
    dtype = case if isinstance(case, str) else case.dtype
    old_matmul = torch.backends.cuda.matmul.allow_tf32
    old_cudnn = torch.backends.cudnn.allow_tf32
    tf32 = dtype == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old_matmul
        torch.backends.cudnn.allow_tf32 = old_cudnn


def _flatten_state(state) -> list[torch.Tensor]:
    return list(state) if isinstance(state, tuple) else [state]


@dataclass
class Workload:
    case: Case
    reference: nn.Module
    model: nn.Module
    x: torch.Tensor
    state: torch.Tensor | tuple[torch.Tensor, torch.Tensor]
    grad_output: torch.Tensor
    tolerance: float | None = None  # the implementation's own correctness tolerance, if it declares one
    lengths: torch.Tensor | None = None  # variable-length cases: each sequence's length, CPU int64 (batch,)
    stream: Stream | None = None  # streaming mode: one step per call

    def forward(self):
        """One forward call; under no_grad unless in training mode, recording autograd in training mode."""
        args = (self.x, self.state) if self.lengths is None else (self.x, self.state, self.lengths)
        if self.case.mode != "training":
            with torch.no_grad():
                return self.model(*args)
        return self.model(*args)

    def backward(self, output, retain_graph: bool = False) -> None:
        """Backward of a forward's output (output[0] is the sequence output); gradients start afresh."""
        self.model.zero_grad(set_to_none=True)
        for tensor in self.inputs:
            tensor.grad = None
        torch.autograd.backward(output[0], self.grad_output, retain_graph=retain_graph)

    def step(self) -> None:
        """The timed unit: forward (inference), forward + backward (training) or one step (streaming)."""
        if self.stream is not None:
            with torch.no_grad():
                self.stream.step()
            return
        output = self.forward()
        if self.case.mode == "training":
            self.backward(output)

    @property
    def inputs(self) -> list[torch.Tensor]:
        return [self.x, *_flatten_state(self.state)]

    def synchronize(self) -> None:
        if self.x.device.type == "cuda":
            torch.cuda.synchronize(self.x.device)


def prepare(case: Case, seed: int = 0, source=None) -> Workload:
    """Build the case's model from a seeded float64 reference, and its inputs, on its device.

    `source` (bench.worker.side_by_side.Source) builds it from another revision's implementations package.
    """
    impls, families = (registry, this_tree_families) if source is None else (source.registry, source.families)
    impl = impls.get(case.key)
    reference = families.make_reference(
        case.family, case.input_size, case.hidden_size, case.num_layers, case.bidirectional, seed=seed
    )
    with matmul_precision(case):
        model = impl.build(reference, case.device, case.torch_dtype)
    # In training, x and h0 (c0) take gradients as they do inside a deeper model (x from an embedding or a
    # lower layer), which is also what the correctness check asks of a compiled model: no recompilation.
    x, state = families.make_inputs(
        reference,
        case.batch,
        case.seq_len,
        device=case.device,
        dtype=case.torch_dtype,
        requires_grad=case.mode == "training",
    )
    directions = 2 if case.bidirectional else 1
    grad_output = torch.randn(
        case.batch, case.seq_len, case.hidden_size * directions, dtype=case.torch_dtype, device=case.device
    )
    # a base tree's registry (bench ci) may predate declared tolerances
    workload = Workload(case, reference, model, x, state, grad_output, getattr(impl, "tolerance", None))
    if case.length_dist != FIXED:
        workload.lengths = torch.tensor(
            draw_lengths(case.length_dist, case.batch, case.seq_len, seed), dtype=torch.int64
        )
    if case.mode == "streaming":
        workload.stream = Stream(model, x, state)
    return workload


def seq_lengths(workload: Workload) -> list[int]:
    """Each sequence's real length in the workload's batch."""
    if workload.lengths is None:
        return [workload.case.seq_len] * workload.case.batch
    return [int(n) for n in workload.lengths]
