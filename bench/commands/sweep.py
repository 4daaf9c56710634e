"""`rnnbench sweep`: measure a grid of cases into results/<run_id>/ (bench/run/sweep.py does the work)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands._sweep_arguments import DEFAULT_CONFIG, add_arguments, spec_from_args  # noqa: F401
from bench.plan.shard import parse_shard
from bench.results import store
from bench.run.sweep import SweepRequest, resume_request, run_sweep

HELP = "measure latency, memory, compile time and correctness over a grid of cases"


def _request(args: argparse.Namespace) -> SweepRequest:
    options = {"progress": args.progress, "profile": args.profile, "out": args.out, "reverse": args.reverse}
    if args.resume:
        return resume_request(Path(args.resume), args.executor, args.address, **options)
    shard = None
    if args.shard:
        index, count = parse_shard(args.shard)
        shard = {"index": index, "count": count}
    executor = {"name": args.executor or "local", "address": args.address}
    plugins = tuple(str(Path(p).resolve()) for p in args.plugin)
    return SweepRequest(spec_from_args(args), plugins, executor, run_id=args.run_id, shard=shard, **options)


def run(args: argparse.Namespace) -> int:
    code, run_dir = run_sweep(_request(args))
    if code:
        return code
    from bench.render.summary_text import render_summary

    print(render_summary(run_dir))
    print(f"\nmeasurements: {run_dir / store.MEASUREMENTS}\n              {run_dir / 'measurements.csv'}")
    if not args.no_report:
        report = _write_report(run_dir)
        if report:
            print(f"report:       {report}")
    print(run_dir)
    return 0


def _write_report(run_dir: Path) -> Path | None:
    try:
        from bench.render.report import build_report
    except ImportError:
        return None
    return build_report(run_dir)
