"""The worker process: measures the cases the runner sends, one message in, one message out (bench/worker/protocol.py).

Runs apart from the runner so that a segfault, abort or hang in one implementation costs one case.
The protocol uses a duplicate of the original stdout; the process's own stdout is pointed at stderr,
so whatever an implementation prints cannot corrupt it.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from bench.worker import protocol


def _die_with_parent() -> None:
    """Linux: have the kernel kill this worker when the process that started it dies.

    A sweep or Ray worker killed mid-case (SIGKILL, a cancelled task, a cluster shutting down) must not
    leave a worker behind that goes on hanging or burning cores, which would also disturb later timings.
    """
    parent = os.environ.get("RNNBENCH_PARENT_PID")
    if not sys.platform.startswith("linux") or not parent:
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != int(parent):  # the parent died before the prctl
        os._exit(1)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.worker")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--plugin", action="append", default=[])
    parser.add_argument("--base-tree", help="also load this tree's implementations, for pair requests")
    parser.add_argument("--base-plugin", action="append", default=[], help="a plugin for the base tree's registry")
    return parser.parse_args(argv)


def _load(args: argparse.Namespace) -> tuple[dict | None, str | None]:
    """Register the plugins; with --base-tree, load that tree beside this one. (sources, load error)."""
    import torch
    import torch.fx.experimental.symbolic_shapes  # noqa: F401 - see below

    # torch.autograd.backward imports that module (and sympy) on its first call with grad_tensors: about 2 s
    # that would land in the first_call_s of whichever training case a worker measures first
    from implementations.registry import load_plugin

    torch.set_num_threads(args.threads)
    for path in args.plugin:
        load_plugin(path)
    if not args.base_tree:  # see bench/worker/side_by_side.py
        return None, None
    from pathlib import Path

    from bench.worker.side_by_side import TreeLoadError, load_tree

    try:
        return {"base": load_tree(Path(args.base_tree), args.base_plugin), "new": None}, None
    except TreeLoadError as exc:
        return None, str(exc)


def _peak(request: protocol.MatmulPeak) -> protocol.PeakResult:
    """The best GEMM library's peak at this worker's threads (bench/worker/peak.py), every candidate's too."""
    from bench.plan.cases import DTYPES
    from bench.worker.peak import matmul_peak
    from bench.worker.workload import matmul_precision

    try:
        with matmul_precision(request.dtype):  # tf32's peak is float32 data through TF32 tensor cores
            return protocol.PeakResult(**matmul_peak(request.device, DTYPES[request.dtype]))
    except Exception as exc:  # noqa: BLE001 - reported, the sweep goes on without efficiency
        print(f"matmul peak for {request.device}/{request.dtype} failed: {exc}", file=sys.stderr)
        return protocol.PeakResult(None)


def _answer(request, threads: int, sources: dict | None):
    """The reply to one request."""
    if isinstance(request, protocol.MeasureCase):
        from bench.worker.measure import measure_case

        row = measure_case(
            request.case, request.timing, threads, request.peak_flops_per_s, request.repeat, request.calls_per_sample
        )
        return protocol.CaseResult(row)
    if isinstance(request, protocol.MeasurePair):
        from bench.worker.side_by_side import measure_pair

        rows = measure_pair(
            request.case, request.timing, threads, sources, request.peak_flops_per_s, request.repeat,
            request.first, request.calls_per_sample,
        )  # fmt: skip
        return protocol.PairResult(rows)
    if isinstance(request, protocol.MatmulPeak):
        return _peak(request)
    if isinstance(request, protocol.Environment):  # the node's facts, for run.json, when cases run elsewhere
        from bench.worker.environment import collect

        return protocol.EnvironmentResult(collect(threads))
    if isinstance(request, protocol.Train):  # an implementation trained on a task: see bench/worker/training.py
        from bench.worker.training import train_case

        trained = train_case(request.case, request.task, request.steps, request.seed, threads)
        return protocol.TrainResult(trained["row"], trained["curve"])
    if isinstance(request, protocol.Profile):  # after timing, on calls of its own: see bench/worker/profiling.py
        from bench.worker.profiling import profile_request

        return profile_request(request.case, request.traces, request.run_id, **request.options)
    raise protocol.ProtocolError(f"unknown request {type(request).__name__}")


def _prepare_uninstrumented() -> None:
    """What every counted case needs, imported and started before Callgrind instruments: the registry (its
    families' checks run at registration), the measuring modules, the profiler behind the memory column.
    Instrumented, the same work took about 80 s of a worker's 100 s start at the first case."""
    from bench.worker import measure, side_by_side  # noqa: F401
    from bench.worker.memory import peak_extra_bytes
    from implementations import registry

    registry.all()
    peak_extra_bytes(lambda: None, "cpu")


def main(argv: list[str] | None = None) -> int:
    _die_with_parent()
    args = _parse(argv)
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    sources, load_error = _load(args)
    from bench.worker import callgrind

    if callgrind.under_callgrind():  # the instructions clock: everything imported, instrument from here on
        _prepare_uninstrumented()
        callgrind.start_instrumentation()
    print(f"{protocol.STARTED} {os.getpid()}", file=sys.stderr, flush=True)
    channel.write(protocol.encode(protocol.Ready(os.getpid(), load_error)) + "\n")
    if load_error:
        return 3
    for line in sys.stdin:
        channel.write(protocol.encode(_answer(protocol.decode(line), args.threads, sources)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
