"""`rnnbench train` on the parent side: plan the training cases, train each in a fresh worker, finish the run.

Each implementation trains in its own isolated worker process (bench/worker/training.py); its row and loss
curve are written as soon as it finishes. Parity and time-to-target are computed at the end
(bench/analysis/training.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.analysis.summary import status_counts
from bench.analysis.training import baselines, curve_frame, finish_rows
from bench.errors import UsageError
from bench.plan.cases import DTYPES, Case, describe_implementations
from bench.plan.spec import Timing
from bench.plan.train_spec import TrainSpec
from bench.results import store
from bench.results.vocabulary import FAILED_STATUSES
from bench.run.runner import Runner, skipped_row
from bench.worker.environment import check_devices, collect, default_threads
from implementations import registry

EXIT_INTERRUPTED = 130


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


def run_training(spec: TrainSpec, plugins: list[str], out: str, run_id: str | None) -> tuple[int, Path]:
    """Train every selected implementation; (exit status, run directory). 1: a failure or a curve off parity."""
    cases = plan_cases(spec)
    check_devices([spec.device])
    threads = spec.threads or default_threads()
    run_id = run_id or store.new_run_id()
    if "/" in run_id or run_id in ("", ".", ".."):
        raise UsageError(f"invalid run id {run_id!r}")
    described = describe_implementations(registry.all(), cases)
    meta = store.new_run_meta(
        {"train": spec.as_dict()}, plugins, {"name": "local"}, collect(threads), implementations=described
    )
    run_dir = store.create_run(out, run_id, meta)
    print(f"rnnbench train: {spec.task}, {len(cases)} implementations, {spec.steps} steps -> {run_dir}",
          file=sys.stderr)  # fmt: skip
    runner = Runner(run_dir, run_id, Timing(threads=threads, timeout_s=spec.timeout_s), threads, plugins)
    try:
        rows, curves = _train_all(runner, spec, cases, run_dir)
    except KeyboardInterrupt:
        store.seal(run_dir)
        store.update_meta(run_dir, status="interrupted", finished_at=store.now())
        print(f"rnnbench train: interrupted; what finished is in {run_dir}", file=sys.stderr)
        return EXIT_INTERRUPTED, run_dir
    finally:
        runner.close()
    rows = finish_rows(rows, curve_frame(curves), spec.dtype, spec.target_loss)
    store.append_rows(run_dir, rows)
    store.seal(run_dir)  # the table and CSV compacted from the run's row log
    frame = store.read_measurements(run_dir)
    store.update_meta(run_dir, status="complete", finished_at=store.now(), counts=status_counts(frame))
    failed = [r for r in rows if r.get("status") in FAILED_STATUSES or r.get("correct") is False]
    return (1 if failed else 0), run_dir
