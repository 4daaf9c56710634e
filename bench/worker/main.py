"""The worker process: measures the cases the runner sends, one JSON line in, one JSON line out.

Runs apart from the runner so that a segfault, abort or hang in one implementation costs one case.
The protocol uses a duplicate of the original stdout; the process's own stdout is pointed at stderr,
so whatever an implementation prints cannot corrupt it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings

STARTED = "rnnbench worker started, pid"  # the worker's first line in its log: which process measured when


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


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


def main(argv: list[str] | None = None) -> int:
    _die_with_parent()
    parser = argparse.ArgumentParser(prog="bench.worker")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--plugin", action="append", default=[])
    parser.add_argument("--base-tree", help="also load this tree's implementations, for pair requests")
    parser.add_argument("--base-plugin", action="append", default=[], help="a plugin for the base tree's registry")
    args = parser.parse_args(argv)

    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    import torch

    from bench.plan.cases import Case
    from bench.plan.spec import Timing
    from bench.worker.measure import measure_case
    from bench.worker.timing import matmul_peak_flops
    from bench.worker.workload import matmul_precision
    from implementations.registry import load_plugin

    torch.set_num_threads(args.threads)
    for path in args.plugin:
        load_plugin(path)
    sources = None
    if args.base_tree:  # see bench/worker/side_by_side.py
        from pathlib import Path

        from bench.worker.side_by_side import load_tree

        sources = {"base": load_tree(Path(args.base_tree), args.base_plugin), "new": None}
    print(f"{STARTED} {os.getpid()}", file=sys.stderr, flush=True)
    protocol.write(json.dumps({"ready": True}) + "\n")

    for line in sys.stdin:
        request = json.loads(line)
        if "peak" in request:
            device, dtype = request["peak"]
            from bench.plan.cases import DTYPES

            try:
                with matmul_precision(dtype):  # tf32's peak is float32 data through TF32 tensor cores
                    value = matmul_peak_flops(device, DTYPES[dtype], args.threads)
            except Exception as exc:  # noqa: BLE001 - reported, the sweep goes on without efficiency
                print(f"matmul peak for {device}/{dtype} failed: {exc}", file=sys.stderr)
                value = None
            reply = {"peak_flops_per_s": value}
        elif "environment" in request:  # the node's facts, for run.json, when cases run on other machines
            from bench.worker.environment import collect

            reply = collect(args.threads)
        elif "profile" in request:  # after timing, on calls of its own: see bench/worker/profiling.py
            from bench.worker.profiling import profile_request

            reply = profile_request(
                Case(**request["profile"]), request["traces"], request["run_id"], **request.get("options", {})
            )
        elif "train" in request:  # an implementation trained on a task: see bench/worker/training.py
            from bench.worker.training import train_case

            case = Case(**request["train"])
            trained = train_case(case, request["task"], request["steps"], request["seed"], args.threads)
            reply = {part: {k: _clean(v) for k, v in trained[part].items()} for part in ("row", "curve")}
        elif "pair" in request:
            from bench.worker.side_by_side import measure_pair

            reply = measure_pair(
                Case(**request["pair"]),
                Timing(**request["timing"]),
                args.threads,
                sources,
                request.get("peak_flops_per_s"),
                repeat=bool(request.get("repeat")),
            )
            reply = {side: {k: _clean(v) for k, v in row.items()} for side, row in reply.items()}
        else:
            case = Case(**request["case"])
            reply = measure_case(
                case,
                Timing(**request["timing"]),
                args.threads,
                request.get("peak_flops_per_s"),
                repeat=bool(request.get("repeat")),
            )
        protocol.write(json.dumps({k: _clean(v) for k, v in reply.items()}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
