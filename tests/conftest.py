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
