"""The deployment engines and the C++ loop: each agrees with the float64 reference where its engine supports
the case, an engine that is not installed is skipped with the reason, and failures are rows, not crashes."""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import asdict

import pytest
import torch

from bench.commands.list_ import _row
from bench.commands.verify import COMPILE_SHAPE, SHAPES
from bench.plan.cases import Case
from bench.plan.spec import Timing
from bench.worker.correctness import check
from bench.worker.measure import measure_case
from implementations import cpp_extension, registry
from implementations.families import FAMILIES, make_reference
from implementations.registry import Implementation

QUICK = Timing(min_time_s=0.01, budget_s=0.02, min_samples=3, warmup_calls=1, memory=False)


def _installed(*modules: str):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    reason = f"{', '.join(missing)} not installed (pip install rnnbench[engines])"
    return pytest.mark.skipif(bool(missing), reason=reason)


def _shape(shape) -> dict:
    return asdict(shape)


@pytest.mark.parametrize("shape", SHAPES, ids=[s.label.replace(" ", "-") for s in SHAPES])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_cpp_extension_forward_and_gradients_match_reference(family, shape):
    for dtype in ("float32", "float64"):
        result = check(registry.get(f"{family}.cpp_extension"), dtype=dtype, gradients=True, **_shape(shape))
        assert result.correct, result.message
        assert result.grad_rel_err is not None


def test_cpp_extension_uses_the_packed_gemm_where_torch_links_mkl():
    assert cpp_extension.ops().packed_gemm() == ("mkl" in torch.__config__.show().lower())


def test_cpp_extension_catches_a_wrong_gate():
    """The check is not blind to the kernel: swapping LSTM's f and i weights must fail it."""
    impl = registry.get("lstm.cpp_extension")
    original = impl.build_fn

    def swapped(reference, device, dtype):
        model = original(reference, device, dtype)
        with torch.no_grad():
            for name in ("weight_ih_l0", "weight_hh_l0"):
                w = getattr(model, name)
                w.copy_(torch.cat([w[7:14], w[:7], w[14:]]))
        return model

    wrong = dataclasses.replace(impl, build_fn=swapped)
    result = check(wrong, batch=2, seq_len=3, input_size=4, hidden_size=7, gradients=False)
    assert not result.correct


def test_missing_compiler_is_an_error_row_with_the_reason(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-here")
    cpp_extension.ops.cache_clear()
    try:
        case = Case("gru.cpp_extension", "gru", "cpp_extension", "cpu", "float32", "inference", 2, 3, 4, 5)
        row = measure_case(case, QUICK, threads=1)
    finally:
        cpp_extension.ops.cache_clear()
    assert row["status"] == "error"
    assert "no C++ compiler: 'no-such-compiler-here' is not on PATH" in row["error"]


def test_a_failing_compiler_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", "/bin/false")
    monkeypatch.setenv("RNNBENCH_CACHE_DIR", str(tmp_path))
    cpp_extension.ops.cache_clear()
    try:
        with pytest.raises(cpp_extension.BuildError) as info:
            cpp_extension.ops()
    finally:
        cpp_extension.ops.cache_clear()
    assert str(info.value).startswith("cpp_extension build failed: ") and "\n" not in str(info.value)
    assert "/bin/false" in str(info.value)


def test_build_failure_reports_the_compilers_error_line():
    log = "[1/2] c++ -c rnn_loop.cpp\nFAILED: rnn_loop.o\nrnn_loop.cpp:3:1: error: 'foo' does not name a type\nninja"
    assert cpp_extension.first_error_line(log) == "rnn_loop.cpp:3:1: error: 'foo' does not name a type"


def test_build_key_changes_with_the_flags(monkeypatch):
    key = cpp_extension.build_key()
    monkeypatch.setattr(cpp_extension, "CFLAGS", (*cpp_extension.CFLAGS, "-DX"))
    assert cpp_extension.build_key() != key


@pytest.mark.parametrize("family", list(FAMILIES))
def test_onednn_loop_matches_reference(family):
    for shape in SHAPES:
        result = check(registry.get(f"{family}.onednn_loop"), gradients=False, **_shape(shape))
        assert result.correct, f"{shape.label}: {result.message}"


@pytest.mark.parametrize("family", ["lstm", "gru"])
def test_quantized_dynamic_within_its_own_tolerance(family):
    impl = registry.get(f"{family}.quantized_dynamic")
    result = check(impl, gradients=False, **_shape(COMPILE_SHAPE))
    assert result.tolerance == impl.tolerance == 5e-2
    assert result.correct, result.message
    assert result.rel_err > 1e-5  # int8: visibly not float32, so the float32 tolerance would be wrong


ENGINE_CASES = [
    pytest.param("lstm.onnxruntime", marks=_installed("onnx", "onnxscript", "onnxruntime")),
    pytest.param("gru.onnxruntime", marks=_installed("onnx", "onnxscript", "onnxruntime")),
    pytest.param("lstm.onnxruntime_int8", marks=_installed("onnx", "onnxscript", "onnxruntime")),
    pytest.param("lstm.openvino", marks=_installed("onnx", "onnxscript", "openvino")),
    pytest.param("gru.openvino", marks=_installed("onnx", "onnxscript", "openvino")),
]


@pytest.mark.slow
@pytest.mark.parametrize("key", ENGINE_CASES)
def test_exported_engine_matches_reference_two_layers_bidirectional(key):
    impl = registry.get(key)
    result = check(impl, gradients=False, **_shape(COMPILE_SHAPE))
    assert result.correct, result.message


@pytest.mark.slow
def test_export_aoti_lstm_matches_reference_and_keeps_the_fused_op():
    from implementations.export_aoti import aoti_runner

    impl = registry.get("lstm.export_aoti")
    model = impl.build(make_reference("lstm", 3, 5), "cpu", torch.float32)
    x, state = torch.randn(2, 4, 3), (torch.randn(1, 2, 5), torch.randn(1, 2, 5))
    model(x, state)
    (runner,) = model._runners.values()
    assert runner.fused_rnn  # inductor calls oneDNN's mkldnn_rnn_layer on CPU
    assert aoti_runner is not None
    result = check(impl, gradients=False, batch=2, seq_len=4, input_size=3, hidden_size=5)
    assert result.correct, result.message


@_installed("onnx", "onnxscript", "onnxruntime")
def test_failed_export_is_an_error_row_with_the_exporters_first_line(monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::lstm\nmore detail")

    monkeypatch.setattr(torch.onnx, "export", refuse)
    case = Case("lstm.onnxruntime", "lstm", "onnxruntime", "cpu", "float32", "inference", 2, 3, 4, 5)
    row = measure_case(case, QUICK, threads=1)
    assert row["status"] == "error"
    assert "onnx export failed: RuntimeError: unsupported operator aten::lstm;" in row["error"]
    assert "more detail" not in row["error"]


def test_quantized_row_records_its_own_tolerance():
    case = Case("lstm.quantized_dynamic", "lstm", "quantized_dynamic", "cpu", "float32", "inference", 2, 3, 4, 5)
    row = measure_case(case, QUICK, threads=1)
    assert row["status"] == "ok" and row["correct"], row.get("error")
    assert row["tolerance"] == 5e-2
    native = measure_case(Case("lstm.native", "lstm", "native", "cpu", "float32", "inference", 2, 3, 4, 5), QUICK, 1)
    assert native["tolerance"] == 1e-4


def _fake(requires: tuple[str, ...]) -> Implementation:
    return Implementation("lstm.fake_engine", "lstm", lambda r, d, t: r, requires=requires, training=False)


def test_engine_not_installed_is_skipped_with_the_reason():
    impl = _fake(("no_such_engine_module",))
    reason = impl.unsupported_reason("cpu")
    assert reason == "lstm.fake_engine needs no_such_engine_module, not installed (pip install 'rnnbench[engines]')"
    assert _row(impl)["unavailable"] == reason
    assert _fake(("torch",)).unsupported_reason("cpu") is None


def test_not_installed_engine_cases_are_planned_as_skipped():
    from bench.plan.cases import expand
    from bench.plan.spec import spec_from_dict

    spec = spec_from_dict({"impls": ["lstm.*"], "modes": ["inference"]})
    planned = dict((case.key, reason) for case, reason in expand(spec, [_fake(("no_such_engine_module",))]))
    assert "not installed" in planned["lstm.fake_engine"]


def test_exclude_impls_takes_globs_out_and_the_command_line_brings_them_back():
    from bench.plan.cases import expand
    from bench.plan.spec import spec_from_dict, with_overrides

    spec = spec_from_dict({"impls": ["lstm.*"], "exclude_impls": ["lstm.export_aoti"], "modes": ["inference"]})
    keys = {case.key for case, _ in expand(spec, registry.all())}
    assert "lstm.export_aoti" not in keys and "lstm.native" in keys
    again = with_overrides(spec, impls=["lstm.export_aoti"])
    assert {case.key for case, _ in expand(again, registry.all())} == {"lstm.export_aoti"}


@pytest.mark.slow
@_installed("onnx", "onnxscript", "onnxruntime")
def test_int8_quantizes_the_lstm_at_a_realistic_size():
    """Weights over the exporter's folding limit (8192 elements) must still reach quantize_dynamic as constants."""
    result = check(registry.get("lstm.onnxruntime_int8"), gradients=False, batch=2, seq_len=3, input_size=128,
                   hidden_size=128)
    assert result.correct, result.message
    assert result.rel_err > 1e-5  # quantized, not float32 in disguise


@pytest.mark.cuda
@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")
@pytest.mark.parametrize("family", ["lstm", "gru"])
def test_export_aoti_on_cuda_matches_reference(family):
    result = check(registry.get(f"{family}.export_aoti"), device="cuda", gradients=False, **_shape(COMPILE_SHAPE))
    assert result.correct, result.message


NOT_INSTALLED_PLUGIN = """
import copy
from implementations.registry import register


@register("lstm.missing_engine", "lstm", training=False, requires=("no_such_engine_module",))
def build(reference, device, dtype):
    return copy.deepcopy(reference).to(device=device, dtype=dtype)
"""


def test_list_and_verify_show_an_engine_that_is_not_installed(tmp_path, capsys, monkeypatch):
    from bench.cli import main

    registry.all()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    plugin = tmp_path / "missing_engine.py"
    plugin.write_text(NOT_INSTALLED_PLUGIN)
    assert main(["list", "--plugin", str(plugin), "--impl", "lstm.missing_engine"]) == 0
    listed = capsys.readouterr().out
    assert "UNAVAILABLE: lstm.missing_engine needs no_such_engine_module, not installed" in listed
    assert "1 implementations of 1 families (lstm), 1 unavailable here" in listed
    assert main(["verify", "--plugin", str(plugin), "--impl", "lstm.missing_engine"]) == 0
    verified = capsys.readouterr().out
    assert "0 passed, 0 failed, 1 skipped" in verified and "no_such_engine_module" in verified
