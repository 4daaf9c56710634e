"""torch.export of the reference module, compiled ahead of time by AOTInductor into a .pt2 package, loaded and run
from the package (the deployment path that replaces TorchScript).

On CPU, inductor keeps oneDNN's fused LSTM (the package's wrapper calls mkldnn_rnn_layer); GRU and RNN are
unrolled over time into generated C++ kernels and matmul calls. Compilation (a C++ build of the generated code)
takes ~30 s per shape on a small CPU, all of it in `first_call_s`.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import torch
from torch import nn

from implementations._export import EngineModel, ExportError, Runner, first_line, quiet_export
from implementations.families import FAMILIES
from implementations.registry import register


def uses_fused_rnn(package: str | Path) -> bool:
    """Whether the compiled package calls oneDNN's fused RNN op instead of an unrolled loop."""
    with zipfile.ZipFile(package) as archive:
        return any(
            b"mkldnn_rnn" in archive.read(name) for name in archive.namelist() if name.endswith(".wrapper.cpp")
        )


def aoti_runner(flat: nn.Module, inputs: list[torch.Tensor]) -> Runner:
    folder = tempfile.TemporaryDirectory(prefix="rnnbench-aoti-")
    context = quiet_export()
    try:
        program = torch.export.export(flat, tuple(inputs))
        package = torch._inductor.aoti_compile_and_package(program, package_path=str(Path(folder.name) / "model.pt2"))
        compiled = torch._inductor.aoti_load_package(package)
    except Exception as exc:  # noqa: BLE001
        folder.cleanup()
        raise ExportError(f"torch.export/AOTInductor failed: {first_line(exc)}") from exc
    finally:
        context.__exit__(None, None, None)

    def run(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        run.folder = folder  # the package lives as long as the runner
        return list(compiled(*tensors))

    run.fused_rnn = uses_fused_rnn(package)
    return run


def build(reference: nn.Module, device: str, dtype: torch.dtype) -> nn.Module:
    return EngineModel(reference, device, dtype, aoti_runner)


for _family in FAMILIES:
    register(
        f"{_family}.export_aoti",
        _family,
        description="torch.export + AOTInductor package (aoti_compile_and_package), loaded and run from it",
        dtypes=(torch.float32,),
        training=False,
    )(build)
