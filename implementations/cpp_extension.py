"""The premul loop with the whole time loop in C++ (implementations/_cpp/rnn_loop.cpp), built with
torch.utils.cpp_extension on first use and cached on disk.

Per layer and direction, one custom op runs the input projection (one addmm) and the loop over time: the
recurrent matmul into a preallocated gate buffer (MKL's packed GEMM, W_hh packed once per call, where libtorch
exports it; at::addmm otherwise) and the gate equations fused in one vectorised pass. Training uses an explicit
backward in C++ (an autograd.Function around the two ops), the weight and input gradients one matmul each.

The build goes to $RNNBENCH_CACHE_DIR (default ~/.cache/rnnbench)/cpp_extension/<hash>, the hash covering the
source, the flags, torch's version and the CPU (the code is compiled for the machine it runs on), so a
second process loads it in well under a second. A missing or failing compiler raises one line: the compiler's.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
from pathlib import Path

import torch
from torch import Tensor, nn

from implementations._module import ReferenceWeights, State, split_state
from implementations.families import FAMILIES
from implementations.registry import register

SOURCE = Path(__file__).with_name("_cpp") / "rnn_loop.cpp"
CFLAGS = ("-O3", "-march=native", "-ffast-math", "-fopenmp-simd")
FAMILY_CODES = {"rnn_tanh": 0, "rnn_relu": 1, "lstm": 2, "gru": 3}


class BuildError(RuntimeError):
    """The extension could not be built; the message is the compiler's first error line."""


def cache_root() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rnnbench"
    return Path(os.environ.get("RNNBENCH_CACHE_DIR", default))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags")):
                return line
    except OSError:
        pass
    return platform.processor()


def build_key() -> str:
    text = "\n".join([SOURCE.read_text(), " ".join(CFLAGS), torch.__version__, platform.python_version(), _cpu_model()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def first_error_line(text: str) -> str:
    """The compiler's first `error:` line (or the last non-empty line) of a build log."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "error:" in line or "fatal error" in line:
            return line
    return lines[-1] if lines else "build failed"


@functools.cache
def ops():
    """The compiled ops (torch.ops.rnnbench_cpp), built into the cache on the first call in a clean cache."""
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        raise BuildError(f"no C++ compiler: {compiler!r} is not on PATH (set CXX or install g++)")
    from torch.utils import cpp_extension

    key = build_key()
    build_dir = cache_root() / "cpp_extension" / key
    build_dir.mkdir(parents=True, exist_ok=True)
    try:
        cpp_extension.load(
            name=f"rnnbench_cpp_{key}",
            sources=[str(SOURCE)],
            extra_cflags=list(CFLAGS),
            build_directory=str(build_dir),
            is_python_module=False,
            verbose=False,
        )
    except Exception as exc:  # noqa: BLE001 - any failure to build is the case's error, worded by the compiler
        output = getattr(exc, "output", None) or getattr(exc, "stderr", None) or b""
        text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
        raise BuildError(f"cpp_extension build failed: {first_error_line(text + chr(10) + str(exc))}") from exc
    return torch.ops.rnnbench_cpp


class _Layer(torch.autograd.Function):
    """One layer, one direction: forward and backward are the C++ ops."""

    @staticmethod
    def forward(ctx, code: int, reverse: bool, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        output, h_n, c_n, gates, extra = ops().layer_forward(code, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
        ctx.code, ctx.reverse = code, reverse
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, output, gates, extra)
        return output, h_n, c_n

    @staticmethod
    def backward(ctx, grad_output, grad_h_n, grad_c_n):
        x, h0, c0, w_ih, w_hh, output, gates, extra = ctx.saved_tensors
        grads = ops().layer_backward(
            ctx.code,
            x,
            h0,
            c0,
            w_ih,
            w_hh,
            output,
            gates,
            extra,
            torch.zeros_like(output) if grad_output is None else grad_output,
            torch.zeros_like(h0) if grad_h_n is None else grad_h_n,
            torch.zeros_like(c0) if grad_c_n is None else grad_c_n,
            ctx.reverse,
        )
        return (None, None, *grads)


class CppLoop(ReferenceWeights):
    """Layers x directions in Python (a handful of calls); the time loop of each in C++."""

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h0, c0 = split_state(state)
        code = FAMILY_CODES[self.family]
        h0s, c0s = h0.unbind(0), c0.unbind(0)  # one backward node for all layers, not one per select

        def run_direction(layer_input: Tensor, h: Tensor, c: Tensor, layer_index: int, direction: int):
            return _Layer.apply(code, direction == 1, layer_input, h, c, *self.weights(layer_index, direction))

        output, h_n, c_n = self.stack(x.transpose(0, 1).contiguous(), h0s, c0s, run_direction)  # time-major throughout
        return self.pack(output.transpose(0, 1), h_n, c_n)


def build(reference: nn.Module, device: str, dtype: torch.dtype) -> nn.Module:
    return CppLoop(reference, device, dtype)


for _family in FAMILIES:
    register(
        f"{_family}.cpp_extension",
        _family,
        description="premul loop with the time loop in C++ (torch.utils.cpp_extension; MKL packed GEMM, fused gates)",
        devices=("cpu",),
        dtypes=(torch.float32, torch.float64),
    )(build)
