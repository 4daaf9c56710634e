"""A sweep from start to finish on the parent side: check the request, open (or reopen) the run, run its cases.

The command (bench/commands/sweep.py) turns flags into a SweepRequest; this module does the rest and returns
the exit status and the run directory. Cases run in isolated workers (bench.run.runner) or as Ray tasks.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from bench.analysis.summary import status_counts
from bench.errors import UsageError
from bench.plan import instructions
from bench.plan.cases import describe_implementations, expand, family_baselines
from bench.plan.shard import select_shard, shard_run_id
from bench.plan.spec import SweepSpec, spec_from_dict
from bench.results import store
from bench.run.progress import Progress
from bench.run.runner import Runner, run_cases
from bench.worker.environment import check_devices, collect, default_threads
from implementations import registry

EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class SweepRequest:
    spec: SweepSpec
    plugins: tuple[str, ...]
    executor: dict  # {"name": "local" | "ray", "address": str | None}
    out: str = "results"
    run_id: str | None = None
    shard: dict | None = None  # {"index": K, "count": N}
    resume_dir: Path | None = None
    progress: str = "auto"
    profile: bool = False
    reverse: bool = False  # the case list backwards (bench/experiments/order_check.py)


def resume_request(run_dir: Path, executor: str | None, address: str | None, **options) -> SweepRequest:
    """The request that finishes the interrupted run in `run_dir`, as its run.json recorded it."""
    meta = store.read_meta(run_dir)
    spec = spec_from_dict(meta["spec"], f"{run_dir}/run.json")
    plugins = tuple(meta.get("plugins", []))
    for path in plugins:
        registry.load_plugin(path)
    recorded = meta.get("executor") or {}
    chosen = {"name": executor or recorded.get("name", "local"), "address": address or recorded.get("address")}
    return SweepRequest(
        spec, plugins, chosen, run_id=meta["run_id"], shard=meta.get("shard"), resume_dir=run_dir, **options
    )


def run_sweep(request: SweepRequest) -> tuple[int, Path | None]:
    """Measure every case of the request; (exit status, run directory)."""
    cases, threads = _cases(request)
    ray_started = _connect_ray(request.executor, cases, threads) if request.executor["name"] == "ray" else False
    run_dir = None
    try:
        run_dir, run_id = _open_run(request, threads, cases)
        print(
            f"rnnbench sweep: {len(cases)} cases ({sum(r is None for _, r in cases)} to run) -> {run_dir}",
            file=sys.stderr,
        )
        lost = _execute(request, run_dir, run_id, cases, threads, ray_started)
    except KeyboardInterrupt:
        if run_dir is not None:
            store.update_meta(run_dir, status="interrupted", finished_at=store.now())
            print(f"rnnbench sweep: interrupted; resume with: rnnbench sweep --resume {run_dir}", file=sys.stderr)
        return EXIT_INTERRUPTED, run_dir
    finally:
        if ray_started:
            from bench.run import ray_executor

            ray_executor.shutdown()
    if lost:
        store.update_meta(run_dir, status="interrupted", finished_at=store.now())
        print(
            f"rnnbench sweep: {lost} case(s) lost to Ray failures (no row); run them with: "
            f"rnnbench sweep --resume {run_dir}",
            file=sys.stderr,
        )
        return 1, run_dir
    frame = store.read_measurements(run_dir)
    store.update_meta(run_dir, status="complete", finished_at=store.now(), counts=status_counts(frame))
    return 0, run_dir


def _cases(request: SweepRequest) -> tuple[list, int]:
    """The request's cases (each with its skip reason), after checking everything a user could get wrong."""
    executor, spec = request.executor, request.spec
    if executor["address"] and executor["name"] != "ray":
        raise UsageError("--address needs --executor ray")
    if executor["name"] == "ray" and (spec.timing.rounds > 1 or request.profile):
        raise UsageError("--rounds above 1 and --profile need the local executor (they pool or profile on one machine)")
    for grid in spec.grids:
        registry.match(grid.impls)  # an unknown implementation or a glob matching nothing is bad input
    if spec.timing.clock == instructions.CLOCK:  # CUDA cases are skipped, so no GPU is needed; Valgrind is
        instructions.check_run(executor["name"], request.profile)
        from bench.run.callgrind import check_available

        check_available()
    elif executor["name"] == "local":  # with Ray, the cluster's GPUs count, not this machine's
        for grid in spec.grids:
            check_devices(grid.devices)
    cases = expand(spec, registry.all())
    if not cases:
        raise UsageError("the spec selects no case")
    if request.shard:
        cases = select_shard(cases, request.shard["index"], request.shard["count"])
    if request.reverse:
        cases = cases[::-1]
    return cases, instructions.threads(spec.timing, default_threads())


def _open_run(request: SweepRequest, threads: int, cases) -> tuple[Path, str]:
    if request.resume_dir is not None:
        store.update_meta(request.resume_dir, status="running", resumed_at=store.now(), executor=request.executor)
        store.seal(request.resume_dir)  # fold the interrupted run's row logs into its table before going on
        return request.resume_dir, request.run_id
    run_id = request.run_id or store.new_run_id()
    if request.shard:
        run_id = shard_run_id(run_id, request.shard["index"], request.shard["count"])
    if "/" in run_id or run_id in ("", ".", ".."):
        raise UsageError(f"invalid run id {run_id!r}")
    meta = store.new_run_meta(
        request.spec.as_dict(),
        list(request.plugins),
        request.executor,
        collect(threads),
        implementations=describe_implementations(registry.all(), cases),
        baselines=family_baselines(),
    )
    return store.create_run(request.out, run_id, meta), run_id


def _execute(request: SweepRequest, run_dir: Path, run_id: str, cases, threads: int, ray_started: bool) -> int:
    progress = Progress(request.progress)
    try:
        if request.executor["name"] == "ray":
            from bench.run import ray_executor

            plugins = list(request.plugins)
            return ray_executor.run_cases(
                run_dir, run_id, request.spec.timing, threads, plugins, cases, progress, own_instance=ray_started
            )
        return _run_local(request, run_dir, run_id, threads, cases, progress)
    finally:
        progress.close()
        store.seal(run_dir)  # the run's table and CSV, compacted from its row log, however the run ended


def _connect_ray(executor: dict, cases: list, threads: int) -> bool:
    try:
        from bench.run import ray_executor
    except ImportError:
        raise UsageError("--executor ray needs Ray: pip install 'rnnbench[ray]'") from None
    started = ray_executor.connect(executor["address"], threads)
    try:
        ray_executor.check_resources(cases, threads)
    except UsageError:
        if started:
            ray_executor.shutdown()
        raise
    return started


def _run_local(request: SweepRequest, run_dir: Path, run_id: str, threads: int, cases, progress) -> int:
    """The local executor: one isolated worker on this machine (bench.run.runner)."""
    runnable = sorted({(c.device, c.dtype) for c, reason in cases if reason is None})
    if request.spec.timing.clock == instructions.CLOCK:
        runnable = []  # no FLOP rate from counts, so no matmul peak (which would take minutes under Valgrind)
    runner = Runner(run_dir, run_id, request.spec.timing, threads, list(request.plugins))
    try:
        peaks = dict(store.read_meta(run_dir).get("peak_flops_per_s") or {})
        for device, dtype in runnable:
            if f"{device}/{dtype}" not in peaks:
                peaks[f"{device}/{dtype}"] = runner.peak_flops(device, dtype)
        sources = {**(store.read_meta(run_dir).get("peak_sources") or {}), **runner.peak_sources}
        store.update_meta(run_dir, peak_flops_per_s=peaks, peak_sources=sources)
        run_cases(runner, cases, peaks, progress)
        if request.profile:  # after every case is timed, so the profiler never runs during a timing
            from bench.run.profiling import profile_measured

            progress.close()
            profile_measured(runner, run_dir, cases)
    finally:
        runner.close()
    return 0
