"""Shared by the deployment engines: the reference module with tensors only in and out, exported lazily per
input signature on the first call (so `first_call_s` includes export, conversion and compilation).
"""

from __future__ import annotations

import copy
import io
import logging
import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from implementations._module import State, check_reference, split_state

Runner = Callable[[list[Tensor]], list[Tensor]]
FOLD_LIMIT = 1 << 30  # elements
# the int8 engines' own correctness tolerance: norm-wise relative error of int8 weights and dynamically quantized
# activations (2e-3..2e-2 observed at the verify and sweep shapes), never the float32 one
INT8_TOLERANCE = 5e-2


class ExportError(RuntimeError):
    """An engine could not take this model; the message is the exporter's or converter's first line."""


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:300]


class Flat(nn.Module):
    """The reference module as (x, h0[, c0]) -> (output, h_n[, c_n]), the form exporters take."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.lstm = isinstance(module, nn.LSTM)

    def forward(self, x: Tensor, h0: Tensor, *c0: Tensor) -> tuple[Tensor, ...]:
        output, state = self.module(x, (h0, c0[0]) if self.lstm else h0)
        return (output, *state) if self.lstm else (output, state)


class EngineModel(nn.Module):
    """Runs `make_runner(flat_module, example_inputs)` built on first use of each input signature.

    Inference only: no parameters are exposed, and the outputs carry no autograd history.
    """

    def __init__(self, reference: nn.Module, device: str, dtype: torch.dtype, make_runner) -> None:
        super().__init__()
        check_reference(reference)
        self.flat = Flat(copy.deepcopy(reference).to(device=device, dtype=dtype).eval())
        self.flat.requires_grad_(False)
        self.make_runner = make_runner
        self._runners: dict[tuple, Runner] = {}

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h0, c0 = split_state(state)
        inputs = [t.detach().contiguous() for t in ((x, h0, c0) if self.flat.lstm else (x, h0))]
        signature = tuple((tuple(t.shape), t.dtype, t.device) for t in inputs)
        runner = self._runners.get(signature)
        if runner is None:
            with torch.no_grad():
                runner = self.make_runner(self.flat, inputs)
            self._runners[signature] = runner
        output, *final = runner(inputs)
        return output, (tuple(final) if self.flat.lstm else final[0])


def quiet_export():
    """Silence the exporters' warnings and info logging (deprecation notes, 'torchvision is not installed')."""
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    logging.getLogger("onnxscript").setLevel(logging.ERROR)
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("ignore")
    return context


def onnx_model(flat: nn.Module, inputs: list[Tensor]) -> tuple[bytes, str]:
    """(serialized ONNX model, exporter used): torch.export-based exporter, else the TorchScript one."""
    names = ["x", "h0", "c0"][: len(inputs)]
    outputs = ["output", "h_n", "c_n"][: len(inputs)]
    context = quiet_export()
    try:
        try:
            program = torch.onnx.export(
                flat, tuple(inputs), dynamo=True, input_names=names, output_names=outputs, verbose=False
            )
            # fold the weights' gate reordering into constants at any size (the exporter's default stops at 8192
            # elements, which leaves Slice/Concat on the weights in the graph of every realistic model)
            import onnxscript.optimizer

            onnxscript.optimizer.optimize(program.model, input_size_limit=FOLD_LIMIT, output_size_limit=FOLD_LIMIT)
            return program.model_proto.SerializeToString(), "dynamo"
        except Exception as dynamo_exc:  # noqa: BLE001 - fall back to the older exporter, report if both fail
            buffer = io.BytesIO()
            try:
                torch.onnx.export(flat, tuple(inputs), buffer, dynamo=False, input_names=names, output_names=outputs)
            except Exception as exc:  # noqa: BLE001
                why = f"{first_line(dynamo_exc)}; torchscript exporter: {first_line(exc)}"
                raise ExportError(f"onnx export failed: {why}") from exc
            return buffer.getvalue(), "torchscript"
    finally:
        context.__exit__(None, None, None)


def op_types(model: bytes) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load_from_string(model).graph.node}
