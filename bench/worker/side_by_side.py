"""Base and candidate in one process: the worker side of `rnnbench ci`'s default, same-process pairing.

On a shared runner most of the spread of a measurement belongs to the process and the moment: two processes
running identical code differ by 10-20% here, while two copies of one model inside one process, timed in
alternating blocks, agree within a few percent. So the worker loads the base revision's `implementations`
package beside this tree's, builds each case from both, and times the two in alternating blocks (ABBA), each
side's samples adding up to the same budget. Whatever slows the machine during the case slows both; what is
left between them is the code. Each process then gives one ratio per case, and processes are the replicates
the gate counts (bench.analysis.significance.compare_paired).

The harness (inputs, timing, checks) is this tree's for both sides: the pairing compares implementations.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from bench.plan.cases import Case
from bench.plan.spec import Timing
from bench.worker import callgrind
from bench.worker import timing as timing_mod
from bench.worker.measure import base_row, deadline_for, failed_row, finish_case, start_case, stop_rule
from bench.worker.workload import matmul_precision

SIDES = ("base", "new")
PACKAGE = "implementations"
PLUGIN_PREFIX = "rnnbench_plugin_"  # implementations.registry.load_plugin's module names


@dataclass(frozen=True)
class Source:
    """An `implementations` package: what bench.worker.workload.prepare builds a case's model from."""

    registry: ModuleType
    families: ModuleType


class TreeLoadError(RuntimeError):
    """Another tree's implementations package cannot be imported beside this one."""


def _take_package() -> dict[str, ModuleType]:
    """Remove the `implementations` modules and the plugins registered into them from sys.modules; return them."""
    names = [name for name in sys.modules if name == PACKAGE or name.startswith((PACKAGE + ".", PLUGIN_PREFIX))]
    return {name: sys.modules.pop(name) for name in names}


def load_tree(tree: Path, plugins: Sequence[str] = ()) -> Source:
    """Import another tree's `implementations` package beside this one's, with `plugins` registered into it.

    The base package is imported under its own name while this tree's modules are set aside, every one of
    its modules loaded (its registry fills), and then the names given back to this tree. The base
    functions keep their own modules through their globals, so each side builds from its own code.
    """
    import implementations.registry  # noqa: F401 - this tree's package first: it keeps the name

    if not (tree / PACKAGE / "registry.py").is_file():
        raise TreeLoadError(f"cannot load {tree / PACKAGE}: no implementations registry there")
    ours = _take_package()
    sys.path.insert(0, str(tree))
    try:
        registry = importlib.import_module(f"{PACKAGE}.registry")
        families = importlib.import_module(f"{PACKAGE}.families")
        if not Path(registry.__file__).resolve().is_relative_to(tree.resolve()):
            raise ImportError(f"found {registry.__file__} instead")
        registry.all()
        for path in plugins:
            registry.load_plugin(path)
    except Exception as exc:
        raise TreeLoadError(f"cannot load {tree / PACKAGE}: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.remove(str(tree))
        _take_package()
        sys.modules.update(ours)
    return Source(registry, families)


def sample_alternating(
    steps: dict[str, object],
    case: Case,
    timing: Timing,
    per_call_s: float,
    deadline: float = float("inf"),
    calls: int | None = None,
) -> dict[str, timing_mod.Samples]:
    """Each side's blocks taken in ABBA order (the first side in `steps` first), by the project's timing rule
    (bench/worker/timing.py) applied to both at once: one block size for both, the larger of the two
    calibrations, and blocks until both sides meet the stop rule."""
    timers = {side: timing_mod.block_timer(fn, case.device, timing.clock, timing.cache) for side, fn in steps.items()}
    target = timing_mod.block_target_s(case.device)
    if calls is None:  # a repeat round keeps the first round's block size
        calls = max(timing_mod.calibrate(timer, target, per_call_s) for timer in timers.values())
    rule = stop_rule(timing, deadline)
    per_call: dict[str, list[float]] = {side: [] for side in steps}
    elapsed: dict[str, list[float]] = {side: [] for side in steps}
    spent = dict.fromkeys(steps, 0.0)
    order, reasons = list(steps), {}
    while len(reasons) < len(steps):
        for side in order:
            block = timers[side](calls)
            per_call[side].append(block.clock_s / calls)
            elapsed[side].append(block.elapsed_s / calls)
            spent[side] += block.spent_s
        order.reverse()
        now = time.monotonic()
        reasons = {side: r for side in steps if (r := timing_mod.stop_reason(per_call[side], spent[side], rule, now))}
    return {side: timing_mod.Samples(per_call[side], elapsed[side], calls, reasons[side]) for side in steps}


def measure_pair(
    case: Case,
    timing: Timing,
    threads: int,
    sources: dict[str, Source | None],
    peak_flops_per_s: float | None = None,
    repeat: bool = False,
    first: str = "base",
    calls: int | None = None,
) -> dict[str, dict]:
    """One round of a case on both sides: {"base": row, "new": row}. A side that fails is that side's row;
    the other is then timed alone (its row says `paired` False). `first` is built, warmed up and timed
    first (bench/ci/paired.py alternates it from process to process, so neither side always starts cold)."""
    wall_start, deadline = time.perf_counter(), deadline_for(timing, time.monotonic())
    rows, started = _start_sides(case, timing, threads, sources, first)
    paired = len(started) == 2
    samples = {}
    try:
        samples = _sample(case, timing, started, deadline, calls)
    except Exception:  # which side raised is not known here: drop the ones that fail alone, time the rest alone
        started, paired = _working(case, started, rows), False
        try:
            samples = _sample(case, timing, started, deadline, calls)
        except Exception as exc:
            for side in started:
                failed_row(rows[side], exc, case)
            started = {}
    for side, (workload, own_per_call_s) in started.items():
        row = rows[side]
        try:
            row["paired"] = paired
            row["first_side"] = first
            finish_case(row, workload, timing, threads, samples[side], own_per_call_s, peak_flops_per_s, repeat)
        except Exception as exc:
            failed_row(row, exc, case)
    for row in rows.values():
        row["wall_s"] = time.perf_counter() - wall_start
    return rows


def _start_sides(
    case: Case, timing: Timing, threads: int, sources: dict[str, Source | None], first: str
) -> tuple[dict[str, dict], dict[str, tuple]]:
    """Build and warm up each side, `first` first: every side's row, and (workload, per_call_s) of those that
    started (a side that failed has its failed row)."""
    rows: dict[str, dict] = {}
    started = {}
    for side in sorted(SIDES, key=lambda name: name != first):
        rows[side] = base_row(case, threads)
        try:
            # no baseline kept: the other side's allocations would count in a resident figure
            rows[side], workload, per_call_s, _ = start_case(case, timing, threads, sources[side], forget=not started)
            started[side] = (workload, per_call_s)
        except Exception as exc:
            failed_row(rows[side], exc, case)
    return rows, started


def _sample(
    case: Case, timing: Timing, started: dict, deadline: float, calls: int | None = None
) -> dict[str, timing_mod.Samples]:
    if not started:
        return {}
    per_call_s = max(per_call for _, per_call in started.values())
    steps = {side: w.step for side, (w, _) in started.items()}
    with matmul_precision(case):
        sample = callgrind.sample_sides if timing.clock == "instructions" else sample_alternating  # counted, not timed
        return sample(steps, case, timing, per_call_s, deadline, calls)


def _working(case: Case, started: dict, rows: dict) -> dict:
    """The sides whose step still runs alone; the others get their own error as their row."""
    working = {}
    for side, (workload, per_call_s) in started.items():
        try:
            with matmul_precision(case):
                workload.step()
            working[side] = (workload, per_call_s)
        except Exception as exc:
            failed_row(rows[side], exc, case)
    return working
