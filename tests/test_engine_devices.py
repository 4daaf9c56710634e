"""Where the deployment engines run: ONNX Runtime on CUDA through its CUDA execution provider (never a silent CPU
fallback), AOTInductor packages on CUDA, and the CPU-only ones refused on CUDA with the reason.

The provider choice, the skip without onnxruntime-gpu, the refusal of a session that fell back to CPU and the I/O
binding (on CPU, where it is the same code with device_type "cpu") are checked here on any machine; the CUDA runs
are skipped, with the reason, where there is no GPU or no CUDA provider.
"""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest
import torch

from bench.commands.verify import COMPILE_SHAPE
from bench.plan.cases import expand
from bench.plan.spec import spec_from_dict
from bench.worker.correctness import check
from implementations import registry
from implementations.families import make_reference

HAS_ORT = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxscript", "onnxruntime"))
needs_ort = pytest.mark.skipif(not HAS_ORT, reason="onnx, onnxscript, onnxruntime not installed (rnnbench[engines])")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")
ALL_PROVIDERS = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def _engines():
    from implementations import onnx_engines

    return onnx_engines


def _cuda_provider_missing() -> str | None:
    if not HAS_ORT:
        return "onnxruntime not installed"
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "the installed onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu)"
    return None


@pytest.mark.parametrize(
    ("key", "devices"),
    [
        ("lstm.onnxruntime", ("cpu", "cuda")),
        ("gru.export_aoti", ("cpu", "cuda")),
        ("lstm.onnxruntime_int8", ("cpu",)),  # DynamicQuantizeLSTM is a CPU-only ORT kernel
        ("lstm.openvino", ("cpu",)),  # rnnbench drives OpenVINO's CPU plugin only
        ("lstm.cpp_extension", ("cpu",)),  # raw-pointer loops, MKL packed GEMM, a CPU-only op registration
    ],
)
def test_engines_are_registered_where_they_run(key, devices):
    impl = registry.get(key)
    assert impl.devices == devices
    if "cuda" not in devices:
        assert impl.unsupported_reason("cuda") in (f"{key} runs on cpu, not cuda", impl.unavailable_reason)


def test_providers_are_cuda_alone_on_cuda_and_cpu_on_cpu():
    providers_for = _engines().providers_for
    assert providers_for("cuda", ALL_PROVIDERS) == ["CUDAExecutionProvider"]
    assert providers_for("cuda:1", ALL_PROVIDERS) == ["CUDAExecutionProvider"]
    assert providers_for("cpu", ALL_PROVIDERS) == ["CPUExecutionProvider"]
    assert providers_for("cpu", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]


def test_missing_cuda_provider_is_one_line_naming_the_gpu_wheel():
    engines = _engines()
    with pytest.raises(engines.ExportError) as info:
        engines.providers_for("cuda", ["AzureExecutionProvider", "CPUExecutionProvider"])
    message = str(info.value)
    assert "\n" not in message
    assert "needs CUDAExecutionProvider" in message and "AzureExecutionProvider, CPUExecutionProvider" in message
    assert message.endswith("pip install onnxruntime-gpu (in place of onnxruntime)")


@needs_ort
def test_cuda_cases_are_skipped_with_the_pip_hint_without_the_provider(monkeypatch):
    import onnxruntime as ort

    impl = registry.get("lstm.onnxruntime")
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    reason = impl.unsupported_reason("cuda")
    assert reason is not None and "pip install onnxruntime-gpu" in reason
    assert impl.unsupported_reason("cuda:0") == reason
    assert impl.unsupported_reason("cpu") is None
    spec = spec_from_dict({"impls": ["lstm.onnxruntime"], "devices": ["cpu", "cuda"], "modes": ["inference"]})
    planned = {case.device: why for case, why in expand(spec, [impl])}
    assert planned == {"cpu": None, "cuda": reason}
    monkeypatch.setattr(ort, "get_available_providers", lambda: ALL_PROVIDERS)
    assert impl.unsupported_reason("cuda") is None


@needs_ort
def test_a_session_that_fell_back_to_cpu_is_an_error(monkeypatch):
    """ORT replaces a CUDA provider it cannot load by the CPU one with only a warning: rnnbench refuses it."""
    import onnxruntime as ort

    engines = _engines()
    asked = {}

    class FellBack:
        def __init__(self, model, options, providers, provider_options):
            asked.update(providers=providers, provider_options=provider_options)

        def get_providers(self):
            return ["CPUExecutionProvider"]

    monkeypatch.setattr(ort, "get_available_providers", lambda: ALL_PROVIDERS)
    monkeypatch.setattr(ort, "InferenceSession", FellBack)
    with pytest.raises(engines.ExportError) as info:
        engines.ort_session(b"", torch.device("cuda", 1))
    assert asked == {"providers": ["CUDAExecutionProvider"], "provider_options": [{"device_id": "1"}]}
    assert str(info.value).startswith("onnxruntime did not start CUDAExecutionProvider (it runs CPUExecutionProvider)")
    assert "pip install onnxruntime-gpu" in str(info.value)


@pytest.mark.slow
@needs_ort
def test_io_binding_runs_in_place_and_never_aliases_outputs():
    """The CUDA path's binding code, on CPU: torch tensors bound by data_ptr in, fresh torch tensors out."""
    from implementations._export import Flat, onnx_model

    engines = _engines()
    flat = Flat(make_reference("lstm", 3, 5).float().eval()).requires_grad_(False)
    inputs = [torch.randn(2, 4, 3), torch.randn(1, 2, 5), torch.randn(1, 2, 5)]
    run = engines.bound_runner(engines.ort_session(onnx_model(flat, inputs)[0]), flat, inputs)
    with torch.no_grad():
        expected = flat(*inputs)
    first = run(inputs)
    assert [tuple(t.shape) for t in first] == [(2, 4, 5), (1, 2, 5), (1, 2, 5)]
    for got, want in zip(first, expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    second = run([inputs[0], first[1], first[2]])  # streamed: the final state fed back as the next initial state
    with torch.no_grad():
        expected = flat(inputs[0], first[1], first[2])
    for got, want in zip(second, expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert {t.data_ptr() for t in first}.isdisjoint(t.data_ptr() for t in second)


@pytest.mark.cuda
@pytest.mark.slow
@needs_cuda
@pytest.mark.parametrize("family", ["lstm", "gru", "rnn_relu"])
def test_onnxruntime_on_cuda_matches_reference_with_outputs_on_the_gpu(family):
    missing = _cuda_provider_missing()
    if missing:
        pytest.skip(missing)
    impl = registry.get(f"{family}.onnxruntime")
    result = check(impl, device="cuda", gradients=False, **dataclasses.asdict(COMPILE_SHAPE))
    assert result.correct, result.message
    _assert_outputs_on_cuda(impl)


@pytest.mark.cuda
@pytest.mark.slow
@needs_cuda
def test_onnxruntime_cuda_case_is_measured_by_the_worker():
    """The sweep's own path: a CUDA-event-timed case whose row is ok and correct."""
    missing = _cuda_provider_missing()
    if missing:
        pytest.skip(missing)
    from bench.plan.cases import Case
    from bench.plan.spec import Timing
    from bench.worker.measure import measure_case

    quick = Timing(min_time_s=0.01, budget_s=0.05, min_samples=3, warmup_calls=1, memory=False)
    case = Case("gru.onnxruntime", "gru", "onnxruntime", "cuda", "float32", "inference", 2, 3, 4, 5)
    row = measure_case(case, quick, threads=1)
    assert row["status"] == "ok" and row["correct"], row.get("error")
    assert row["median_s"] > 0


@pytest.mark.cuda
@pytest.mark.slow
@needs_cuda
def test_export_aoti_on_cuda_keeps_outputs_on_the_gpu():
    _assert_outputs_on_cuda(registry.get("lstm.export_aoti"))


def _assert_outputs_on_cuda(impl) -> None:
    model = impl.build(make_reference(impl.family, 3, 5), "cuda", torch.float32)
    x = torch.randn(2, 4, 3, device="cuda")
    state = torch.randn(1, 2, 5, device="cuda")
    output, final = model(x, (state, state.clone()) if impl.family == "lstm" else state)
    for t in (output, *(final if isinstance(final, tuple) else (final,))):
        assert t.is_cuda, f"{impl.key} returned a {t.device} tensor"


@needs_ort
def test_list_names_a_gpu_it_cannot_use(monkeypatch, capsys):
    import json

    import onnxruntime as ort

    from bench.cli import main

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert main(["list", "--impl", "lstm.onnxruntime", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["unavailable"] is None and list(row["unavailable_devices"]) == ["cuda"]
    assert "pip install onnxruntime-gpu" in row["unavailable_devices"]["cuda"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert main(["list", "--impl", "lstm.onnxruntime"]) == 0
    assert "UNAVAILABLE on cuda: onnxruntime on cuda needs CUDAExecutionProvider" in capsys.readouterr().out
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # no GPU: its providers are not worth a line
    assert main(["list", "--impl", "lstm.onnxruntime"]) == 0
    assert "UNAVAILABLE" not in capsys.readouterr().out
    monkeypatch.setattr(ort, "get_available_providers", lambda: ALL_PROVIDERS)
    assert main(["list", "--impl", "lstm.onnxruntime", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["unavailable_devices"] == {}
