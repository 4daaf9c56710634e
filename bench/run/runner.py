"""Runs cases in an isolated worker process, one at a time, and stores each row as it finishes.

A case that crashes the worker (segfault, abort) is recorded as `crashed`, one that outlives its
timeout as `timeout`; the worker is restarted and the sweep goes on. Ctrl-C stops the worker, marks the
run interrupted and leaves it resumable. Each round of a sweep runs in a worker of its own, so that rounds
are independent replicates (see bench/run/pooling.py).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.plan.cases import Case
from bench.plan.spec import Timing, isolation_for
from bench.results import store
from bench.run.pooling import pool_rows
from bench.run.worker_process import Launch, Worker, WorkerDied, WorkerTimeout, log_tail
from bench.worker import protocol
from bench.worker.measure import base_row

CACHE_VARIABLES = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")  # on-disk compile caches a case could inherit


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
        # process-isolated cases run here, one process each, while the shared worker waits idle for the next
        # shared case (stopping it for each isolated case cost a fresh start, ~3-5 s, per isolated case)
        self.isolated = Worker(threads, plugins, run_dir / "logs" / "worker.log", worker_args, launch)
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
                self.isolated.stop()
                self.isolated.extra_env = {name: str(Path(caches) / name.lower()) for name in CACHE_VARIABLES}
                try:
                    reply = self._request(case, message, self.isolated)
                finally:
                    self.isolated.stop()
                    self.isolated.extra_env = {}
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

    def _request(self, case: Case, message, worker: Worker | None = None):
        """The worker's reply, or the case's failed row (a dict) when the worker crashed or hung."""
        worker = worker or self.worker
        offset = worker.log_path.stat().st_size if worker.log_path.exists() else 0
        start = time.perf_counter()
        try:
            return worker.request(message, self.timing.timeout_s)
        except WorkerTimeout:
            row = {
                **base_row(case, self.threads),
                "status": "timeout",
                "error": f"no result within the {self.timing.timeout_s * worker.launch.timeout_scale:g} s "
                "case timeout; worker killed",
            }
        except WorkerDied as exc:
            tail = log_tail(worker.log_path, offset)
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
        self.isolated.stop()


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
    work = _work(cases, rows, runner.timing.rounds)
    current_round = None
    for index, (number, case, reason) in enumerate(work, start=1):
        if number != current_round:
            if number > 1:
                runner.start_round()
            current_round = number
        if progress:
            progress(index, len(work), case, None)
        row = _measure_round(runner, number, case, reason, rows.get(case.case_id), peaks)
        if row is None:
            continue
        row["run_id"] = runner.run_id
        rows[case.case_id] = row
        store.append_rows(runner.run_dir, [row])
        if progress:
            progress(index, len(work), case, row)


def _work(cases: list[tuple[Case, str | None]], rows: dict, rounds: int) -> list[tuple[int, Case, str | None]]:
    """(round, case, skip reason) still to do, round by round: what the table lacks or has fewer rounds of."""
    work: list[tuple[int, Case, str | None]] = []
    for number in range(1, rounds + 1):
        for case, reason in cases:
            previous = rows.get(case.case_id)
            if number == 1 and previous is None:
                work.append((number, case, reason))
            elif number > 1 and reason is None and (previous is None or _needs_round(previous, number)):
                work.append((number, case, reason))
    return work


def _measure_round(
    runner: Runner, number: int, case: Case, reason: str | None, previous: dict | None, peaks: dict
) -> dict | None:
    """The case's row after round `number`: its first row, or the earlier rounds pooled with this one's; None
    where a later round has nothing to pool with."""
    if number == 1:
        row = (
            skipped_row(case, reason, runner.threads)
            if reason is not None
            else runner.run_case(case, peaks.get(f"{case.device}/{case.dtype}"))
        )
        row["rounds"] = 1 if row.get("status") == "ok" else None
        return row
    if previous is None or previous.get("status") != "ok":
        return None  # the first round did not measure it: nothing to pool with
    calls = int(previous.get("calls_per_sample") or 0) or None  # the block size stays the first round's
    return pool_rows([previous, runner.run_case(case, peaks.get(f"{case.device}/{case.dtype}"), True, calls)])


def _needs_round(row: dict, number: int) -> bool:
    return row.get("status") == "ok" and int(row.get("rounds") or 1) < number
