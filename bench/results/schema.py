"""The measurements table: one row per case. Every stage after the runner reads and writes this shape.

Units are in the names: `_s` seconds, `_bytes` bytes, `_per_s` per second. A column absent from a
row (a skipped case has no timing) is NaN/None, never zero.
"""

from __future__ import annotations

from bench.results.vocabulary import STATUSES

IDENTITY_COLUMNS = [
    "key",  # "lstm.premul_loop"
    "family",  # rnn_tanh | rnn_relu | lstm | gru
    "impl",  # the variant: "premul_loop"
    "device",  # cpu | cuda
    "dtype",  # float32 | float64 | bfloat16 | float16 | tf32 (float32 with TF32 matmuls on CUDA)
    "mode",  # inference (forward, no_grad) | training (forward + backward) | streaming (one step per call, no_grad)
    "batch",
    "seq_len",
    "input_size",
    "hidden_size",
    "num_layers",
    "bidirectional",
    "length_dist",  # fixed (every sequence seq_len steps) | uniform:F (lengths drawn from [ceil(F*seq_len), seq_len])
]

COLUMNS: dict[str, str] = {
    "run_id": "the run this row belongs to",
    "case_id": "stable identity of the case across runs (key|device|dtype|mode|shape)",
    **{name: "case identity" for name in IDENTITY_COLUMNS},
    "threads": "torch intra-op threads used for timing",
    "status": " | ".join(STATUSES),
    "error": "why the case is not ok (skip reason, exception, signal)",
    # timing: the rule of bench/worker/timing.py (docs/measurement.md); each sample is the mean per call over
    # one block of calls_per_sample calls, on the row's clock
    "median_s": "median of samples_s",
    "iqr_s": "interquartile range of samples_s",
    "mean_s": "mean of samples_s",
    "std_s": "standard deviation of samples_s",
    "min_s": "fastest sample",
    "n_samples": "len(samples_s)",
    "ci_low_s": "95% confidence interval of the median, low end (order statistics); NaN with too few samples",
    "ci_high_s": "95% confidence interval of the median, high end; NaN with too few samples",
    "ci_note": "why the interval is NaN ('too few samples: ...'); empty when there is one",
    "samples_s": "raw per-sample times (list), so any statistic can be recomputed; streaming: one per step",
    "round_medians_s": "median of each ok round's samples, in round order (list); one round is one worker "
    "process, the independent replicate the regression gate tests",
    "calls_per_sample": "each sample is the mean time of a block of this many calls (calibrated once per case)",
    "stopped_by": "what ended sampling: spread (IQR/median at target_rel_iqr), budget, deadline, steps (streaming)",
    "timing_note": "set when sampling ended below min_samples: the case's time limit ran out first",
    "elapsed_median_s": "median per-call elapsed time (wall, or GPU time on CUDA) over the same blocks",
    "elapsed_samples_s": "clocks other than wall: each block's elapsed time per call (list)",
    "cache": "warm (caches as the previous call left them) or cold (last-level cache flushed before each call)",
    "isolation": "process (a fresh worker and empty compile caches for this case alone) or shared",
    "first_side": "rnnbench ci side by side: the side built and timed first in this process",
    "forward_median_s": "training mode: median of forward alone (with autograd recording)",
    "backward_median_s": "training mode: median of backward alone",
    "clock": "wall (elapsed time) or cpu (the process's CPU time): what samples_s measures; instructions: the "
    "case was counted, not timed (instructions_per_call, no time columns)",
    # the instructions clock: CPU instructions counted under Valgrind's Callgrind (bench/worker/callgrind.py)
    "instructions_per_call": "median over repeats of (a repeat's count - the empty calls' count) / calls_per_sample",
    "instruction_counts": "raw instruction count of each repeat of calls_per_sample calls (list), empty-call cost "
    "included",
    "empty_call_instructions": "instructions of one call that does nothing (the loop and the call), subtracted",
    "paired": "rnnbench ci: timed in alternating blocks with the other side's model in the same process",
    "rounds": "interleaved rounds (each in a fresh worker process) whose samples are pooled in samples_s",
    "lengths": "each sequence's real length in the batch (list), drawn per case from length_dist",
    "mean_length": "mean of lengths",
    "tokens": "real tokens one timed call processes: sum of lengths (streaming: batch, one step)",
    "tokens_per_s": "tokens / elapsed_median_s: throughput in real tokens, so padding shows up as lost throughput",
    "step_p50_s": "streaming: median latency of a single step (samples_s holds every step's time)",
    "step_p90_s": "streaming: 90th percentile of single-step latency",
    "step_p99_s": "streaming: 99th percentile of single-step latency",
    "step_p999_s": "streaming: 99.9th percentile of single-step latency",
    "step_max_s": "streaming: the slowest step",
    "first_call_s": "the first call, compile and warm-up included",
    "peak_mem_bytes": "peak extra memory of one call above what existed before it",
    "resident_mem_bytes": "CUDA: memory the case holds between calls (weights, inputs, grads, graph pools)",
    "flops": "analytic FLOPs of one call (x3 for training)",
    "achieved_flops_per_s": "flops / elapsed_median_s (elapsed time, whatever the clock)",
    "peak_flops_per_s": "best matmul library's peak at the start of the run, same device, dtype and threads",
    "efficiency": "achieved_flops_per_s / peak_flops_per_s",
    "above_peak": "efficiency > 1: faster than the measured peak, a measurement problem to look into",
    "max_abs_err": "max |got - ref| over output and final state vs float64 reference",
    "rel_err": "||got - ref|| / ||ref|| over output and final state",
    "grad_rel_err": "largest norm-wise relative error over gradients (training)",
    "correct": "errors within the tolerance",
    "tolerance": "the relative error the check allowed: the dtype's, or the implementation's own (int8 engines)",
    "host": "machine (hostname) the case ran on; with --executor ray, the Ray node's",
    "node_id": "Ray node the case ran on (--executor ray); empty for the local executor",
    "started_at": "ISO time the case started",
    "wall_s": "wall time spent on the case, set-up and checks included",
    # rnnbench train: one row per implementation trained; median_s, samples_s and the *_median_s split are then
    # over its optimizer steps after the first (first_call_s), peak_mem_bytes that of one step
    "task": "rnnbench train: the task trained on (sine_cosine | adding); empty for sweep rows",
    "seed": "rnnbench train: seed of the initial weights and the data",
    "steps": "rnnbench train: optimizer steps run",
    "target_loss": "rnnbench train: the loss whose time to reach is reported",
    "final_loss": "rnnbench train: loss at the last step",
    "steps_to_target": "rnnbench train: steps until the loss first reached target_loss; empty if never",
    "seconds_to_target": "rnnbench train: wall seconds from the start of training until then (first step included)",
    "optimizer_median_s": "rnnbench train: median of the optimizer step alone",
    "parity_baseline": "rnnbench train: the implementation of the family the loss curve is compared with",
    "loss_curve_rel_diff": "rnnbench train: largest relative loss difference from the baseline's curve, any step",
}

# training.parquet (rnnbench train): one row per implementation and optimizer step
TRAINING_COLUMNS: dict[str, str] = {
    "key": "the implementation trained",
    "step": "optimizer step, from 0",
    "loss": "the task's loss at this step, before the optimizer's update",
    "wall_s": "seconds since the start of training, at the end of this step",
    "step_s": "forward_s + backward_s + optimizer_s",
    "forward_s": "forward and loss (the first step includes any compilation)",
    "backward_s": "zero_grad and backward",
    "optimizer_s": "the optimizer's step",
}

