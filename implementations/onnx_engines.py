"""The reference module exported to ONNX and run by ONNX Runtime (float32 and int8) or OpenVINO, on CPU.

Export: torch.onnx.export with the torch.export-based exporter (dynamo=True), the TorchScript exporter if that
fails; LSTM and GRU become ONNX LSTM/GRU ops (the exporter handles batch_first and gate order), nn.RNN with
tanh an ONNX RNN op, with relu an unrolled MatMul/Add/Relu graph. Threads: the case's torch thread count,
given to the engine (ONNX Runtime intra_op_num_threads with one inter-op thread and sequential execution;
OpenVINO INFERENCE_NUM_THREADS with one stream). OpenVINO is pinned to f32 inference precision: on CPUs with
bf16 support it would otherwise run in bf16.
"""

from __future__ import annotations

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


def ort_session(model: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"onnxruntime could not load the model: {first_line(exc)}") from exc


def _ort_runner(session) -> Runner:
    names = [i.name for i in session.get_inputs()]

    def run(inputs: list[Tensor]) -> list[Tensor]:
        outputs = session.run(None, {name: t.numpy() for name, t in zip(names, inputs)})
        return [torch.from_numpy(o) for o in outputs]

    return run


def onnxruntime_runner(flat: nn.Module, inputs: list[Tensor]) -> Runner:
    model, _ = onnx_model(flat, inputs)
    return _ort_runner(ort_session(model))


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
        description="torch.onnx.export (dynamo exporter) run by ONNX Runtime's CPU execution provider",
        devices=("cpu",),
        dtypes=(torch.float32,),
        training=False,
        requires=("onnx", "onnxscript", "onnxruntime"),
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
