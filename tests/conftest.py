import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = Path(__file__).resolve().parent / "plugins"
# the smallest case shape the end-to-end sweep tests run: seconds per case, whatever is being tested; fixed lengths,
# so that the default config's variable-length grid adds no case to them
TINY_SHAPE = ["--seq-len", "4", "--input-size", "8", "--hidden-size", "8", "--lengths", "fixed"]


def pytest_configure(config):
    """Under pytest-xdist (`make test` runs `pytest -n auto`), each worker gets cores of its own: the cases it
    measures, and the sweeps it starts (whose default thread count is one per core they may use), do not spin
    against the other worker's threads, which on a small machine makes a case many times slower."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ...
    if not worker or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers <= len(cores):
        os.sched_setaffinity(0, cores[int(worker[2:]) :: workers])


def main_status(argv: list[str]) -> int:
    """`rnnbench ARGV` in this process: its exit status, argparse's own errors (SystemExit) included."""
    from bench.cli import main

    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


def run_cli(*args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m bench ...` as a user would, in a subprocess."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env=env,
    )


@pytest.fixture
def cli():
    return run_cli
