"""One worker process (`python -m bench.worker`) seen from the parent: how it is launched, one request and its
reply over the pipe, and what is said when it dies or hangs. bench.run.runner decides what to ask it."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.worker import protocol
from bench.worker.protocol import STARTED

STARTUP_TIMEOUT_S = 120.0


class WorkerDied(RuntimeError):
    pass


class WorkerTimeout(RuntimeError):
    pass


class WorkerCannotLoad(RuntimeError):
    """The worker could not import the base tree it was given: every pair would fail alike."""


@dataclass(frozen=True)
class Launch:
    """How a worker is started: a command before its own (e.g. Valgrind, see bench/run/callgrind.py), what its
    environment adds, how long it may take to get ready, and by how much it stretches a case's timeout."""

    prefix: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    startup_timeout_s: float = STARTUP_TIMEOUT_S
    timeout_scale: float = 1.0


class Worker:
    """One `python -m bench.worker` process; started lazily, replaced after a crash or hang."""

    def __init__(
        self,
        threads: int,
        plugins: list[str],
        log_path: Path,
        extra_args: tuple[str, ...] = (),
        launch: Launch | None = None,
    ) -> None:
        self.threads = threads
        self.plugins = plugins
        self.log_path = log_path
        self.extra_args = extra_args
        self.launch = launch or Launch()
        self.process: subprocess.Popen | None = None
        self._buffer = b""
        self.extra_env: dict[str, str] = {}  # for the next start: a process-isolated case's own cache folders

    def _start(self) -> None:
        cmd = [*self.launch.prefix, sys.executable, "-m", "bench.worker", "--threads", str(self.threads)]
        for plugin in self.plugins:
            cmd += ["--plugin", str(Path(plugin).resolve())]
        cmd += self.extra_args
        env = dict(os.environ, **self.launch.env, PYTHONUNBUFFERED="1", RNNBENCH_PARENT_PID=str(os.getpid()))
        env.update(self.extra_env)
        env["OPENBLAS_NUM_THREADS"] = str(self.threads)  # numpy's BLAS (the peak's OpenBLAS candidate) too
        project_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (project_root, env.get("PYTHONPATH")) if p)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True
        )
        log.close()
        self._buffer = b""
        ready = self._read_line(self.launch.startup_timeout_s)
        if isinstance(ready, protocol.Ready) and ready.load_error:
            self.stop()
            raise WorkerCannotLoad(ready.load_error)

    def _read_line(self, timeout_s: float):
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + timeout_s
        fd = self.process.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.stop()
                    raise WorkerTimeout(f"no answer within {timeout_s:.0f} s")
                if not selector.select(timeout=min(remaining, 1.0)):
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    code = self.process.wait()
                    self.process = None
                    raise WorkerDied(_describe_exit(code))
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return protocol.decode(line)

    def request(self, message, timeout_s: float):
        """Send one request (a bench.worker.protocol message); the worker's reply."""
        timeout_s *= self.launch.timeout_scale
        if self.process is None:
            self._start()
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write((protocol.encode(message) + "\n").encode())
            self.process.stdin.flush()
        except BrokenPipeError:
            code = self.process.wait()
            self.process = None
            raise WorkerDied(_describe_exit(code)) from None
        return self._read_line(timeout_s)

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.process = None


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"worker killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"worker killed by signal {-code}"
    return f"worker exited with status {code}"


def log_tail(path: Path, offset: int, lines: int = 3) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    noise = ("USDT:", STARTED)
    kept = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith(noise)]
    return " | ".join(kept[-lines:])
