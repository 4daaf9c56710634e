"""`rnnbench profile`: torch.profiler traces of implementations at one shape, for TensorBoard and Perfetto."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import torch

from bench.errors import UsageError
from bench.plan.cases import DTYPES, MODES, Case, expand
from bench.plan.spec import Timing, spec_from_dict
from bench.render.terminal import color, format_table, use_color
from bench.results import store
from bench.run.profiling import append_top_ops
from bench.run.runner import Runner
from bench.worker.environment import check_devices, collect, default_threads
from bench.worker.profiling import TOP_OPS_COLUMNS, TRACES_DIR, trace_dir
from implementations import registry

HELP = "write torch.profiler traces (TensorBoard, Perfetto, HTA) and the top operators of each implementation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--impl", action="append", default=None, metavar="GLOB", help="keys to profile (default: all)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--input-size", type=int, default=None, help="default: the hidden size")
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--mode", default="training", help=f"one of {', '.join(MODES)}")
    parser.add_argument("--dtype", default="float32", help=f"one of {', '.join(DTYPES)}")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--out", default="results", metavar="DIR", help="where the run directory goes")
    parser.add_argument("--with-stack", action="store_true", help="record Python stacks (bigger traces)")
    parser.add_argument("--memory-snapshot", action="store_true", help="CUDA: also dump the allocator history")
    parser.add_argument("--active", type=int, default=3, help="profiled steps per case")
    parser.add_argument("--top", type=int, default=10, help="operators shown per case")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: as a sweep)")
    parser.add_argument("--timeout-s", type=float, default=Timing.timeout_s, help="per case, compile included")


def _validate(args: argparse.Namespace) -> None:
    for flag in ("active", "top", "timeout_s"):
        if getattr(args, flag) <= 0:
            raise UsageError(f"--{flag.replace('_', '-')} must be positive, got {getattr(args, flag)}")
    if args.threads < 0:
        raise UsageError(f"--threads must be 0 (default) or positive, got {args.threads}")


def _cases(args: argparse.Namespace) -> list[tuple[Case, str | None]]:
    """The same cases a one-shape sweep would make: validated and expanded by the sweep's own stages."""
    axes = {
        "impls": args.impl or ["*"],
        "devices": [args.device],
        "dtypes": [args.dtype],
        "modes": [args.mode],
        "batch": [args.batch],
        "seq_len": [args.seq_len],
        "input_size": [args.input_size or args.hidden_size],
        "hidden_size": [args.hidden_size],
        "num_layers": [args.num_layers],
        "bidirectional": [args.bidirectional],
    }
    spec = spec_from_dict(axes, "command line")
    registry.match(spec.grids[0].impls)  # an unknown implementation or a glob matching nothing is bad input
    check_devices(spec.grids[0].devices)
    if args.memory_snapshot and torch.device(args.device).type != "cuda":
        raise UsageError("--memory-snapshot needs a CUDA device (it records the CUDA caching allocator)")
    return expand(spec, registry.all())


def _print_top(table, case: Case, top: int) -> None:
    on_cuda = torch.device(case.device).type == "cuda"
    headers = (
        ["op", "self CPU ms", "self GPU ms", "calls", "share"] if on_cuda else ["op", "self CPU ms", "calls", "share"]
    )
    rows = []
    for r in table.head(top).itertuples():
        row = [r.op + (" (label)" if r.is_label else ""), f"{r.self_cpu_s * 1e3:.3f}"]
        row += [f"{r.self_device_s * 1e3:.3f}"] if on_cuda else []
        rows.append(row + [r.calls, f"{r.share:.1%}"])
    print(format_table(headers, rows, align_right=range(1, len(headers))))


def _open_run(args: argparse.Namespace, threads: int) -> tuple[Path, dict]:
    """A `profile-<id>` run directory with its run.json (an unwritable folder is bad input)."""
    meta = {
        "kind": "profile",
        "command": ["rnnbench", *sys.argv[1:]],
        "environment": collect(threads),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "profiled": {},
        "profile_errors": {},
    }
    return store.create_run(args.out, f"profile-{store.new_run_id()}", meta), meta


def _profile_one(runner: Runner, run_dir: Path, case, options: dict, top: int, colored: bool) -> tuple[str, str]:
    """Profile one case in the isolated worker, store and print its top operators; (status, reason)."""
    reply = runner.profile(case, **options)
    if reply.top_ops is None:
        reason = reply.error or "no answer"
        print(color(f"error: {reason}", "red", colored))
        return "error", reason
    table = pd.DataFrame(reply.top_ops, columns=TOP_OPS_COLUMNS)
    append_top_ops(run_dir, table)
    _print_top(table, case, top)
    return "ok", None


def run(args: argparse.Namespace) -> int:
    _validate(args)
    cases = _cases(args)  # an unknown implementation fails here, before anything is written
    threads = args.threads or default_threads()
    run_dir, meta = _open_run(args, threads)
    traces = run_dir / TRACES_DIR
    plugins = [str(Path(p).resolve()) for p in args.plugin]
    # The sweep's isolated worker: a crash or hang in one implementation costs its trace, not the others.
    runner = Runner(run_dir, run_dir.name, Timing(threads=threads, timeout_s=args.timeout_s), threads, plugins)
    options = {"with_stack": args.with_stack, "active": args.active, "memory_snapshot": args.memory_snapshot}
    colored = use_color()
    counts = {"ok": 0, "skipped": 0, "error": 0}
    try:
        for case, reason in cases:
            print(color(f"== {case.case_id}", "bold", colored), flush=True)
            if reason is not None:
                status = "skipped"
                print(color(f"skipped: {reason}", "yellow", colored))
            else:
                status, reason = _profile_one(runner, run_dir, case, options, args.top, colored)
            if status == "error":
                meta["profile_errors"][case.case_id] = reason
            counts[status] += 1
            relative = str(trace_dir(traces, case).relative_to(run_dir))
            meta["profiled"][case.case_id] = {"status": status, "reason": reason, "trace_dir": relative}
            store.update_meta(run_dir, profiled=meta["profiled"], profile_errors=meta["profile_errors"])
            print(flush=True)
    finally:
        runner.close()
    store.update_meta(run_dir, finished_at=datetime.now(UTC).isoformat(timespec="seconds"), status="complete")
    print(", ".join(f"{n} {s}" for s, n in counts.items()) + f"; open with: make tensorboard TRACES={traces}")
    print(traces)
    return 1 if counts["error"] else 0
