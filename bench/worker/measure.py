"""Measure one case, in the worker process: first call, steady-state samples, memory, correctness.

Returns a row of the measurements table (bench/results/schema.py). Exceptions become a row with status `error`
or `oom`; crashes and hangs are the runner's business.
"""

from __future__ import annotations

import gc
import socket
import statistics
import sys
import time
import traceback
from datetime import UTC, datetime

import torch

from bench.analysis.stats import summarize
from bench.plan.cases import Case
from bench.plan.flops import case_flops, throughput_fields
from bench.plan.spec import Timing
from bench.worker import callgrind
from bench.worker import timing as timing_mod
from bench.worker.callgrind import Counts
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


SAMPLING_SHARE = 0.6  # of the case's timeout, from its start: past it the main sampling stops
SPLIT_SHARE = 0.8  # ...and the training split's


def stop_rule(timing: Timing, deadline: float, budget_s: float | None = None) -> timing_mod.StopRule:
    return timing_mod.StopRule(
        min_samples=timing.min_samples,
        min_time_s=min(timing.min_time_s, budget_s or timing.budget_s),
        budget_s=budget_s or timing.budget_s,
        target_rel_iqr=timing.target_rel_iqr,
        deadline=deadline,
    )


def deadline_for(timing: Timing, started: float, share: float = SAMPLING_SHARE) -> float:
    """A time.monotonic() deadline: `share` of the case's timeout after it started."""
    return started + share * timing.timeout_s


def _median_of(fn, case: Case, timing: Timing, rule: timing_mod.StopRule, per_call_s: float) -> float:
    samples = timing_mod.measure(fn, case.device, timing.clock, timing.cache, rule, per_call_s)
    return summarize(samples.per_call_s).median_s


def _split_training(workload: Workload, timing: Timing, per_call_s: float, deadline: float) -> dict:
    """Forward and backward timed apart, by the same rule on half the budget each; backward re-runs one
    retained graph."""
    rule = stop_rule(timing, deadline, timing.budget_s / 2)
    case = workload.case
    forward = _median_of(workload.forward, case, timing, rule, per_call_s / 3)
    output = workload.forward()
    try:
        workload.backward(output, retain_graph=True)
        backward = _median_of(
            lambda: workload.backward(output, retain_graph=True), case, timing, rule, per_call_s * 2 / 3
        )
    except RuntimeError:  # graphs that cannot be replayed (some compiled backwards): fall back to the difference
        backward = None
    return {"forward_median_s": forward, "backward_median_s": backward}


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
    samples: timing_mod.Samples,
    per_call_s: float,
    peak_flops_per_s: float | None = None,
    repeat: bool = False,
    baseline_bytes: int | None = None,
    deadline: float = float("inf"),
) -> dict:
    """Everything after the timed samples: statistics, the training split, memory, FLOPs, correctness.

    A repeat round (`repeat`) only times: the split, memory and correctness come from the first. Without
    `baseline_bytes` no resident memory is recorded.
    """
    case = workload.case
    if isinstance(samples, Counts):  # the instructions clock: counts, no time columns (bench/worker/callgrind.py)
        row.update(samples.as_row(), first_call_s=None, clock=timing.clock)
    else:
        row.update(sample_fields(samples, timing))
        row["round_medians_s"] = [row["median_s"]]  # this process is one round: see bench/run/pooling.py
    row["status"] = "ok"
    if repeat:
        return row
    _split_and_memory(row, workload, timing, per_call_s, baseline_bytes, deadline)
    row.update(_tokens(workload))
    # useful work only: the real tokens of a variable-length batch, one step of a stream
    row["flops"] = case_flops(case) * row["tokens"] // (case.batch * case.seq_len)
    if "median_s" in row:  # a count is no time: no rates
        row["tokens_per_s"] = row["tokens"] / row["elapsed_median_s"]
        row.update(throughput_fields(row["flops"], row["elapsed_median_s"], peak_flops_per_s))
    if timing.check:
        try:
            row.update(_check(workload, case, gradients=case.mode == "training"))
        except Exception as exc:  # a check that cannot run is a failed check, not a lost case
            row.update(correct=False, error=f"correctness check failed to run: {type(exc).__name__}: {exc}")
    return row


def _split_and_memory(
    row: dict, workload: Workload, timing: Timing, per_call_s: float, baseline_bytes: int | None, deadline: float
) -> None:
    """The first round's extras in `row`: training's forward/backward split, peak and resident memory."""
    case = workload.case
    with matmul_precision(case):
        if case.mode == "training" and "median_s" in row:
            row.update(_split_training(workload, timing, per_call_s, deadline))
            _plausible_split(row)
        if timing.memory:
            row["peak_mem_bytes"] = peak_extra_bytes(workload.step, case.device)
            if baseline_bytes is not None:
                row["resident_mem_bytes"] = allocated_bytes(case.device) - baseline_bytes


def _tokens(workload: Workload) -> dict:
    """The batch's sequence lengths, their mean, and the real tokens one timed call processes."""
    lengths = seq_lengths(workload)
    per_call = workload.case.batch if workload.stream is not None else sum(lengths)
    return {"lengths": lengths, "mean_length": sum(lengths) / len(lengths), "tokens": per_call}


def sample_fields(samples: timing_mod.Samples, timing: Timing) -> dict:
    """The row's timing columns from one case's samples: statistics, block size, how sampling stopped."""
    fields = summarize(samples.per_call_s).as_dict()
    fields.update(
        samples_s=samples.per_call_s,
        calls_per_sample=samples.calls,
        stopped_by=samples.stopped_by,
        elapsed_median_s=float(statistics.median(samples.elapsed_per_call_s)),
        clock=timing.clock,
        cache=timing.cache,
    )
    if timing.clock != "wall":  # kept so that pooled rounds can recompute the elapsed median
        fields["elapsed_samples_s"] = samples.elapsed_per_call_s
    if len(samples.per_call_s) < timing.min_samples:
        fields["timing_note"] = (
            f"{len(samples.per_call_s)} of min_samples {timing.min_samples} blocks: the case's time limit "
            f"({SAMPLING_SHARE:.0%} of timeout_s {timing.timeout_s:g} s) ran out"
        )
    return fields


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
    case: Case,
    timing: Timing,
    threads: int,
    peak_flops_per_s: float | None = None,
    repeat: bool = False,
    calls: int | None = None,
) -> dict:
    """One round of a case. A repeat round (`repeat`) only times, in blocks of the first round's `calls`:
    memory and correctness come from the first."""
    wall_start, started = time.perf_counter(), time.monotonic()
    row = base_row(case, threads)
    try:
        row, workload, per_call_s, baseline_bytes = start_case(case, timing, threads)
        rule = stop_rule(timing, deadline_for(timing, started))
        with matmul_precision(case):
            if workload.stream is not None:  # streaming: one sample per step (bench/worker/streaming.py)
                flush = timing_mod.cache_flusher(case.device) if timing.cache == "cold" else None
                steps = time_steps(workload.stream, timing.streaming_steps, flush)
                samples = timing_mod.Samples(steps, steps, 1, "steps")
                row.update(step_percentiles(steps))
            else:
                measure = callgrind.measure if timing.clock == "instructions" else timing_mod.measure  # or counted
                samples = measure(workload.step, case.device, timing.clock, timing.cache, rule, per_call_s, calls)
        finish_case(
            row, workload, timing, threads, samples, per_call_s, peak_flops_per_s, repeat, baseline_bytes,
            deadline_for(timing, started, SPLIT_SHARE),
        )  # fmt: skip
    except Exception as exc:
        failed_row(row, exc, case)
    row["wall_s"] = time.perf_counter() - wall_start
    return row
