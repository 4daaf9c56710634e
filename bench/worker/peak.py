"""The peak `efficiency` divides by: the best large square matmul among the GEMM libraries present.

On CPU the candidates are ATen's `torch.mm` (MKL where torch is built with it), oneDNN
(`torch._C._nn.mkldnn_linear` on mkldnn tensors) and OpenBLAS through numpy; on CUDA, `torch.mm` (cuBLAS).
Each is measured like a case (bench/worker/timing.py: calibrated fixed blocks, the same stop rule) in
several rounds at the run's thread count and dtype, and its figure is its best round's median: a peak is a
best case. The winner and every candidate's figure go into run.json (`peak_sources`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from bench.analysis.stats import summarize
from bench.worker import timing as timing_mod

ROUNDS = 3
RULE = timing_mod.StopRule(min_samples=5, min_time_s=0.05, budget_s=0.15, target_rel_iqr=0.02)
NUMPY_DTYPES = {torch.float32: "float32", torch.float64: "float64"}
ONEDNN_DTYPES = (torch.float32, torch.bfloat16)


def _torch_mm(a: torch.Tensor, b: torch.Tensor) -> Callable[[], object]:
    return lambda: torch.mm(a, b)


def _onednn(a: torch.Tensor, b: torch.Tensor) -> Callable[[], object] | None:
    if a.dtype not in ONEDNN_DTYPES or not torch.backends.mkldnn.is_available():
        return None
    x, w = a.to_mkldnn(), b.t().contiguous().to_mkldnn()  # linear computes x @ w.T
    return lambda: torch._C._nn.mkldnn_linear(x, w, None)


def _numpy(a: torch.Tensor, b: torch.Tensor) -> Callable[[], object] | None:
    if a.dtype not in NUMPY_DTYPES:
        return None
    import numpy as np

    x, y = a.numpy(), b.numpy()  # threads: OPENBLAS_NUM_THREADS, set by the runner for every worker
    return lambda: np.matmul(x, y)


def candidates(device: str, dtype: torch.dtype, size: int) -> dict[str, Callable[[], object]]:
    """Library name -> one matmul call of two size x size matrices."""
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    if device.startswith("cuda"):
        return {"cublas": _torch_mm(a, b)}
    found = {"mkl" if torch.backends.mkl.is_available() else "aten": _torch_mm(a, b)}
    for name, make in (("onednn", _onednn), ("openblas", _numpy)):
        try:
            call = make(a, b)
            if call is not None:
                call()
                found[name] = call
        except (RuntimeError, TypeError, ImportError):  # not built in: not a candidate
            continue
    return found


def best_round_flops(call: Callable[[], object], device: str, flops: float, rounds: int = ROUNDS) -> float:
    """FLOP/s of the fastest round's median, each round timed by the project's rule."""
    run_block = timing_mod.block_timer(call, device, "wall", "warm")
    run_block(1)  # warm-up
    calls = timing_mod.calibrate(run_block, timing_mod.block_target_s(device), 0.0)
    medians = [summarize(timing_mod.sample_blocks(run_block, calls, RULE).per_call_s).median_s for _ in range(rounds)]
    return flops / min(medians)


def matmul_peak(device: str, dtype: torch.dtype, size: int | None = None) -> dict:
    """{"peak_flops_per_s": best, "library": its name, "candidates": {name: FLOP/s}, "size": n}."""
    if size is None:
        size = 4096 if device.startswith("cuda") else 1024
    figures = {}
    for name, call in candidates(device, dtype, size).items():
        figures[name] = best_round_flops(call, device, 2.0 * size**3)
    library = max(figures, key=figures.get)
    return {"peak_flops_per_s": figures[library], "library": library, "candidates": figures, "size": size}
