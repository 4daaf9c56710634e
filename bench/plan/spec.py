"""The sweep spec: what to measure, read from TOML (tomllib) and overridden by command-line flags.

A spec holds default axes and, optionally, `[[grid]]` tables; each grid overrides some axes, and the
sweep is the union of the grids' cross products. This keeps a default sweep broad over implementations
and narrow over shapes without listing cases by hand.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import UsageError
from bench.plan import instructions
from bench.plan.cases import DTYPES, MODES
from bench.plan.inputs import parse_lengths

AXES = (
    "impls",
    "devices",
    "dtypes",
    "modes",
    "batch",
    "seq_len",
    "input_size",
    "hidden_size",
    "num_layers",
    "bidirectional",
    "lengths",
)
# What samples_s measures; each clock's meaning is in docs/measurement.md. A new clock is one more entry here.
CLOCKS = ("wall", "cpu", "instructions")  # instructions: counted under Valgrind, bench/plan/instructions.py
SINGLE_THREAD_CLOCKS = ("cpu",)  # process CPU time sums every thread's: only true with one intra-op thread
ISOLATIONS = ("auto", "process", "shared")  # auto: process for compiled and scripted variants, shared otherwise
CACHES = ("warm", "cold")  # cold: the last-level cache (CUDA: L2) is flushed before every timed call
COMPILED_VARIANTS = ("compile", "script", "cudagraph")  # variant-name prefixes whose state outlives a case
SIZE_AXES = ("batch", "seq_len", "input_size", "hidden_size", "num_layers")


@dataclass(frozen=True)
class Grid:
    """One cross product of axes."""

    impls: tuple[str, ...] = ("*",)
    devices: tuple[str, ...] = ("cpu",)
    dtypes: tuple[str, ...] = ("float32",)
    modes: tuple[str, ...] = ("inference", "training")
    batch: tuple[int, ...] = (16,)
    seq_len: tuple[int, ...] = (32,)
    input_size: tuple[int, ...] = (128,)
    hidden_size: tuple[int, ...] = (128,)
    num_layers: tuple[int, ...] = (1,)
    bidirectional: tuple[bool, ...] = (False,)
    exclude_impls: tuple[str, ...] = ()  # globs taken out of `impls` (e.g. the slow-to-compile engines of "*")
    lengths: tuple[str, ...] = ("fixed",)  # fixed | uniform:F, see bench/plan/inputs.py


@dataclass(frozen=True)
class Timing:
    """How each case is timed; see bench/worker/timing.py."""

    threads: int = 0  # 0: one per CPU core
    min_time_s: float = 0.2  # sample at least this long...
    budget_s: float = 2.0  # ...and at most this long per timed quantity
    target_rel_iqr: float = 0.05  # stop early once IQR/median is below this
    min_samples: int = 10
    warmup_calls: int = 2
    rounds: int = 1  # times through the whole case list; samples of all rounds are pooled per case
    clock: str = "wall"  # "wall": elapsed time; "cpu": the process's CPU time, blind to time stolen by neighbours;
    # "instructions": CPU instructions per call, counted under Valgrind (bench/plan/instructions.py)
    isolation: str = "auto"  # "process": each case in a fresh worker and compile cache; "shared": one worker
    cache: str = "warm"  # "cold": flush the last-level cache before every timed call (outside the timed region)
    timeout_s: float = 300.0  # per case, set-up and compile included
    check: bool = True  # correctness against the float64 reference, per case
    memory: bool = True
    streaming_steps: int = 2000  # streaming mode: steps timed one by one per case, over repeated sequences


@dataclass(frozen=True)
class SweepSpec:
    name: str = "sweep"
    grids: tuple[Grid, ...] = (Grid(),)
    timing: Timing = field(default_factory=Timing)

    def as_dict(self) -> dict:
        """The TOML form (name, [[grid]], [timing]): `spec_from_dict(spec.as_dict()) == spec`."""
        return {
            "name": self.name,
            "grid": [dataclasses.asdict(g) for g in self.grids],
            "timing": dataclasses.asdict(self.timing),
        }


def _as_tuple(name: str, value) -> tuple:
    values = value if isinstance(value, list | tuple) else [value]
    if not values:
        raise UsageError(f"{name}: empty list")
    return tuple(values)


def _grid_from(table: dict, base: Grid, where: str) -> Grid:
    unknown = set(table) - set(AXES) - {"exclude_impls"}
    if unknown:
        known = ", ".join((*AXES, "exclude_impls"))
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {known}")
    values = {k: _as_tuple(f"{where}.{k}", v) for k, v in table.items() if k != "exclude_impls"}
    if "exclude_impls" in table:  # may be empty: nothing excluded
        excluded = table["exclude_impls"]
        values["exclude_impls"] = tuple(excluded if isinstance(excluded, list | tuple) else [excluded])
    return dataclasses.replace(base, **values)


def spec_from_dict(data: dict, where: str = "spec") -> SweepSpec:
    data = dict(data)
    name = str(data.pop("name", "sweep"))
    data.pop("train", None)  # the [train] table is `rnnbench train`'s (bench/plan/train_spec.py)
    timing_table = data.pop("timing", {})
    grid_tables = data.pop("grid", [])
    if not isinstance(timing_table, dict) or not isinstance(grid_tables, list):
        raise UsageError(f"{where}: [timing] must be a table and [[grid]] an array of tables")
    unknown = set(timing_table) - {f.name for f in dataclasses.fields(Timing)}
    if unknown:
        raise UsageError(f"{where}: unknown [timing] key(s) {', '.join(sorted(unknown))}")
    base = _grid_from(data, Grid(), where)
    grids = tuple(_grid_from(g, base, f"{where} [[grid]] #{i + 1}") for i, g in enumerate(grid_tables)) or (base,)
    spec = SweepSpec(name=name, grids=grids, timing=Timing(**timing_table))
    validate(spec, where)
    return spec


def read_toml(path: str | Path) -> dict:
    """A spec file's tables; a missing, unreadable or malformed file is a UsageError worded for the user."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"malformed TOML in {path}: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def load_spec(path: str | Path) -> SweepSpec:
    return spec_from_dict(read_toml(path), str(path))


def with_overrides(spec: SweepSpec, **axes) -> SweepSpec:
    """Command-line flags replace the named axis in every grid; None means not given."""
    given = {k: _as_tuple(k, v) for k, v in axes.items() if v is not None}
    if not given:
        return spec
    if "impls" in given:  # implementations named on the command line are measured, whatever the config excluded
        given["exclude_impls"] = ()
    new = dataclasses.replace(spec, grids=tuple(dataclasses.replace(g, **given) for g in spec.grids))
    validate(new, "command line")
    return new


def validate(spec: SweepSpec, where: str) -> None:
    for grid in spec.grids:
        for axis in SIZE_AXES:
            for value in getattr(grid, axis):
                if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                    raise UsageError(f"{where}: {axis} must be positive integers, got {value!r}")
        for value in grid.bidirectional:
            if not isinstance(value, bool):
                raise UsageError(f"{where}: bidirectional must be true/false, got {value!r}")
        for dtype in grid.dtypes:
            if dtype not in DTYPES:
                raise UsageError(f"{where}: unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
        for mode in grid.modes:
            if mode not in MODES:
                raise UsageError(f"{where}: unknown mode {mode!r}; known: {', '.join(MODES)}")
        for device in grid.devices:
            if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
                raise UsageError(f"{where}: unknown device {device!r}; use cpu or cuda")
        for dist in grid.lengths:
            try:
                parse_lengths(dist)
            except UsageError as exc:
                raise UsageError(f"{where}: {exc}") from None
        for pattern in grid.impls:
            if not isinstance(pattern, str) or not pattern:
                raise UsageError(f"{where}: impls must be glob strings, got {pattern!r}")
    validate_timing(spec.timing, where, [str(d) for g in spec.grids for d in g.devices])


def validate_timing(t: Timing, where: str, devices: list[str]) -> None:
    """Every [timing] setting in range; the first one that is not raises UsageError (one line)."""
    numbers = {
        "min_time_s": t.min_time_s,
        "budget_s": t.budget_s,
        "target_rel_iqr": t.target_rel_iqr,
        "timeout_s": t.timeout_s,
    }
    for name, value in numbers.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < float("inf"):
            raise UsageError(f"{where}: timing.{name} must be a positive number, got {value!r}")
    if t.budget_s < t.min_time_s:
        raise UsageError(f"{where}: timing.budget_s ({t.budget_s}) is below timing.min_time_s ({t.min_time_s})")
    if not isinstance(t.streaming_steps, int) or isinstance(t.streaming_steps, bool) or t.streaming_steps < 1:
        raise UsageError(f"{where}: timing.streaming_steps must be a positive integer, got {t.streaming_steps!r}")
    for name, positive in (("rounds", True), ("min_samples", True), ("threads", False), ("warmup_calls", False)):
        value = getattr(t, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < int(positive):
            kind = "a positive" if positive else "a non-negative"
            raise UsageError(f"{where}: timing.{name} must be {kind} integer, got {value!r}")
    for name, allowed in (("clock", CLOCKS), ("isolation", ISOLATIONS), ("cache", CACHES)):
        if getattr(t, name) not in allowed:
            raise UsageError(f"{where}: timing.{name} must be one of {', '.join(allowed)}, got {getattr(t, name)!r}")
    if t.clock == "cpu" and any(d.startswith("cuda") for d in devices):
        raise UsageError(f"{where}: timing.clock = 'cpu' cannot time CUDA work (the GPU's time is not CPU time)")
    if t.clock in SINGLE_THREAD_CLOCKS and t.threads != 1:
        threads = "0 (one per core)" if t.threads == 0 else str(t.threads)
        raise UsageError(
            f"{where}: timing.clock = {t.clock!r} needs timing.threads = 1, got {threads}: CPU time sums every "
            "thread's, spin-waits included, so it is not a latency with more threads"
        )
    instructions.validate(t, where)


def isolation_for(impl: str, setting: str) -> str:
    """The isolation a case runs under: the setting, or for "auto" `process` where the variant compiles or
    scripts (its caches and first call depend on what ran before) and `shared` for eager variants."""
    if setting != "auto":
        return setting
    return "process" if impl.startswith(COMPILED_VARIANTS) else "shared"
