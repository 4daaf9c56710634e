"""The sweep's CUDA paths: synchronized timing, the allocator's peak memory, TF32 and the CUDA-only variants.

These run wherever CUDA is present and are skipped, with the reason, where it is not.
"""

from pathlib import Path

import pytest
import torch

from bench.results import store
from bench.worker import timing
from bench.worker.memory import peak_extra_bytes

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")


@needs_cuda
def test_timing_waits_for_the_gpu():
    """A kernel that spins ~50 ms on the GPU must time as ~50 ms, not as the microseconds its launch takes."""
    torch.cuda._sleep(1000)  # warm-up
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    torch.cuda._sleep(50_000_000)
    end.record()
    torch.cuda.synchronize()
    expected_s = start.elapsed_time(end) / 1e3
    rule = timing.StopRule(min_samples=10, min_time_s=0.2, budget_s=0.5, target_rel_iqr=0.05)
    got = timing.measure(lambda: torch.cuda._sleep(50_000_000), "cuda", "wall", "warm", rule, expected_s)
    median = sorted(got.per_call_s)[len(got.per_call_s) // 2]
    assert median == pytest.approx(expected_s, rel=0.2)
    assert len(got.per_call_s) >= 10 and got.calls == 1  # the budget never cuts below min_samples


@needs_cuda
def test_cuda_peak_memory_is_the_allocators_peak_above_baseline():
    keep = torch.empty(64 << 20, dtype=torch.uint8, device="cuda")  # existing memory is not counted
    size = 8 << 20
    peak = peak_extra_bytes(lambda: torch.empty(size, dtype=torch.uint8, device="cuda"), "cuda")
    assert size <= peak < size + (2 << 20)
    del keep


@needs_cuda
@pytest.mark.slow
def test_gpu_sweep_of_cuda_variants(cli, tmp_path):
    result = cli(
        "sweep",
        "--impl",
        "lstm.native,lstm.native_nocudnn,lstm.cudagraph,lstm.premul_loop",
        "--device",
        "cuda",
        "--dtype",
        "float32,tf32,bfloat16",
        "--mode",
        "inference,training",
        "--batch",
        "8",
        "--seq-len",
        "16",
        "--input-size",
        "64",
        "--hidden-size",
        "64",
        "--budget-s",
        "0.3",
        "--progress",
        "plain",
        "--no-report",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    frame = store.read_measurements(Path(result.stdout.strip().splitlines()[-1]))
    ok = frame[frame["status"] == "ok"]
    assert set(ok["impl"]) >= {"native", "native_nocudnn", "premul_loop"}
    assert (ok["correct"] == True).all(), ok[["case_id", "error"]]  # noqa: E712
    assert (ok["median_s"] > 0).all()
    assert (ok["n_samples"] >= 10).all(), ok[["case_id", "n_samples", "calls_per_sample"]]  # min_samples, always
    assert ok["ci_low_s"].notna().all() and set(ok["stopped_by"]) <= {"spread", "budget"}
    # every case holds weights and inputs; a replayed CUDA graph allocates nothing per call (its pool is resident)
    assert (ok["resident_mem_bytes"] > 0).all(), ok[["case_id", "resident_mem_bytes"]]
    eager = ok[ok["impl"] != "cudagraph"]
    assert (eager["peak_mem_bytes"] > 0).all(), eager[["case_id", "peak_mem_bytes"]]
    graphs = ok[ok["impl"] == "cudagraph"].set_index(["dtype", "mode"])["resident_mem_bytes"]
    loops = ok[ok["impl"] == "premul_loop"].set_index(["dtype", "mode"])["resident_mem_bytes"]
    assert (graphs > loops.reindex(graphs.index)).all(), (graphs, loops)  # the pool is counted
    assert set(ok["dtype"]) == {"float32", "tf32", "bfloat16"}
    meta = store.read_meta(Path(result.stdout.strip().splitlines()[-1]))
    assert meta["environment"]["gpus"] and meta["environment"]["cudnn"]
    assert meta["peak_flops_per_s"]["cuda/bfloat16"] > meta["peak_flops_per_s"]["cuda/float32"]
    assert meta["peak_sources"]["cuda/float32"]["library"] == "cublas"
    if torch.cuda.get_device_capability() >= (8, 0):  # TF32 tensor cores from Ampere on
        assert meta["peak_flops_per_s"]["cuda/tf32"] > 2 * meta["peak_flops_per_s"]["cuda/float32"]


def test_cuda_request_without_cuda_is_refused(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA, so the refusal cannot be observed here")
    from bench.cli import main

    assert main(["sweep", "--impl", "lstm.native", "--device", "cuda", "--out", "/nonexistent"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
