"""`rnnbench train`: train implementations on a task, check their loss curves agree, time them to a target loss."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.analysis.summary import status_counts
from bench.analysis.training import baselines, curve_frame, finish_rows
from bench.errors import UsageError
from bench.plan.cases import DTYPES, Case
from bench.plan.spec import Timing
from bench.plan.train_spec import TrainSpec, load_train_spec, resolve
from bench.plan.train_tasks import TASKS
from bench.results import store
from bench.run.runner import Runner, skipped_row
from bench.worker.environment import check_devices, collect, default_threads
from implementations import registry

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


def plan_cases(spec: TrainSpec) -> list[tuple[Case, str | None]]:
    """The selected implementations as training cases, each with why it cannot train (None: it can), plus each
    family's parity baseline where the selection left it out."""
    chosen = registry.match(spec.impls)
    keys = {impl.key for impl in chosen}
    registered = {impl.key: impl for impl in registry.all()}
    for family in sorted({impl.family for impl in chosen}):
        baseline = baselines([k for k in registered if k.startswith(family + ".")])[family]
        if baseline not in keys:
            chosen.append(registered[baseline])
            keys.add(baseline)
    task = spec.task_spec
    cases = []
    for impl in sorted(chosen, key=lambda i: i.key):
        case = Case(impl.key, impl.family, impl.impl, spec.device, spec.dtype, "training", task.batch,
                    spec.seq_len, task.input_size, task.hidden_size)  # fmt: skip
        cases.append((case, impl.unsupported_reason(spec.device, DTYPES[spec.dtype], 1, False, "training")))
    return cases


def case_id(spec: TrainSpec, case: Case) -> str:
    return f"train:{spec.task}|{case.case_id}"


def _train_all(runner: Runner, spec: TrainSpec, cases, run_dir: Path) -> tuple[list[dict], dict]:
    """Each case in a fresh worker of its own; its raw row and curve written as soon as it finishes."""
    rows: list[dict] = []
    curves: dict[str, dict] = {}
    for index, (case, reason) in enumerate(cases, start=1):
        if reason is not None:
            reply = {"row": skipped_row(case, reason, runner.threads), "curve": {}}
        else:
            print(f"[{index}/{len(cases)}] {case.key} ...", file=sys.stderr, flush=True)
            runner.start_round()
            reply = runner.train(case, spec.task, spec.steps, spec.seed)
        row = {**reply["row"], "case_id": case_id(spec, case), "run_id": runner.run_id, "task": spec.task,
               "seed": spec.seed, "steps": spec.steps}  # fmt: skip
        rows.append(row)
        curves[case.key] = reply["curve"]
        store.write_training(run_dir, curve_frame(curves))
        store.append_rows(run_dir, [row])
        loss = (reply["curve"].get("loss") or [None])[-1]
        print(f"[{index}/{len(cases)}] {case.key}: {row.get('status')}"
              + (f", final loss {loss:.4g}" if loss is not None else f" ({row.get('error')})"),
              file=sys.stderr, flush=True)  # fmt: skip
    return rows, curves


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    cases = plan_cases(spec)
    check_devices([spec.device])
    threads = spec.threads or default_threads()
    plugins = [str(Path(p).resolve()) for p in args.plugin]
    run_id = args.run_id or store.new_run_id()
    if "/" in run_id or run_id in ("", ".", ".."):
        raise UsageError(f"invalid run id {run_id!r}")
    meta = store.new_run_meta({"train": spec.as_dict()}, plugins, {"name": "local"}, collect(threads))
    run_dir = store.create_run(args.out, run_id, meta)
    print(f"rnnbench train: {spec.task}, {len(cases)} implementations, {spec.steps} steps -> {run_dir}",
          file=sys.stderr)  # fmt: skip
    runner = Runner(run_dir, run_id, Timing(threads=threads, timeout_s=spec.timeout_s), threads, plugins)
    try:
        rows, curves = _train_all(runner, spec, cases, run_dir)
    except KeyboardInterrupt:
        store.update_meta(run_dir, status="interrupted", finished_at=store.now())
        print(f"rnnbench train: interrupted; what finished is in {run_dir}", file=sys.stderr)
        return 130
    finally:
        runner.close()
    rows = finish_rows(rows, curve_frame(curves), spec.dtype, spec.target_loss)
    store.append_rows(run_dir, rows)
    frame = store.read_measurements(run_dir)
    store.update_meta(run_dir, status="complete", finished_at=store.now(), counts=status_counts(frame))
    _print_summary(run_dir, args.no_report)
    failed = [r for r in rows if r.get("status") in ("error", "oom", "crashed", "timeout") or r.get("correct") is False]
    return 1 if failed else 0


def _print_summary(run_dir: Path, no_report: bool) -> None:
    from bench.commands.show import render

    print(render(run_dir))
    print(f"\nmeasurements: {run_dir / store.MEASUREMENTS}\ntraining:     {run_dir / store.TRAINING}")
    if not no_report:
        try:
            from bench.render.report import build_report
        except ImportError:
            build_report = None
        if build_report is not None:
            print(f"report:       {build_report(run_dir)}")
    print(run_dir)

