"""The parent's side of the instructions clock: start the worker under Valgrind's Callgrind.

The worker (bench/worker/callgrind.py) counts; this module only says how to start it. Valgrind comes from
the distribution (Debian: `apt-get install valgrind`); without it the clock is refused before anything runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.errors import UsageError
from bench.worker.callgrind import OUT_ENV, OUT_NAME

STARTUP_TIMEOUT_S = 900.0  # importing torch under Valgrind takes ~20-50 s of CPU; a loaded machine stretches it
TIMEOUT_SCALE = 10.0  # a case's timeout_s is in native seconds; under Valgrind code runs tens of times slower
# Collection and instrumentation start off: only the counted calls are collected, and the imports run
# uninstrumented (the worker switches instrumentation on through vgdb). No per-line or per-instruction
# data: a dump holds per-function totals, enough for the one total the worker reads.
OPTIONS = (
    "--tool=callgrind",
    "--collect-atstart=no",
    "--instr-atstart=no",
    "--vgdb=yes",
    "--dump-line=no",
    "--dump-instr=no",
    "--compress-strings=no",
)


def check_available() -> None:
    """A UsageError unless valgrind and vgdb are on PATH."""
    missing = [tool for tool in ("valgrind", "vgdb") if shutil.which(tool) is None]
    if missing:
        raise UsageError(
            f"the instructions clock needs Valgrind ({' and '.join(missing)} not found): apt-get install valgrind"
        )


def launch_options(out_dir: Path) -> tuple[tuple[str, ...], dict[str, str], float, float]:
    """The worker's launch (bench.run.worker_process.Launch): Valgrind before its command line, the folder its
    dumps go to (made here) in its environment, a startup timeout for importing torch under Valgrind, the timeout's
    scale."""
    check_available()
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = ("valgrind", *OPTIONS, f"--callgrind-out-file={out_dir / OUT_NAME}.%p")
    # PYTHONHASHSEED fixed: string hashes, and with them the probes of every dict lookup, the same in every worker
    return prefix, {OUT_ENV: str(out_dir), "PYTHONHASHSEED": "0"}, STARTUP_TIMEOUT_S, TIMEOUT_SCALE
