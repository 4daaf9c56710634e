"""Every registered implementation at a couple of small shapes, as a pytest-benchmark suite.

    pytest tests/benchmarks --benchmark-autosave
    pytest tests/benchmarks --benchmark-compare --benchmark-compare-fail=median:10%

The timed call is one `Workload.step()` (forward, plus backward in training mode) followed by a CUDA
synchronize, so a GPU case is timed to the end of its kernels and not to the end of their launch.
"""

from __future__ import annotations

import pytest
import torch

from bench.commands.verify import EXPORTED
from bench.plan.cases import Case
from bench.worker.workload import matmul_precision, prepare
from implementations import registry

SHAPES = (  # (batch, seq_len, input_size, hidden_size): one latency-bound, one a little larger
    (1, 16, 32, 32),
    (8, 32, 64, 64),
)
MODES = ("inference", "training")
DEVICES = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)


def _cases() -> list:
    params = []
    for impl in registry.all():
        if impl.impl in EXPORTED:  # an export or a C++ compilation per shape: measured by the sweep instead
            continue
        for device in DEVICES:
            for mode in MODES:
                if not impl.supports(device, torch.float32, 1, False, mode):
                    continue
                for batch, seq_len, input_size, hidden_size in SHAPES:
                    case = Case(
                        impl.key,
                        impl.family,
                        impl.impl,
                        device,
                        "float32",
                        mode,
                        batch,
                        seq_len,
                        input_size,
                        hidden_size,
                    )
                    marks = [pytest.mark.cuda] if device == "cuda" else []
                    params.append(pytest.param(case, id=case.slug, marks=marks))
    return params


@pytest.mark.parametrize("case", _cases())
def test_step(benchmark, case: Case) -> None:
    workload = prepare(case)
    benchmark.group = f"{case.family} {case.mode} {case.device} b{case.batch} t{case.seq_len} h{case.hidden_size}"
    benchmark.extra_info.update(case_id=case.case_id, threads=torch.get_num_threads())

    def call() -> None:
        workload.step()
        workload.synchronize()

    with matmul_precision(case):
        call()  # first call (compilation, lazy init) outside the timing
        benchmark(call)
