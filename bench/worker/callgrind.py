"""Instruction counts of a call, in a worker that runs under Valgrind's Callgrind (the "instructions" clock).

The runner starts the worker as `valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no ...
python -m bench.worker` (bench/run/callgrind.py), with OUT_ENV naming the folder Callgrind dumps into.
Python and torch are imported uninstrumented, which costs about a third of the CPU time of importing them
instrumented; then `start_instrumentation` asks Valgrind's gdb server (vgdb) to instrument from here on.
Collection stays off except around the counted calls: torch's Callgrind client requests
(`torch._C._valgrind_toggle`, `_valgrind_toggle_and_dump_stats`) switch it on before a block of calls and
off after, and each dump's total is read back from its file.

A count is of instructions executed on the CPU by this process (all its threads); Valgrind runs threads one
at a time, so counts are taken with one thread. Counts of the same calls repeat within ~0.1%: no timing
statistics are needed, only the median over a few repeats.
"""

from __future__ import annotations

import gc
import os
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

OUT_ENV = "RNNBENCH_CALLGRIND_OUT"  # the folder Callgrind's --callgrind-out-file points into; set by the runner
OUT_NAME = "callgrind.out"  # Callgrind writes OUT_NAME.<pid>.<dump number>
CALLS_PER_REPEAT = 3
# Python's specializing interpreter (3.11+) rewrites a function's bytecode over its first calls: the same call
# counted 40 times in a row here varied by up to 18% over the first dozen, then repeated to the instruction.
WARMUP_CALLS = 12
REPEATS = 3
VGDB_TIMEOUT_S = 120.0
_TOTAL = re.compile(rb"^(?:summary|totals):\s*(\d+)", re.MULTILINE)
_dumps = 0  # dumps this process has made: the number of the next file is _dumps + 1


@dataclass(frozen=True)
class Counts:
    """What one case's counting gives; `as_row` is its part of the measurements table's row."""

    instructions_per_call: float  # median over repeats of (repeat's count - empty calls' count) / calls
    instruction_counts: list[int]  # raw count of each repeat (its calls, loop and empty-call cost included)
    empty_call_instructions: float  # median count per call of a call that does nothing
    calls_per_sample: int  # calls counted in each repeat

    def as_row(self) -> dict:
        return asdict(self)


def under_callgrind() -> bool:
    """Whether this worker was started under Callgrind by the runner."""
    return bool(os.environ.get(OUT_ENV))


def _spin(seconds: float) -> None:
    """Run Python code for a while: Valgrind serves vgdb between guest basic blocks, which needs no ptrace."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(1000))


def start_instrumentation() -> None:
    """Have Callgrind instrument from now on (it started with --instr-atstart=no); raises RuntimeError."""
    # --max-invoke-ms=0: never ptrace this process (refused where ptrace is restricted, e.g. Yama on Ubuntu);
    # it keeps running guest code below, so Valgrind's own polling answers vgdb.
    command = ["vgdb", "--max-invoke-ms=0", f"--pid={os.getpid()}", "instrumentation", "on"]
    vgdb = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
    deadline = time.monotonic() + VGDB_TIMEOUT_S
    while vgdb.poll() is None:
        if time.monotonic() > deadline:
            vgdb.kill()
            raise RuntimeError(f"vgdb did not switch Callgrind's instrumentation on within {VGDB_TIMEOUT_S:g} s")
        _spin(0.05)
    if vgdb.returncode != 0:
        message = vgdb.stderr.read().decode(errors="replace").strip().splitlines() if vgdb.stderr else []
        raise RuntimeError(f"vgdb instrumentation on failed: {(message or ['?'])[-1]}")
    if count_block(lambda: None, 1) <= 0:
        raise RuntimeError("Callgrind counted nothing after vgdb switched instrumentation on")


def _read_dump(number: int) -> int:
    path = Path(os.environ[OUT_ENV]) / f"{OUT_NAME}.{os.getpid()}.{number}"
    data = path.read_bytes()
    path.unlink()
    found = _TOTAL.search(data)
    if not found:
        raise RuntimeError(f"no total in Callgrind dump {path}")
    return int(found.group(1))


def count_block(fn: Callable[[], object], calls: int) -> int:
    """Instructions of `calls` calls of `fn` in a loop, counted by Callgrind: collection on, calls, off, dump.

    Python's cyclic garbage collector is off meanwhile, as timeit has it: a collection that happens to start
    inside a block would add the cost of walking every object torch holds (several percent of a small case).
    """
    global _dumps
    enabled = gc.isenabled()
    gc.disable()
    torch._C._valgrind_toggle()
    try:
        for _ in range(calls):
            fn()
    finally:  # collection off again whatever happened, or every later block would count inverted
        torch._C._valgrind_toggle_and_dump_stats()
        _dumps += 1
        if enabled:
            gc.enable()
    return _read_dump(_dumps)


def _noop() -> None:
    return None


def count_calls(fn: Callable[[], object], calls: int = CALLS_PER_REPEAT, repeats: int = REPEATS) -> Counts:
    """Instructions per call of `fn`: `repeats` counted blocks of `calls` calls, each less the same number of
    empty calls (the loop, the call itself and the client requests), after WARMUP_CALLS uncounted calls and one
    counted block that is dropped (the first block after warm-up can still come out higher than the next)."""
    for _ in range(WARMUP_CALLS):
        fn()
    count_block(fn, calls)
    empty = statistics.median(count_block(_noop, calls) for _ in range(repeats))
    raw = [count_block(fn, calls) for _ in range(repeats)]
    return Counts(
        instructions_per_call=statistics.median((count - empty) / calls for count in raw),
        instruction_counts=raw,
        empty_call_instructions=empty / calls,
        calls_per_sample=calls,
    )



def measure(fn: Callable[[], object], *_timing_options) -> Counts:
    """bench.worker.timing.measure's place under the instructions clock: the case's counts."""
    return count_calls(fn)


def sample_sides(steps: dict[str, Callable[[], object]], *_timing_options) -> dict[str, Counts]:
    """bench.worker.side_by_side.sample_alternating's place: each side counted in turn (counts need no alternation:
    what the machine does meanwhile does not change them)."""
    return {side: count_calls(fn) for side, fn in steps.items()}
