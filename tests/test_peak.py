"""The peak efficiency divides by: the best GEMM library present, each measured like a case."""

import pytest
import torch

from bench.plan.flops import throughput_fields
from bench.worker.peak import candidates, matmul_peak


def test_peak_is_the_best_library_and_every_candidate_is_recorded():
    torch.set_num_threads(1)
    found = candidates("cpu", torch.float32, 64)
    assert {"onednn", "openblas"} <= set(found) and ({"mkl", "aten"} & set(found))
    peak = matmul_peak("cpu", torch.float32, size=128)
    assert set(peak["candidates"]) == set(found) and peak["size"] == 128
    assert peak["peak_flops_per_s"] == max(peak["candidates"].values()) == peak["candidates"][peak["library"]]
    assert all(value > 1e7 for value in peak["candidates"].values())
    assert "openblas" not in candidates("cpu", torch.bfloat16, 64)  # numpy has no bfloat16


def test_flop_rates_come_from_elapsed_time_and_rows_above_the_peak_are_flagged():
    fields = throughput_fields(flops=2e6, elapsed_median_s=1e-3, peak_flops_per_s=1e9)
    assert fields == {"achieved_flops_per_s": 2e9, "peak_flops_per_s": 1e9, "efficiency": 2.0, "above_peak": True}
    assert throughput_fields(1e6, 1e-3, 1e10)["above_peak"] is False
    assert throughput_fields(1e6, 1e-3, None) == {"achieved_flops_per_s": pytest.approx(1e9)}
