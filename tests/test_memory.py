"""Peak memory on CPU comes from the profiler's allocation events: check it behaves like memory does."""

import torch

from bench.plan.cases import Case
from bench.worker.memory import peak_extra_bytes
from bench.worker.workload import prepare


def _peak(mode: str, seq_len: int) -> tuple[int, Case]:
    case = Case("lstm.native", "lstm", "native", "cpu", "float32", mode, 8, seq_len, 32, 64)
    workload = prepare(case)
    workload.step()  # warm-up allocations are not what we measure
    return peak_extra_bytes(workload.step, "cpu"), case


def test_training_memory_grows_with_seq_len():
    short, _ = _peak("training", 16)
    long, _ = _peak("training", 64)
    assert long > 3 * short  # activations for every step are kept for backward: about linear in seq_len


def test_native_inference_memory_stays_near_output_size():
    peak, case = _peak("inference", 128)
    output_bytes = case.batch * case.seq_len * case.hidden_size * 4
    # the output itself, plus oneDNN's gate workspace (4 gates per step), final states and scratch:
    # about 6x the output here, nothing like the activations training keeps
    assert output_bytes <= peak <= 7 * output_bytes
    training, _ = _peak("training", 128)
    assert training > peak


def test_known_allocation_is_measured_exactly():
    size = 1 << 20
    assert peak_extra_bytes(lambda: torch.empty(size, dtype=torch.uint8), "cpu") >= size
    assert peak_extra_bytes(lambda: None, "cpu") == 0
