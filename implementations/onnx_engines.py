"""The reference module exported to ONNX and run by ONNX Runtime (float32 and int8) or OpenVINO, on CPU; float32
ONNX Runtime on CUDA too, through its CUDA execution provider.

Export: torch.onnx.export with the torch.export-based exporter (dynamo=True), the TorchScript exporter if that
fails; LSTM and GRU become ONNX LSTM/GRU ops (the exporter handles batch_first and gate order), nn.RNN with
tanh an ONNX RNN op, with relu an unrolled MatMul/Add/Relu graph. Threads: the case's torch thread count,
given to the engine (ONNX Runtime intra_op_num_threads with one inter-op thread and sequential execution;
OpenVINO INFERENCE_NUM_THREADS with one stream). OpenVINO is pinned to f32 inference precision: on CPUs with
bf16 support it would otherwise run in bf16.

On CUDA: the model is exported from a CPU copy (the same graph as on CPU); the session has CUDAExecutionProvider
alone (never a silent CPU fallback: without that provider, as in the CPU wheel `onnxruntime`, the case is skipped,
and a session that did not start it is an error); I/O binding reads the torch inputs and writes torch outputs in
place on the GPU by data_ptr, so a call copies nothing to or from the host. Ordering: ORT runs on a stream of its
own, so torch's current stream is synchronized before the run (the inputs are written) and the run ends with ORT's
default end-of-run synchronization (RunOptions `disable_synchronize_execution_providers` = "0", a
cudaStreamSynchronize of its compute stream) plus IOBinding.synchronize_outputs(): when the call returns the
outputs are complete, which CUDA-event and wall-clock timing both need.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import torch
from torch import Tensor, nn

from implementations._export import (
    INT8_TOLERANCE,
    EngineModel,
    ExportError,
    Runner,
    first_line,
    onnx_model,
    op_types,
)
from implementations.families import FAMILIES
from implementations.registry import register

QUANTIZED_OPS = {"DynamicQuantizeLSTM", "MatMulInteger", "DynamicQuantizeMatMul", "QLinearMatMul"}
CUDA_PROVIDER = "CUDAExecutionProvider"
CUDA_HINT = "pip install onnxruntime-gpu (in place of onnxruntime)"
CPU = torch.device("cpu")
NUMPY_DTYPES = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16"}


def providers_for(device: str, available: list[str]) -> list[str]:
    """The execution providers of a session on `device`: CUDA's alone on cuda, CPU's on cpu; never a fallback."""
    if torch.device(device).type != "cuda":
        return ["CPUExecutionProvider"]
    if CUDA_PROVIDER not in available:
        has = ", ".join(available) or "none"
        raise ExportError(
            f"onnxruntime on cuda needs {CUDA_PROVIDER}, which this onnxruntime lacks (it has {has}): {CUDA_HINT}"
        )
    return [CUDA_PROVIDER]


def cuda_provider_reason(device_type: str) -> str | None:
    """The registry's device check: why ONNX Runtime cannot run on `device_type` here (None: it can)."""
    if device_type != "cuda":
        return None
    try:
        import onnxruntime as ort
    except ImportError:
        return None  # `requires` names the missing package
    try:
        providers_for(device_type, ort.get_available_providers())
    except ExportError as exc:
        return str(exc)
    return None


def ort_session(model: bytes, device: torch.device = CPU):
    import onnxruntime as ort

    providers = providers_for(str(device), ort.get_available_providers())
    provider_options = [{"device_id": str(device.index or 0)}] if device.type == "cuda" else None
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(model, options, providers=providers, provider_options=provider_options)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"onnxruntime could not load the model: {first_line(exc)}") from exc
    started = session.get_providers()
    if started[:1] != providers:  # ORT falls back to CPU with only a warning when the CUDA provider fails to load
        hint = f": {CUDA_HINT}, with CUDA and cuDNN libraries it can load" if device.type == "cuda" else ""
        raise ExportError(f"onnxruntime did not start {providers[0]} (it runs {', '.join(started)}){hint}")
    return session


def _ort_runner(session) -> Runner:
    names = [i.name for i in session.get_inputs()]

    def run(inputs: list[Tensor]) -> list[Tensor]:
        outputs = session.run(None, {name: t.numpy() for name, t in zip(names, inputs)})
        return [torch.from_numpy(o) for o in outputs]

    return run


def bound_runner(session, flat: nn.Module, inputs: list[Tensor]) -> Runner:
    """Runs `session` through I/O binding: torch tensors on the inputs' device in, fresh torch tensors out."""
    import onnxruntime as ort

    device = inputs[0].device
    with torch.no_grad():
        shapes = [tuple(o.shape) for o in flat(*inputs)]
    in_names = [i.name for i in session.get_inputs()]
    out_names = [o.name for o in session.get_outputs()]
    if len(out_names) != len(shapes) or len(in_names) != len(inputs):
        raise ExportError(
            f"onnxruntime model has {len(in_names)} inputs, {len(out_names)} outputs; expected "
            f"{len(inputs)}, {len(shapes)}"
        )
    binding = session.io_binding()
    options = ort.RunOptions()
    options.add_run_config_entry("disable_synchronize_execution_providers", "0")  # ORT's default, pinned
    kind, index = ("cuda", device.index or 0) if device.type == "cuda" else ("cpu", 0)

    def bind(method, name: str, t: Tensor) -> None:
        method(name, kind, index, NUMPY_DTYPES[t.dtype], tuple(t.shape), t.data_ptr())

    def run(tensors: list[Tensor]) -> list[Tensor]:
        # fresh outputs per call (torch's caching allocator): a streamed h_n fed back as h0 never aliases its output
        outputs = [torch.empty(shape, dtype=tensors[0].dtype, device=device) for shape in shapes]
        binding.clear_binding_inputs()
        binding.clear_binding_outputs()
        for name, t in zip(in_names, tensors):
            bind(binding.bind_input, name, t)
        for name, t in zip(out_names, outputs):
            bind(binding.bind_output, name, t)
        if device.type == "cuda":
            torch.cuda.current_stream(device).synchronize()  # ORT's stream is not torch's: inputs must be written
        session.run_with_iobinding(binding, options)
        binding.synchronize_outputs()
        return outputs

    return run


def onnxruntime_runner(flat: nn.Module, inputs: list[Tensor]) -> Runner:
    device = inputs[0].device
    if device.type != "cuda":
        model, _ = onnx_model(flat, inputs)
        return _ort_runner(ort_session(model))
    session = ort_session(onnx_model(copy.deepcopy(flat).cpu(), [t.cpu() for t in inputs])[0], device)
    return bound_runner(session, flat, inputs)


def quantize_int8(model: bytes) -> bytes:
    """onnxruntime.quantization.quantize_dynamic: int8 weights, activations quantized at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="rnnbench-onnx-") as folder:
        source, target = Path(folder) / "model.onnx", Path(folder) / "model.int8.onnx"
        source.write_bytes(model)
        try:
            quantize_dynamic(source, target, weight_type=QuantType.QInt8)
        except Exception as exc:  # noqa: BLE001
            raise ExportError(f"onnxruntime quantize_dynamic failed: {first_line(exc)}") from exc
        quantized = target.read_bytes()
    if not op_types(quantized) & QUANTIZED_OPS:
        ops = ", ".join(sorted(op_types(model) - {"Reshape", "Slice", "Transpose", "Concat", "Constant"}))
        raise ExportError(f"onnxruntime quantize_dynamic has no int8 kernel for this graph's ops ({ops})")
    return quantized


def onnxruntime_int8_runner(flat: nn.Module, inputs: list[Tensor]) -> Runner:
    model, _ = onnx_model(flat, inputs)
    return _ort_runner(ort_session(quantize_int8(model)))


def openvino_runner(flat: nn.Module, inputs: list[Tensor]) -> Runner:
    import openvino as ov

    model, _ = onnx_model(flat, inputs)
    core = ov.Core()
    config = {
        "INFERENCE_NUM_THREADS": torch.get_num_threads(),
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
    }
    try:
        compiled = core.compile_model(core.read_model(model=model), "CPU", config)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"openvino could not compile the model: {first_line(exc)}") from exc
    request = compiled.create_infer_request()

    def run(tensors: list[Tensor]) -> list[Tensor]:
        request.infer([t.numpy() for t in tensors])
        # the request reuses its output buffers: copy them out
        return [torch.from_numpy(request.get_output_tensor(i).data.copy()) for i in range(len(compiled.outputs))]

    return run


def _builder(make_runner):
    def build(reference: nn.Module, device: str, dtype: torch.dtype) -> nn.Module:
        return EngineModel(reference, device, dtype, make_runner)

    return build


for _family in FAMILIES:
    register(
        f"{_family}.onnxruntime",
        _family,
        description="torch.onnx.export (dynamo exporter) run by ONNX Runtime (CPU provider; on cuda CUDA's, I/O bound)",
        devices=("cpu", "cuda"),
        dtypes=(torch.float32,),
        training=False,
        requires=("onnx", "onnxscript", "onnxruntime"),
        device_reason=cuda_provider_reason,
    )(_builder(onnxruntime_runner))
    register(
        f"{_family}.openvino",
        _family,
        description="the same ONNX model compiled by OpenVINO's CPU plugin (f32, one stream)",
        devices=("cpu",),
        dtypes=(torch.float32,),
        training=False,
        requires=("onnx", "onnxscript", "openvino"),
    )(_builder(openvino_runner))

for _family in ("lstm", "rnn_tanh", "rnn_relu"):  # onnxruntime has no int8 GRU kernel
    register(
        f"{_family}.onnxruntime_int8",
        _family,
        description="ONNX Runtime after onnxruntime.quantization.quantize_dynamic (int8 weights)",
        devices=("cpu",),
        dtypes=(torch.float32,),
        training=False,
        requires=("onnx", "onnxscript", "onnxruntime"),
        tolerance=INT8_TOLERANCE,
    )(_builder(onnxruntime_int8_runner))
