"""`rnnbench sweep`: measure the registry over a grid of shapes into results/<run_id>/."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.analysis.summary import status_counts
from bench.errors import UsageError
from bench.plan.cases import expand
from bench.plan.shard import parse_shard, select_shard, shard_run_id
from bench.plan.spec import SweepSpec, load_spec, spec_from_dict, with_overrides
from bench.results import store
from bench.run.progress import Progress
from bench.run.runner import Runner, run_cases
from bench.worker.environment import check_devices, collect, default_threads
from implementations import registry

HELP = "measure latency, memory, compile time and correctness over a grid of cases"
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.toml"


def _csv(kind):
    def parse(text: str) -> list:
        try:
            return [kind(part.strip()) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__} values, got {text!r}") from None

    return parse


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "bi"):
        return True
    if lowered in ("false", "0", "no", "uni"):
        return False
    raise ValueError(text)


_bool.__name__ = "true/false"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        help=f"sweep spec (TOML); default {DEFAULT_CONFIG.relative_to(Path.cwd())}"
        if DEFAULT_CONFIG.is_relative_to(Path.cwd())
        else "sweep spec (TOML)",
    )
    axes = parser.add_argument_group("axes (override the config; comma-separated lists)")
    axes.add_argument("--impl", type=_csv(str), help="implementation globs, e.g. 'lstm.*'")
    axes.add_argument("--device", type=_csv(str))
    axes.add_argument("--dtype", type=_csv(str))
    axes.add_argument("--mode", type=_csv(str), help="inference,training")
    for axis in ("batch", "seq-len", "input-size", "hidden-size", "num-layers"):
        axes.add_argument(f"--{axis}", type=_csv(int))
    axes.add_argument("--bidirectional", type=_csv(_bool), help="false,true")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: one per core)")
    parser.add_argument("--budget-s", type=float, help="time budget per timed quantity of a case")
    parser.add_argument("--timeout-s", type=float, help="per-case timeout, compile included")
    parser.add_argument("--rounds", type=int, help="times through the case list, samples pooled per case")
    parser.add_argument("--clock", choices=["wall", "cpu"], help="time elapsed (wall) or the process's CPU time (cpu)")
    parser.add_argument("--no-check", action="store_true", help="skip the correctness check of each case")
    parser.add_argument("--out", default="results", help="parent folder of run directories (results)")
    parser.add_argument("--run-id", help="name of the run directory (default: time stamp + random suffix)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="finish an interrupted run; re-runs nothing measured")
    parser.add_argument("--no-report", action="store_true", help="do not write the HTML report at the end")
    parser.add_argument(
        "--shard", metavar="K/N", help="run only shard K of N (balanced by FLOPs); merge with 'rnnbench merge'"
    )
    parser.add_argument("--progress", choices=["auto", "bar", "plain", "none"], default="auto")
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="local: one isolated worker here (default); ray: each case a Ray task (pip install rnnbench[ray])",
    )
    parser.add_argument(
        "--address",
        help="with --executor ray: the cluster to join (auto, HOST:PORT, ray://HOST:10001); default: local Ray",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after timing, write a profiler trace and top operators for every ok case",
    )


def spec_from_args(args: argparse.Namespace) -> SweepSpec:
    """The spec the flags describe: the config file's, with the flags' axes and timing over it."""
    spec = load_spec(args.config or DEFAULT_CONFIG)
    spec = with_overrides(
        spec,
        impls=args.impl,
        devices=args.device,
        dtypes=args.dtype,
        modes=args.mode,
        batch=args.batch,
        seq_len=args.seq_len,
        input_size=args.input_size,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        bidirectional=args.bidirectional,
    )
    timing = {
        k: v
        for k, v in {
            "threads": args.threads,
            "budget_s": args.budget_s,
            "timeout_s": args.timeout_s,
            "rounds": args.rounds,
            "clock": args.clock,
        }.items()
        if v is not None
    }
    if args.no_check:
        timing["check"] = False
    if timing:
        import dataclasses

        spec = dataclasses.replace(spec, timing=dataclasses.replace(spec.timing, **timing))
        if spec.timing.budget_s < spec.timing.min_time_s:
            spec = dataclasses.replace(spec, timing=dataclasses.replace(spec.timing, min_time_s=spec.timing.budget_s))
        from bench.plan.spec import validate

        validate(spec, "command line")
    return spec


def _plugins(args: argparse.Namespace) -> list[str]:
    return [str(Path(p).resolve()) for p in args.plugin]


def run(args: argparse.Namespace) -> int:
    if args.resume:
        run_dir = Path(args.resume)
        meta = store.read_meta(run_dir)
        spec = spec_from_dict(meta["spec"], f"{run_dir}/run.json")
        plugins = meta.get("plugins", [])
        from implementations.registry import load_plugin

        for path in plugins:
            load_plugin(path)
        run_id = meta["run_id"]
        shard = meta.get("shard")
        recorded = meta.get("executor") or {}
        executor = {
            "name": args.executor or recorded.get("name", "local"),
            "address": args.address or recorded.get("address"),
        }
    else:
        spec = spec_from_args(args)
        plugins = _plugins(args)
        shard = None
        if args.shard:
            index, count = parse_shard(args.shard)
            shard = {"index": index, "count": count}
        executor = {"name": args.executor or "local", "address": args.address}
    if executor["address"] and executor["name"] != "ray":
        raise UsageError("--address needs --executor ray")
    timing = spec.timing
    if executor["name"] == "ray" and (timing.rounds > 1 or args.profile):
        raise UsageError("--rounds above 1 and --profile need the local executor (they pool or profile on one machine)")
    for grid in spec.grids:
        registry.match(grid.impls)  # an unknown implementation or a glob matching nothing is bad input
    if executor["name"] == "local":  # with Ray, the cluster's GPUs count, not this machine's
        for grid in spec.grids:
            check_devices(grid.devices)
    cases = expand(spec, registry.all())
    if not cases:
        raise UsageError("the spec selects no case")
    if shard:
        cases = select_shard(cases, shard["index"], shard["count"])
    threads = spec.timing.threads or default_threads()
    ray_started = _connect_ray(executor, cases, threads) if executor["name"] == "ray" else False
    try:
        if not args.resume:
            run_id = args.run_id or store.new_run_id()
            if shard:
                run_id = shard_run_id(run_id, shard["index"], shard["count"])
            if "/" in run_id or run_id in ("", ".", ".."):
                raise UsageError(f"invalid run id {run_id!r}")
            meta = store.new_run_meta(spec.as_dict(), plugins, executor, collect(threads))
            run_dir = store.create_run(args.out, run_id, meta)
        else:
            store.update_meta(run_dir, status="running", resumed_at=store.now(), executor=executor)
        print(
            f"rnnbench sweep: {len(cases)} cases ({sum(r is None for _, r in cases)} to run) -> {run_dir}",
            file=sys.stderr,
        )
        progress = Progress(args.progress)
        try:
            if executor["name"] == "ray":
                from bench.run import ray_executor

                lost = ray_executor.run_cases(
                    run_dir, run_id, spec.timing, threads, plugins, cases, progress, own_instance=ray_started
                )
            else:
                lost = _run_local(args, run_dir, run_id, spec, threads, plugins, cases, progress)
        except KeyboardInterrupt:
            progress.close()
            store.update_meta(run_dir, status="interrupted", finished_at=store.now())
            print(f"rnnbench sweep: interrupted; resume with: rnnbench sweep --resume {run_dir}", file=sys.stderr)
            return 130
        finally:
            progress.close()
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
        return 1
    frame = store.read_measurements(run_dir)
    store.update_meta(run_dir, status="complete", finished_at=store.now(), counts=status_counts(frame))

    from bench.commands.show import render

    print(render(run_dir))
    print(f"\nmeasurements: {run_dir / store.MEASUREMENTS}\n              {run_dir / 'measurements.csv'}")
    if not args.no_report:
        report = _write_report(run_dir)
        if report:
            print(f"report:       {report}")
    print(run_dir)
    return 0


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


def _run_local(args, run_dir: Path, run_id: str, spec: SweepSpec, threads: int, plugins, cases, progress) -> int:
    """The local executor: one isolated worker on this machine (bench.run.runner)."""
    runnable = sorted({(c.device, c.dtype) for c, reason in cases if reason is None})
    runner = Runner(run_dir, run_id, spec.timing, threads, plugins)
    try:
        peaks = dict(store.read_meta(run_dir).get("peak_flops_per_s") or {})
        for device, dtype in runnable:
            if f"{device}/{dtype}" not in peaks:
                peaks[f"{device}/{dtype}"] = runner.peak_flops(device, dtype)
        store.update_meta(run_dir, peak_flops_per_s=peaks)
        run_cases(runner, cases, peaks, progress)
        if args.profile:  # after every case is timed, so the profiler never runs during a timing
            from bench.worker.profiling import profile_measured

            progress.close()
            profile_measured(runner, run_dir, cases)
    finally:
        runner.close()
    return 0


def _write_report(run_dir: Path) -> Path | None:
    try:
        from bench.render.report import build_report
    except ImportError:
        return None
    return build_report(run_dir)
