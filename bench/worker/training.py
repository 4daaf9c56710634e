"""Train one implementation on a task, in the worker process: the loop, timed phase by phase.

Every implementation starts from the same seeded float64 reference (its weights copied by the implementation's own
`build`) and the same seeded nn.Linear head, sees the same batches (bench.plan.train_tasks) and is stepped by the
same Adam. The head reads the family's sequence output, whatever its width; the state (a tensor, or a tuple in the
family's state order) starts at zeros and, where the task carries it, is passed on detached.

Returns the case's row so far and the per-step curve; steps to target, parity and the medians are the parent's
(bench/analysis/training.py), which sees every implementation's curve.
"""

from __future__ import annotations

import copy
import time

import torch
from torch import nn

from bench.plan.cases import Case
from bench.plan.train_tasks import TASKS, Task, batch_at
from bench.worker.correctness import model_parameters
from bench.worker.measure import base_row, failed_row
from bench.worker.memory import peak_extra_bytes
from bench.worker.workload import matmul_precision
from implementations import families, registry

CURVE_COLUMNS = ("loss", "wall_s", "step_s", "forward_s", "backward_s", "optimizer_s")  # training.parquet's, less
# key and step (bench/results/schema.py)


def _map_state(state, fn):
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


class Trainee:
    """An implementation's model with the task's head and optimizer, ready to step."""

    def __init__(self, case: Case, task: Task, seed: int) -> None:
        self.case, self.task = case, task
        reference = families.make_reference(case.family, case.input_size, case.hidden_size, seed=seed)
        probe_x, probe_state = families.make_inputs(reference, case.batch, 1)
        with torch.no_grad():
            features = reference(probe_x, probe_state)[0].shape[-1]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            head = nn.Linear(features, 1, dtype=torch.float64)
        with matmul_precision(case):
            self.model = registry.get(case.key).build(reference, case.device, case.torch_dtype)
        self.head = copy.deepcopy(head).to(device=case.device, dtype=case.torch_dtype)
        params, problems = model_parameters(self.model, reference)
        if problems:
            raise ValueError(f"cannot train: {next(iter(problems.values()))}")
        self.optimizer = torch.optim.Adam([*params.values(), *self.head.parameters()], lr=task.lr)
        self.zero_state = _map_state(
            probe_state, lambda s: torch.zeros(s.shape, dtype=case.torch_dtype, device=case.device)
        )
        self.state = self.zero_state

    def _sync(self) -> None:
        if self.case.device.startswith("cuda"):
            torch.cuda.synchronize(self.case.device)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float, float]:
        """One optimizer step on (x, y): (loss, forward_s, backward_s, optimizer_s)."""
        start = time.perf_counter()
        output, final = self.model(x, self.state)
        readout = output if self.task.readout == "sequence" else output[:, -1]
        loss = nn.functional.mse_loss(self.head(readout), y)
        self._sync()
        forward_end = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._sync()
        backward_end = time.perf_counter()
        self.optimizer.step()
        self._sync()
        end = time.perf_counter()
        self.state = _map_state(final, lambda s: s.detach()) if self.task.carry_state else self.zero_state
        return float(loss.detach()), forward_end - start, backward_end - forward_end, end - backward_end


def _batch(case: Case, task: Task, step: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = batch_at(task, step, case.seq_len, seed)
    return x.to(device=case.device, dtype=case.torch_dtype), y.to(device=case.device, dtype=case.torch_dtype)


def train_case(case: Case, task_name: str, steps: int, seed: int, threads: int) -> dict:
    """{"row": the case's row, "curve": {column: per-step list}}; an exception is a row with status error/oom."""
    wall_start = time.perf_counter()
    torch.set_num_threads(threads)
    row = base_row(case, threads)
    curve: dict[str, list[float]] = {name: [] for name in CURVE_COLUMNS}
    task = TASKS[task_name]
    try:
        torch.manual_seed(seed)
        trainee = Trainee(case, task, seed)
        with matmul_precision(case):
            start = time.perf_counter()
            for step in range(steps):
                loss, forward_s, backward_s, optimizer_s = trainee.step(*_batch(case, task, step, seed))
                for name, value in zip(CURVE_COLUMNS, (loss, time.perf_counter() - start,
                                                       forward_s + backward_s + optimizer_s,
                                                       forward_s, backward_s, optimizer_s)):  # fmt: skip
                    curve[name].append(value)
            # one more step, after the recorded ones, so that measuring cannot disturb the curve
            extra = _batch(case, task, steps, seed)
            row["peak_mem_bytes"] = peak_extra_bytes(lambda: trainee.step(*extra), case.device)
        row["status"] = "ok"
    except Exception as exc:
        failed_row(row, exc, case)
    row["wall_s"] = time.perf_counter() - wall_start
    return {"row": row, "curve": curve}
