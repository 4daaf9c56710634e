"""lstm/gru/rnn_tanh.triton_persistent: the kernel's step body in Triton's interpreter on the CPU; the persistent
form (one launch, grid-wide barrier) against cuDNN and the float64 reference where CUDA is present."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.plan.verify_shapes import SHAPES
from bench.worker.correctness import check
from implementations import registry
from implementations.families import make_reference

needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None,
                                  reason="triton is not installed (pip install 'rnnbench[gpu]')")  # fmt: skip
FAMILIES = ("lstm", "gru", "rnn_tanh")
ROOT = Path(__file__).resolve().parent.parent


@needs_triton
def test_step_kernel_matches_the_float64_reference_in_the_interpreter():
    """Every family at every verify shape (float32), bf16/fp16 and the training fallback at one shape each."""
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "_triton_interpreter_cases.py")], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 3 * len(SHAPES) + 3
    failed = [row for row in rows if not row["correct"]]
    assert not failed, failed
    assert rows[-1]["grad_rel_err"] is not None


@needs_triton
def test_cpu_tensors_without_the_interpreter_are_refused():
    from implementations import _triton_rnn
    from implementations.triton_persistent import TritonPersistentRNN

    if _triton_rnn.interpreted():
        pytest.skip("this process runs with TRITON_INTERPRET=1")
    model = TritonPersistentRNN(make_reference("lstm", 3, 4, 1, False), "cpu", torch.float32, persistent=False)
    with torch.no_grad(), pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
        model(torch.randn(1, 2, 3), (torch.zeros(1, 1, 4), torch.zeros(1, 1, 4)))


def test_registered_cuda_only_with_the_reason():
    for family in FAMILIES:
        impl = registry.get(f"{family}.triton_persistent")
        assert impl.unsupported_reason("cpu") == f"{family}.triton_persistent runs on cuda, not cpu"
        assert impl.supports("cuda", torch.bfloat16, num_layers=2, bidirectional=True, mode="training")


# the issue's grid, small enough for a test: batch 1 and 8, hidden 256 and 1024, seq_len 100
CUDA_SHAPES = [(batch, hidden) for batch in (1, 8) for hidden in (256, 1024)]


@needs_triton
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="the persistent kernel (grid-wide barrier) needs CUDA")
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(("batch", "hidden"), CUDA_SHAPES)
def test_persistent_kernel_matches_cudnn_and_the_reference(family, batch, hidden):
    impl = registry.get(f"{family}.triton_persistent")
    result = check(impl, device="cuda", dtype="float32", batch=batch, seq_len=100, input_size=hidden,
                   hidden_size=hidden, gradients=False)  # fmt: skip
    assert result.correct, result.message
    from implementations._triton_rnn import LAST_LAUNCH

    props = torch.cuda.get_device_properties(0)
    print(family, batch, hidden, LAST_LAUNCH, f"{props.multi_processor_count} SMs")  # pytest -s shows the resources
    assert LAST_LAUNCH["grid"] <= props.multi_processor_count  # one program per SM: all resident
    regs_per_sm = getattr(props, "regs_per_multiprocessor", 65536)  # 64K on Volta..Hopper
    assert LAST_LAUNCH["n_regs"] * 32 * LAST_LAUNCH["num_warps"] <= regs_per_sm
    reference = make_reference(family, hidden, hidden, 1, False).cuda()
    model = impl.build(reference, "cuda", torch.float32)
    x = torch.randn(batch, 100, hidden, device="cuda")
    h0 = torch.zeros(1, batch, hidden, device="cuda")
    state = (h0, torch.zeros_like(h0)) if family == "lstm" else h0
    with torch.no_grad():
        got, _ = model(x, state)
        want, _ = reference(x, state)  # cuDNN
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4), (got - want).abs().max().item()


def test_gpu_sweep_config_is_the_issue_grid():
    from bench.plan.cases import expand
    from bench.plan.spec import load_spec

    spec = load_spec(ROOT / "bench" / "configs" / "triton.toml")
    cases = expand(spec, registry.match([impl for grid in spec.grids for impl in grid.impls]))
    shapes = {(c.batch, c.seq_len, c.hidden_size) for c, _ in cases if c.input_size == c.hidden_size}
    assert shapes == {(b, t, h) for b in (1, 8, 64) for t in (100, 1000) for h in (256, 512, 1024)}
    assert {c.key for c, _ in cases} == {"lstm.triton_persistent", "lstm.native"} and len(cases) == 36
    assert {(c.device, c.dtype, c.mode) for c, _ in cases} == {("cuda", "float32", "inference")}
