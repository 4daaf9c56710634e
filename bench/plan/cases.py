"""A case: one implementation at one shape, dtype, mode and device. The unit that is run and stored."""

from __future__ import annotations

import fnmatch
import itertools
from dataclasses import asdict, dataclass

import torch

from bench.plan import instructions
from bench.plan.inputs import MODES  # noqa: F401 - the vocabulary's home is the torch-free inputs module

DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64,
    "float32": torch.float32,
    "tf32": torch.float32,  # float32 storage, TF32 tensor-core matmuls (CUDA only)
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


@dataclass(frozen=True)
class Case:
    key: str
    family: str
    impl: str
    device: str
    dtype: str
    mode: str
    batch: int
    seq_len: int
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    length_dist: str = "fixed"  # how long each sequence of the batch is: see bench/plan/inputs.py

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def case_id(self) -> str:
        direction = "bi" if self.bidirectional else "uni"
        return (
            f"{self.key}|{self.device}|{self.dtype}|{self.mode}|b{self.batch}|t{self.seq_len}"
            f"|i{self.input_size}|h{self.hidden_size}|l{self.num_layers}|{direction}"
        ) + ("" if self.length_dist == "fixed" else f"|len={self.length_dist}")

    @property
    def slug(self) -> str:
        """A file-name-safe form of case_id, for trace folders and the like."""
        return self.case_id.replace("|", "_")

    def identity(self) -> dict:
        return asdict(self)


# The grid's axes in the order of Case's fields after key, family and impl
GRID_AXES = (
    "devices", "dtypes", "modes", "batch", "seq_len", "input_size", "hidden_size", "num_layers", "bidirectional",
    "lengths",
)  # fmt: skip


def expand(spec, implementations) -> list[tuple[Case, str | None]]:
    """The spec's cases in a stable order, each with the reason it is skipped (None: it runs).

    `implementations` is the registry's list; an unsupported combination is kept with its reason.
    """
    seen: dict[str, tuple[Case, str | None]] = {}
    for grid in spec.grids:
        for impl in _matching(implementations, grid):
            for values in itertools.product(*(getattr(grid, axis) for axis in GRID_AXES)):
                case = Case(impl.key, impl.family, impl.impl, *values)
                if case.case_id not in seen:
                    seen[case.case_id] = (case, _skip_reason(case, impl, spec.timing.clock))
    return list(seen.values())


def _matching(implementations, grid) -> list:
    """The implementations the grid's `impls` patterns name and its `exclude_impls` patterns do not."""
    excluded = getattr(grid, "exclude_impls", ())
    return [
        i
        for i in implementations
        if any(fnmatch.fnmatchcase(i.key, p) for p in grid.impls)
        and not any(fnmatch.fnmatchcase(i.key, p) for p in excluded)
    ]


def _skip_reason(case: Case, impl, clock: str) -> str | None:
    """Why the case cannot run (the implementation, its inputs, the device, the clock), or None."""
    from bench.plan.inputs import input_reason

    mode = "inference" if case.mode == "streaming" else case.mode
    reason = impl.unsupported_reason(case.device, DTYPES[case.dtype], case.num_layers, case.bidirectional, mode)
    reason = reason or input_reason(case, getattr(impl, "variable_length", False))
    if reason is None and case.dtype == "tf32" and not case.device.startswith("cuda"):
        reason = "tf32 is a CUDA matmul mode"
    return reason or instructions.skip_reason(clock, case.device, case.mode)


def describe_implementations(implementations, cases) -> dict[str, dict]:
    """What each implementation among `cases` is, recorded in run.json so results read without the registry."""
    keys = {case.key for case, _ in cases}
    return {
        impl.key: {"family": impl.family, "variant": impl.impl, "description": impl.description}
        for impl in implementations
        if impl.key in keys
    }


def family_baselines() -> dict[str, str]:
    """Family -> the variant its speedups are measured against, recorded in run.json for show and the report."""
    from implementations import registry

    chosen = {family.name: registry.baseline(family.name) for family in registry.all_families()}
    return {name: key.split(".", 1)[1] for name, key in chosen.items() if key}
