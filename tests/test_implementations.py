"""Every built-in implementation computes nn.RNN / nn.LSTM / nn.GRU's function, gradients included."""

from __future__ import annotations

import copy
from collections import Counter

import pytest
import torch
from torch import nn
from torch._dynamo.utils import counters

from bench.plan.cases import Case
from bench.plan.verify_shapes import COMPILE_SHAPE, SHAPES
from bench.worker.correctness import TOLERANCES, check, check_model
from bench.worker.workload import prepare
from implementations import registry
from implementations.families import FAMILIES, make_inputs, make_reference

EAGER = ("scratch_loop", "premul_loop", "cell_loop", "script_scratch", "script_premul", "fused_loop", "native")
SHAPE_IDS = [shape.label.replace(" ", "-") for shape in SHAPES]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _shape(shape) -> dict:
    return {
        "batch": shape.batch,
        "seq_len": shape.seq_len,
        "input_size": shape.input_size,
        "hidden_size": shape.hidden_size,
        "num_layers": shape.num_layers,
        "bidirectional": shape.bidirectional,
    }


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("variant", EAGER)
def test_eager_float64_matches_reference(variant, family, shape):
    """float64 at 1e-10: layers {1,2} x directions {1,2}, batch 1, seq_len 1, hidden 5/7/10/13."""
    result = check(registry.get(f"{family}.{variant}"), dtype="float64", gradients=True, **_shape(shape))
    assert result.correct, result.message
    assert result.grad_rel_err is not None and result.grad_rel_err <= TOLERANCES["float64"]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("variant", EAGER)
def test_eager_lower_precision(variant, dtype):
    result = check(registry.get(f"gru.{variant}"), dtype=dtype, gradients=True, **_shape(COMPILE_SHAPE))
    assert result.correct, result.message


# One compile per (variant, family), at the one shape that exercises everything at once (2 layers, both directions,
# batch 1, odd hidden): the loop compiled is premul_loop's, already checked at every shape above; what compiling
# can break is tracing and code generation of each family's equations and of the layer/direction stacking, which
# this shape covers. Each extra shape is another cold compile (~5-30 s here). verify uses the same shape, so the
# two share inductor's on-disk cache.
@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("variant", ["compile", "compile_step"])
def test_compiled_matches_reference(variant, family):
    result = check(registry.get(f"{family}.{variant}"), dtype="float32", gradients=True, **_shape(COMPILE_SHAPE))
    assert result.correct, result.message


@pytest.mark.slow
def test_compile_step_compiles_once_for_every_seq_len():
    """compile_step's claim: the step is compiled per batch/hidden shape, not per sequence length."""
    reference = make_reference("rnn_tanh", 4, 5, 2, True)
    model = registry.get("rnn_tanh.compile_step").build(reference, "cpu", torch.float32)
    before = counters["stats"]["unique_graphs"]
    graphs = []
    for seq_len in (2, 3, 5):
        x, state = make_inputs(reference, 1, seq_len, dtype=torch.float32)
        with torch.no_grad():
            output, _ = model(x, state)
        assert output.shape == (1, seq_len, 10)
        graphs.append(counters["stats"]["unique_graphs"] - before)
    assert graphs == [1, 1, 1]


def test_check_model_reuses_a_built_model_and_fresh_inputs():
    reference = make_reference("lstm", 4, 6, 2, True, seed=3)
    model = registry.get("lstm.fused_loop").build(reference, "cpu", torch.float32)
    first = check_model(model, reference, batch=2, seq_len=3, device="cpu", dtype="float32", gradients=True, seed=0)
    second = check_model(model, reference, batch=2, seq_len=3, device="cpu", dtype="float32", gradients=True, seed=5)
    assert first.correct and second.correct
    assert first.rel_err != second.rel_err  # other random inputs, same model
    assert 0 < first.rel_err <= TOLERANCES["float32"] and first.worst


class _Shifted(nn.Module):
    """The reference plus a small error on one output, or with NaN."""

    def __init__(self, reference: nn.Module, error: float) -> None:
        super().__init__()
        self.inner = copy.deepcopy(reference)
        self.error = error

    def forward(self, x, state):
        output, h_n = self.inner(x, state)
        return output, h_n + self.error


def _reference():
    return make_reference("gru", 3, 5, 1, False, seed=0)


def test_check_catches_a_small_error_in_the_final_state():
    result = check_model(_Shifted(_reference(), 1e-6), _reference(), batch=2, seq_len=3, device="cpu",
                         dtype="float64", gradients=False)  # fmt: skip
    assert not result.correct and result.worst == "h_n" and result.grad_rel_err is None
    assert "x the float64 tolerance" in result.message


def test_check_never_passes_nan():
    result = check_model(_Shifted(_reference(), float("nan")), _reference(), batch=2, seq_len=3, device="cpu",
                         dtype="float64", gradients=False)  # fmt: skip
    assert not result.correct and result.worst == "h_n" and "NaN" in result.message


def test_check_catches_a_wrong_lstm_gate_order():
    reference = make_reference("lstm", 3, 5, 1, False, seed=0)
    model = registry.get("lstm.premul_loop").build(reference, "cpu", torch.float32)
    with torch.no_grad():
        for param in model.parameters():
            i, f, g, o = param.chunk(4, 0)
            param.copy_(torch.cat([f, i, g, o]))
    result = check_model(model, reference, batch=2, seq_len=4, device="cpu", dtype="float32", gradients=False)
    assert not result.correct and result.rel_err > 100 * TOLERANCES["float32"]


def test_unmatched_parameter_fails_the_check():
    reference = _reference()
    model = registry.get("gru.cell_loop").build(reference, "cpu", torch.float64)
    model.reference_parameters = lambda: {k: v for k, v in type(model).reference_parameters(model).items()
                                          if k != "bias_hh_l0"}  # fmt: skip
    result = check_model(model, reference, batch=2, seq_len=3, device="cpu", dtype="float64", gradients=True)
    assert not result.correct and result.worst == "grad bias_hh_l0"
    assert result.message == "grad bias_hh_l0: the model has no parameter for bias_hh_l0"
    assert result.rel_err <= TOLERANCES["float64"]  # the forward itself is right


@needs_cuda
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("gradients", [False, True], ids=["inference", "training"])
def test_cudagraph_matches_reference(family, shape, gradients):
    impl = registry.get(f"{family}.cudagraph")
    reference = make_reference(family, shape.input_size, shape.hidden_size, shape.num_layers, shape.bidirectional)
    model = impl.build(reference, "cuda", torch.float32)
    for seed in (0, 1):  # the second call replays the captured graph with new inputs
        result = check_model(model, reference, batch=shape.batch, seq_len=shape.seq_len, device="cuda",
                             dtype="float32", gradients=gradients, seed=seed)  # fmt: skip
        assert result.correct, result.message


@needs_cuda
@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("variant", ["native", "native_nocudnn", "premul_loop", "fused_loop"])
def test_cuda_eager_matches_reference(variant, family):
    result = check(registry.get(f"{family}.{variant}"), device="cuda", dtype="float32", **_shape(COMPILE_SHAPE))
    assert result.correct, result.message


@needs_cuda
@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("variant", ["compile_reduce_overhead", "compile_step_reduce_overhead"])
def test_reduce_overhead_matches_reference(variant, family):
    result = check(registry.get(f"{family}.{variant}"), device="cuda", dtype="float32", **_shape(COMPILE_SHAPE))
    assert result.correct, result.message


@needs_cuda
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["inference", "training"])
@pytest.mark.parametrize("variant", ["cudagraph", "compile_reduce_overhead", "compile_step_reduce_overhead"])
def test_graph_replays_stay_correct_after_many_calls(variant, mode):
    """Replays reuse the graph's buffers: results must still be right after the steady-state calls a sweep makes."""
    shape = COMPILE_SHAPE
    case = Case(
        key=f"lstm.{variant}", family="lstm", impl=variant, device="cuda", dtype="float32", mode=mode,
        batch=shape.batch, seq_len=shape.seq_len, input_size=shape.input_size, hidden_size=shape.hidden_size,
        num_layers=shape.num_layers, bidirectional=shape.bidirectional,
    )  # fmt: skip
    workload = prepare(case)
    for _ in range(8):
        workload.step()
    result = check_model(
        workload.model,
        workload.reference,
        batch=shape.batch,
        seq_len=shape.seq_len,
        device="cuda",
        dtype="float32",
        gradients=mode == "training",
    )
    assert result.correct, result.message


@pytest.mark.parametrize("variant", ["cell_loop", "fused_loop"])
def test_python_loops_label_time_steps_for_the_profiler(variant):
    reference = make_reference("gru", 4, 5, 1, True)
    model = registry.get(f"gru.{variant}").build(reference, "cpu", torch.float32)
    x, state = make_inputs(reference, 2, 3, dtype=torch.float32)
    with torch.profiler.profile() as prof:
        model(x, state)
    labels = Counter(e.name for e in prof.events() if e.name.startswith("time_step"))
    per_step = 2 if variant == "cell_loop" else 1  # fused_loop runs both directions in one step
    assert labels == {f"time_step {t}": per_step for t in range(3)}
