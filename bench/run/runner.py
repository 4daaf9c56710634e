"""Runs cases in an isolated worker process, one at a time, and stores each row as it finishes.

A case that crashes the worker (segfault, abort) is recorded as `crashed`, one that outlives its
timeout as `timeout`; the worker is restarted and the sweep goes on. Ctrl-C stops the worker, marks the
run interrupted and leaves it resumable. Each round of a sweep runs in a worker of its own, so that rounds
are independent replicates (see bench/run/pooling.py).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.plan.cases import Case
from bench.plan.spec import Timing, isolation_for
from bench.results import store
from bench.run.pooling import pool_rows
from bench.worker import protocol
from bench.worker.measure import base_row
from bench.worker.protocol import STARTED

STARTUP_TIMEOUT_S = 120.0
CACHE_VARIABLES = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")  # on-disk compile caches a case could inherit


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


def _log_tail(path: Path, offset: int, lines: int = 3) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    noise = ("USDT:", STARTED)
    kept = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith(noise)]
    return " | ".join(kept[-lines:])


def skipped_row(case: Case, reason: str, threads: int) -> dict:
    return {**base_row(case, threads), "status": "skipped", "error": reason}


ProgressFn = Callable[[int, int, Case, dict | None], None]


class Runner:
    def __init__(
        self,
        run_dir: Path,
        run_id: str,
        timing: Timing,
        threads: int,
        plugins: list[str],
        worker_args: tuple[str, ...] = (),
    ) -> None:
        self.run_dir = run_dir
        self.run_id = run_id
        self.timing = timing
        self.threads = threads
        launch = None
        if timing.clock == "instructions":  # the worker counts instructions under Callgrind
            from bench.run import callgrind

            launch = Launch(*callgrind.launch_options(run_dir / "callgrind"))
        self.worker = Worker(threads, plugins, run_dir / "logs" / "worker.log", worker_args, launch)
        self.peak_sources: dict[str, dict] = {}

    def peak_flops(self, device: str, dtype: str) -> float | None:
        """The matmul peak (bench/worker/peak.py); what each library reached is kept in `peak_sources`."""
        try:
            reply = self.worker.request(protocol.MatmulPeak(device, dtype), self.timing.timeout_s)
        except (WorkerDied, WorkerTimeout):
            return None
        self.peak_sources[f"{device}/{dtype}"] = {"library": reply.library, "candidates": reply.candidates,
                                                  "size": reply.size}  # fmt: skip
        return reply.peak_flops_per_s

    def environment(self) -> dict:
        return self.worker.request(protocol.Environment(), self.timing.timeout_s).environment

    def run_case(
        self, case: Case, peak_flops_per_s: float | None, repeat: bool = False, calls: int | None = None
    ) -> dict:
        """One case; under `process` isolation in a worker of its own, with empty inductor/Triton caches.
        `calls`: the block size of the case's first round, which a repeat round keeps."""
        message = protocol.MeasureCase(case, self.timing, peak_flops_per_s, repeat, calls)
        isolation = isolation_for(case.impl, self.timing.isolation)
        if isolation == "shared":
            reply = self._request(case, message)
        else:
            with tempfile.TemporaryDirectory(prefix="rnnbench-case-") as caches:
                self.worker.stop()
                self.worker.extra_env = {name: str(Path(caches) / name.lower()) for name in CACHE_VARIABLES}
                try:
                    reply = self._request(case, message)
                finally:
                    self.worker.stop()
                    self.worker.extra_env = {}
        row = reply.row if isinstance(reply, protocol.CaseResult) else reply
        row["isolation"] = isolation
        return row

    def run_pair(
        self,
        case: Case,
        peak_flops_per_s: float | None,
        repeat: bool = False,
        first: str = "base",
        calls: int | None = None,
    ) -> dict[str, dict]:
        """Both sides of a case in a worker started with --base-tree (bench/worker/side_by_side.py)."""
        message = protocol.MeasurePair(case, self.timing, peak_flops_per_s, repeat, first, calls)
        reply = self._request(case, message)
        rows = reply.rows if isinstance(reply, protocol.PairResult) else {side: dict(reply) for side in ("base", "new")}
        for row in rows.values():  # a crash or hang takes the process, so both sides
            row["isolation"] = "shared"  # one process measures every case of the round, both sides
        return rows

    def _request(self, case: Case, message):
        """The worker's reply, or the case's failed row (a dict) when the worker crashed or hung."""
        offset = self.worker.log_path.stat().st_size if self.worker.log_path.exists() else 0
        start = time.perf_counter()
        try:
            return self.worker.request(message, self.timing.timeout_s)
        except WorkerTimeout:
            row = {
                **base_row(case, self.threads),
                "status": "timeout",
                "error": f"no result within the {self.timing.timeout_s * self.worker.launch.timeout_scale:g} s "
                "case timeout; worker killed",
            }
        except WorkerDied as exc:
            tail = _log_tail(self.worker.log_path, offset)
            row = {
                **base_row(case, self.threads),
                "status": "crashed",
                "error": f"{exc}" + (f": {tail}" if tail else ""),
            }
        row["wall_s"] = time.perf_counter() - start
        return row

    def train(self, case: Case, task: str, steps: int, seed: int) -> dict:
        """Train one implementation in the worker (bench/worker/training.py): {"row": ..., "curve": {...}}."""
        reply = self._request(case, protocol.Train(case, task, steps, seed))
        if not isinstance(reply, protocol.TrainResult):  # the failed row of a crash or hang
            return {"row": reply, "curve": {}}
        return {"row": reply.row, "curve": reply.curve}

    def profile(self, case: Case, **options) -> protocol.ProfileResult:
        """Profile a case in the worker (bench.worker.profiling.profile_request); in a sweep, after all timing."""
        message = protocol.Profile(case, str(self.run_dir / "traces"), self.run_id, options)
        try:
            return self.worker.request(message, self.timing.timeout_s)
        except (WorkerDied, WorkerTimeout) as exc:
            return protocol.ProfileResult(error=str(exc))

    def start_round(self) -> None:
        """A round is a process: stop the worker that measured the last one; the next case starts a fresh one."""
        self.worker.stop()

    def close(self) -> None:
        self.worker.stop()


def run_cases(
    runner: Runner,
    cases: list[tuple[Case, str | None]],
    peaks: dict[str, float | None],
    progress: ProgressFn | None = None,
) -> None:
    """Measure every case not yet in the run's table, appending each row as it finishes.

    With `timing.rounds` > 1 the whole list is measured again, round after round, each round in a fresh
    worker process, and each ok case's samples are pooled (its per-round medians kept apart): a burst of
    background load then hits one round of many cases instead of all the samples of one, slow drift spreads
    over every case alike, and a process's own luck (memory layout, allocator state) is one round's, not
    the whole case's. Resuming continues the rounds.
    """
    frame = store.read_measurements(runner.run_dir)
    rows = {r["case_id"]: r for r in frame.to_dict("records")} if len(frame) else {}
    rounds = runner.timing.rounds
    work: list[tuple[int, Case, str | None]] = []
    for number in range(1, rounds + 1):
        for case, reason in cases:
            previous = rows.get(case.case_id)
            if number == 1 and previous is None:
                work.append((number, case, reason))
            elif number > 1 and reason is None and (previous is None or _needs_round(previous, number)):
                work.append((number, case, reason))
    current_round = None
    for index, (number, case, reason) in enumerate(work, start=1):
        if number != current_round:
            if number > 1:
                runner.start_round()
            current_round = number
        if progress:
            progress(index, len(work), case, None)
        if number == 1:
            row = (
                skipped_row(case, reason, runner.threads)
                if reason is not None
                else runner.run_case(case, peaks.get(f"{case.device}/{case.dtype}"))
            )
            row["rounds"] = 1 if row.get("status") == "ok" else None
        else:
            previous = rows.get(case.case_id)
            if previous is None or previous.get("status") != "ok":
                continue  # the first round did not measure it: nothing to pool with
            calls = int(previous.get("calls_per_sample") or 0) or None  # the block size stays the first round's
            row = pool_rows([previous, runner.run_case(case, peaks.get(f"{case.device}/{case.dtype}"), True, calls)])
        row["run_id"] = runner.run_id
        rows[case.case_id] = row
        store.append_rows(runner.run_dir, [row])
        if progress:
            progress(index, len(work), case, row)


def _needs_round(row: dict, number: int) -> bool:
    return row.get("status") == "ok" and int(row.get("rounds") or 1) < number
