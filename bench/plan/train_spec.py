"""What `rnnbench train` runs: the `[train]` section of a spec, overridden by command-line flags, then resolved
against the task's defaults (steps, target loss, sequence length). Bad values are a UsageError (exit 2)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UsageError
from bench.plan.spec import read_toml
from bench.plan.train_tasks import PARITY_TOLERANCES, TASKS, Task


@dataclass(frozen=True)
class TrainSpec:
    task: str = "sine_cosine"
    impls: tuple[str, ...] = ("*",)
    device: str = "cpu"
    dtype: str = "float32"
    steps: int | None = None  # None: the task's default
    target_loss: float | None = None
    seq_len: int | None = None  # sine_cosine: the window length; adding: the sequence length
    seed: int = 0
    threads: int = 0  # 0: one per CPU core
    timeout_s: float = 300.0  # per implementation, compilation included

    @property
    def task_spec(self) -> Task:
        return TASKS[self.task]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def train_spec_from_dict(table: dict, where: str = "[train]") -> TrainSpec:
    fields = {f.name for f in dataclasses.fields(TrainSpec)}
    unknown = set(table) - fields
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(fields))}")
    values = dict(table)
    if "impls" in values:
        impls = values["impls"]
        values["impls"] = tuple(impls) if isinstance(impls, list | tuple) else (impls,)
    return TrainSpec(**values)


def load_train_spec(path: str | Path) -> TrainSpec:
    """The `[train]` table of a TOML spec."""
    data = read_toml(path)
    table = data.get("train")
    if not isinstance(table, dict):
        raise UsageError(f"{path} has no [train] table")
    return train_spec_from_dict(table, f"{path} [train]")


def resolve(spec: TrainSpec, where: str = "command line", **overrides) -> TrainSpec:
    """The spec with the given (non-None) overrides and the task's defaults filled in, validated."""
    spec = dataclasses.replace(spec, **{k: v for k, v in overrides.items() if v is not None})
    if spec.task not in TASKS:
        raise UsageError(f"{where}: unknown task {spec.task!r}; known: {', '.join(TASKS)}")
    task = spec.task_spec
    spec = dataclasses.replace(
        spec,
        steps=task.steps if spec.steps is None else spec.steps,
        target_loss=task.target_loss if spec.target_loss is None else spec.target_loss,
        seq_len=task.seq_len if spec.seq_len is None else spec.seq_len,
    )
    validate(spec, where)
    return spec


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate(spec: TrainSpec, where: str) -> None:
    task = spec.task_spec
    if not _is_int(spec.steps) or spec.steps < 1:
        raise UsageError(f"{where}: steps must be a positive integer, got {spec.steps!r}")
    loss = spec.target_loss
    if not isinstance(loss, int | float) or isinstance(loss, bool) or not math.isfinite(loss) or loss <= 0:
        raise UsageError(f"{where}: target loss must be a positive number, got {spec.target_loss!r}")
    if not _is_int(spec.seq_len) or not task.min_seq_len <= spec.seq_len <= task.max_seq_len:
        raise UsageError(
            f"{where}: {task.name} takes seq_len {task.min_seq_len} to {task.max_seq_len}, got {spec.seq_len!r}"
        )
    if spec.dtype not in PARITY_TOLERANCES:
        raise UsageError(
            f"{where}: train runs {', '.join(PARITY_TOLERANCES)} (the dtypes with a measured parity tolerance), "
            f"not {spec.dtype!r}"
        )
    if spec.device not in ("cpu", "cuda") and not str(spec.device).startswith("cuda:"):
        raise UsageError(f"{where}: unknown device {spec.device!r}; use cpu or cuda")
    if not _is_int(spec.seed) or not 0 <= spec.seed < 2**32:
        raise UsageError(f"{where}: seed must be a non-negative integer below 2**32, got {spec.seed!r}")
    if not _is_int(spec.threads) or spec.threads < 0:
        raise UsageError(f"{where}: threads must be a non-negative integer, got {spec.threads!r}")
    if not isinstance(spec.timeout_s, int | float) or spec.timeout_s <= 0:
        raise UsageError(f"{where}: timeout_s must be a positive number, got {spec.timeout_s!r}")
    if not spec.impls or not all(isinstance(p, str) and p for p in spec.impls):
        raise UsageError(f"{where}: impls must be glob strings, got {spec.impls!r}")
