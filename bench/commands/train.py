"""`rnnbench train`: train implementations on a task, check their loss curves agree, time them to a target loss."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.plan.train_spec import TrainSpec, load_train_spec, resolve
from bench.plan.train_tasks import TASKS
from bench.results import store
from bench.run.train import EXIT_INTERRUPTED, run_training

HELP = "train implementations on a task (sine_cosine, adding): loss-curve parity, time to a target loss"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="a spec (TOML) with a [train] table; flags override it")
    parser.add_argument("--task", help=f"{' | '.join(TASKS)} (default sine_cosine)")
    parser.add_argument("--impl", action="append", help="implementation globs, comma-separated or repeated (all)")
    parser.add_argument("--device", help="cpu (default) or cuda")
    parser.add_argument("--dtype", help="float32 (default) or float64")
    parser.add_argument("--steps", type=int, help="optimizer steps (default: the task's, 60 for sine_cosine)")
    parser.add_argument("--target-loss", type=float, help="the loss whose time to reach is reported")
    parser.add_argument("--seq-len", type=int, help="sine_cosine: window length (10); adding: sequence length (50)")
    parser.add_argument("--seed", type=int, help="seed of the initial weights and the data (0)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: one per core)")
    parser.add_argument("--timeout-s", type=float, help="per implementation, compilation included (300)")
    parser.add_argument("--out", default="results", help="parent folder of run directories (results)")
    parser.add_argument("--run-id", help="name of the run directory (default: time stamp + random suffix)")
    parser.add_argument("--no-report", action="store_true", help="do not write the HTML report at the end")


def spec_from_args(args: argparse.Namespace) -> TrainSpec:
    base = load_train_spec(args.config) if args.config else TrainSpec()
    return resolve(
        base,
        task=args.task,
        impls=tuple(p.strip() for arg in args.impl for p in arg.split(",") if p.strip()) if args.impl else None,
        device=args.device,
        dtype=args.dtype,
        steps=args.steps,
        target_loss=args.target_loss,
        seq_len=args.seq_len,
        seed=args.seed,
        threads=args.threads,
        timeout_s=args.timeout_s,
    )


def run(args: argparse.Namespace) -> int:
    plugins = [str(Path(p).resolve()) for p in args.plugin]
    code, run_dir = run_training(spec_from_args(args), plugins, args.out, args.run_id)
    if code == EXIT_INTERRUPTED:
        return code
    _print_summary(run_dir, args.no_report)
    return code


def _print_summary(run_dir: Path, no_report: bool) -> None:
    from bench.render.summary_text import render_summary

    print(render_summary(run_dir))
    print(f"\nmeasurements: {run_dir / store.MEASUREMENTS}\ntraining:     {run_dir / store.TRAINING}")
    if not no_report:
        try:
            from bench.render.report import build_report
        except ImportError:
            build_report = None
        if build_report is not None:
            print(f"report:       {build_report(run_dir)}")
    print(run_dir)
