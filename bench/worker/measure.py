"""Measure one case, in the worker process: first call, steady-state samples, memory, correctness.

Returns a row of the measurements table (bench/results/schema.py). Exceptions become a row with status `error`
or `oom`; crashes and hangs are the runner's business.
"""

from __future__ import annotations

import gc
import socket
import sys
import time
import traceback
from datetime import UTC, datetime

import torch

from bench.analysis.stats import summarize
from bench.plan.cases import Case
from bench.plan.flops import case_flops
from bench.plan.spec import Timing
from bench.worker import timing as timing_mod
from bench.worker.memory import allocated_bytes, peak_extra_bytes
from bench.worker.streaming import Stepwise, step_percentiles, time_steps
from bench.worker.workload import Workload, matmul_precision, prepare, seq_lengths


def _is_oom(exc: BaseException) -> bool:
    oom_type = getattr(torch, "OutOfMemoryError", ())
    return isinstance(exc, oom_type) or "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc)


def base_row(case: Case, threads: int) -> dict:
    return {
        "case_id": case.case_id,
        **case.identity(),
        "threads": threads,
        "host": socket.gethostname(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _timed_samples(fn, timing: Timing, threads: int, per_call_s: float, budget_s: float, label: str) -> list[float]:
    return timing_mod.sample(
        fn,
        threads=threads,
        min_time_s=min(timing.min_time_s, budget_s),
        budget_s=budget_s,
        target_rel_iqr=timing.target_rel_iqr,
        min_samples=timing.min_samples,
        per_call_estimate_s=per_call_s,
        label=label,
        clock=timing.clock,
    )[0]


def _split_training(workload: Workload, timing: Timing, threads: int, per_call_s: float) -> dict:
    """Forward and backward timed apart; backward re-runs one retained graph."""
    budget = timing.budget_s / 2
    forward = _timed_samples(workload.forward, timing, threads, per_call_s / 3, budget, "forward")
    output = workload.forward()
    try:
        workload.backward(output, retain_graph=True)
        backward = _timed_samples(
            lambda: workload.backward(output, retain_graph=True),
            timing,
            threads,
            per_call_s * 2 / 3,
            budget,
            "backward",
        )
        backward_median = summarize(backward).median_s
    except RuntimeError:  # graphs that cannot be replayed (some compiled backwards): fall back to the difference
        backward_median = None
    return {"forward_median_s": summarize(forward).median_s, "backward_median_s": backward_median}


def _plausible_split(row: dict) -> dict:
    """A forward timed alone that is slower than forward + backward measured nothing useful: a graph-replaying
    model re-records when its backward is skipped. No split is better than a wrong one."""
    if row["forward_median_s"] > row["median_s"]:
        row.update(forward_median_s=None, backward_median_s=None)
    elif row["backward_median_s"] is None:
        row["backward_median_s"] = max(row["median_s"] - row["forward_median_s"], 0.0)
    return row


def _check(workload: Workload, case: Case, gradients: bool) -> dict:
    from bench.worker.correctness import check_model

    if workload.lengths is not None:  # each sequence against the reference run on it alone
        from bench.worker.correctness_varlen import check_varlen

        result = check_varlen(
            workload.model,
            workload.reference,
            seq_lengths(workload),
            seq_len=case.seq_len,
            device=case.device,
            dtype=case.dtype,
            gradients=gradients,
        )
    else:  # streaming: the model fed one step per call, as it was timed
        model = Stepwise(workload.model) if workload.stream is not None else workload.model
        result = check_model(
            model,
            workload.reference,
            batch=case.batch,
            seq_len=case.seq_len,
            device=case.device,
            dtype=case.dtype,
            gradients=gradients,
            own_tolerance=workload.tolerance,
        )
    return {
        "max_abs_err": result.max_abs_err,
        "rel_err": result.rel_err,
        "grad_rel_err": result.grad_rel_err,
        "correct": bool(result.correct),
        "tolerance": result.tolerance,
        **({} if result.correct else {"error": result.message}),
    }


def _forget_earlier_cases() -> None:
    """Free what earlier cases in this worker left behind (reference cycles, compiled code and the CUDA-graph pools
    it holds), so this case's memory baseline and compilation start from the same state as in a fresh process."""
    if "torch._dynamo" in sys.modules:
        torch._dynamo.reset()
    gc.collect()


def start_case(
    case: Case, timing: Timing, threads: int, source=None, forget: bool = True
) -> tuple[dict, Workload, float, int | None]:
    """Build and warm up a case: its row so far (first call), its workload, the per-call estimate and the
    memory allocated before it was built (None where not measurable).

    `forget` False keeps what earlier cases left (a second model of the same case, timed beside the first).
    """
    row = base_row(case, threads)
    torch.set_num_threads(threads)
    if forget:
        _forget_earlier_cases()
    torch.manual_seed(0)
    baseline_bytes = allocated_bytes(case.device)
    workload = prepare(case, source=source)
    with matmul_precision(case):
        row["first_call_s"] = timing_mod.time_first_call(workload.step, workload.synchronize)
        warm = [
            timing_mod.time_first_call(workload.step, workload.synchronize) for _ in range(max(timing.warmup_calls, 1))
        ]
    return row, workload, min(warm), baseline_bytes


def finish_case(
    row: dict,
    workload: Workload,
    timing: Timing,
    threads: int,
    samples: list[float],
    per_call_s: float,
    peak_flops_per_s: float | None = None,
    repeat: bool = False,
    baseline_bytes: int | None = None,
) -> dict:
    """Everything after the timed samples: statistics, the training split, memory, FLOPs, correctness.

    A repeat round (`repeat`) only times: the split, memory and correctness come from the first. Without
    `baseline_bytes` no resident memory is recorded.
    """
    case = workload.case
    row["clock"] = timing.clock
    row.update(summarize(samples).as_dict())
    row["samples_s"] = samples
    row["round_medians_s"] = [row["median_s"]]  # this process is one round: see bench/run/pooling.py
    row["status"] = "ok"
    if repeat:
        return row
    with matmul_precision(case):
        if case.mode == "training":
            row.update(_split_training(workload, timing, threads, per_call_s))
            _plausible_split(row)
        if timing.memory:
            row["peak_mem_bytes"] = peak_extra_bytes(workload.step, case.device)
            if baseline_bytes is not None:
                row["resident_mem_bytes"] = allocated_bytes(case.device) - baseline_bytes
    row.update(_tokens(workload))
    row["tokens_per_s"] = row["tokens"] / row["median_s"]
    # useful work only: the real tokens of a variable-length batch, one step of a stream
    flops = case_flops(case) * row["tokens"] // (case.batch * case.seq_len)
    row["flops"] = flops
    row["achieved_flops_per_s"] = flops / row["median_s"]
    if peak_flops_per_s:
        row["peak_flops_per_s"] = peak_flops_per_s
        row["efficiency"] = row["achieved_flops_per_s"] / peak_flops_per_s
    if timing.check:
        try:
            row.update(_check(workload, case, gradients=case.mode == "training"))
        except Exception as exc:  # a check that cannot run is a failed check, not a lost case
            row.update(correct=False, error=f"correctness check failed to run: {type(exc).__name__}: {exc}")
    return row


def _tokens(workload: Workload) -> dict:
    """The batch's sequence lengths, their mean, and the real tokens one timed call processes."""
    lengths = seq_lengths(workload)
    per_call = workload.case.batch if workload.stream is not None else sum(lengths)
    return {"lengths": lengths, "mean_length": sum(lengths) / len(lengths), "tokens": per_call}


def failed_row(row: dict, exc: BaseException, case: Case) -> dict:
    """An exception as the case's row: `oom` or `error`, with where it was raised."""
    row["status"] = "oom" if _is_oom(exc) else "error"
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
    row["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}{where}"
    if case.device.startswith("cuda"):
        torch.cuda.empty_cache()
    return row


def measure_case(
    case: Case, timing: Timing, threads: int, peak_flops_per_s: float | None = None, repeat: bool = False
) -> dict:
    """One round of a case. A repeat round (`repeat`) only times: memory and correctness come from the first."""
    wall_start = time.perf_counter()
    row = base_row(case, threads)
    try:
        row, workload, per_call_s, baseline_bytes = start_case(case, timing, threads)
        with matmul_precision(case):
            if workload.stream is not None:
                samples, row["calls_per_sample"] = time_steps(workload.stream, timing.streaming_steps), 1
                row.update(step_percentiles(samples))
            else:
                samples, row["calls_per_sample"] = _sample(workload, timing, threads, per_call_s)
        finish_case(row, workload, timing, threads, samples, per_call_s, peak_flops_per_s, repeat, baseline_bytes)
    except Exception as exc:
        failed_row(row, exc, case)
    row["wall_s"] = time.perf_counter() - wall_start
    return row


def _sample(workload: Workload, timing: Timing, threads: int, per_call_s: float) -> tuple[list[float], int]:
    return timing_mod.sample(
        workload.step,
        threads=threads,
        min_time_s=timing.min_time_s,
        budget_s=timing.budget_s,
        target_rel_iqr=timing.target_rel_iqr,
        min_samples=timing.min_samples,
        per_call_estimate_s=per_call_s,
        label=workload.case.key,
        clock=timing.clock,
    )
