"""Where a run happened: the facts a reader needs to trust or compare its numbers."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
from pathlib import Path

import torch


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _onednn_version() -> str | None:
    config = torch.__config__.show()
    match = re.search(r"(?:oneDNN|MKL-DNN)[^\n]*?v(\d+(?:\.\d+)+)", config)
    return match.group(1) if match else None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=10, cwd=Path(__file__).resolve().parent
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def collect(threads: int) -> dict:
    cuda = torch.cuda.is_available()
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "onednn": _onednn_version(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "gpus": gpus,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_commit_time": _git("show", "-s", "--format=%cI", "HEAD"),  # what `rnnbench history` orders runs by
        "git_branch": _git("rev-parse", "--abbrev-ref", "HEAD"),
        "git_dirty": None if status is None else bool(status),
    }


def default_threads() -> int:
    """One intra-op thread per usable core but one, which is left to the OS and other processes.

    On a shared runner, a thread that loses its core stalls every OpenMP barrier of the others: timing
    with as many threads as cores turns one background process into a 10x slowdown (docs/measurement.md).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def check_devices(devices) -> None:
    """A device this machine does not have is bad input, caught before any work starts."""
    from bench.errors import UsageError

    for device in devices:
        if str(device).startswith("cuda") and not torch.cuda.is_available():
            raise UsageError(f"device {device!r} requested but CUDA is not available on this machine")
        if str(device).startswith("cuda:") and int(str(device).split(":", 1)[1]) >= torch.cuda.device_count():
            raise UsageError(f"device {device!r} requested but this machine has {torch.cuda.device_count()} GPU(s)")
