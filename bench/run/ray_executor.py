"""Runs a sweep's cases as Ray tasks, on a cluster or on a local Ray instance (`--executor ray`).

Each case asks Ray for what it occupies, so cases sharing a node do not disturb each other's timings: a
CUDA case one GPU (one case per GPU at a time), a CPU case `threads` CPUs (its core budget). Inside the
task the case still runs in an isolated `bench.worker` subprocess (bench.run.runner.Runner), so a segfault or
hang costs one case, never the Ray worker. The driver appends each row to the run's store as it comes
back, exactly like the local executor, so `--resume` works the same. The matmul peak is measured on every
node, per device and dtype, and each row is divided by the peak of the node it ran on.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from bench.errors import UsageError
from bench.plan.cases import Case
from bench.plan.spec import Timing
from bench.results import store
from bench.run.runner import ProgressFn, Runner, skipped_row

# Tasks handed to Ray at a time: enough queued for an autoscaler to see the demand, few enough that Ctrl-C
# cancels them at once and a sweep of 100k cases does not flood the driver.
TASKS_IN_FLIGHT_PER_SLOT = 2
MIN_TASKS_IN_FLIGHT = 64
CANCEL_GRACE_S = 10.0

# One live bench.worker per Ray worker process, reused by the tasks that process runs (a torch import
# per case would cost seconds). Keyed by everything the worker was started with, the GPU Ray gave us too.
_RUNNERS: dict[tuple, Runner] = {}
_LATE_PEAKS: dict[tuple, float | None] = {}  # peaks this process measured for a node that joined late


def _runner(run_id: str, timing: dict, threads: int, plugins: list[str]) -> Runner:
    key = (run_id, json.dumps(timing, sort_keys=True), threads, tuple(plugins), os.environ.get("CUDA_VISIBLE_DEVICES"))
    if key not in _RUNNERS:
        _close_runners()
        log_dir = Path(tempfile.gettempdir()) / "rnnbench-ray" / run_id / str(os.getpid())
        _RUNNERS[key] = Runner(log_dir, run_id, Timing(**timing), threads, plugins)
    return _RUNNERS[key]


def _close_runners() -> None:
    for runner in _RUNNERS.values():
        runner.close()
    _RUNNERS.clear()


def _node_id() -> str:
    return ray.get_runtime_context().get_node_id()


def _node_facts(run_id: str, timing: dict, threads: int, plugins: list[str], pairs: list[list[str]]) -> dict:
    """A Ray task pinned to one node: its environment and its matmul peak per (device, dtype)."""
    runner = _runner(run_id, timing, threads, plugins)
    try:
        environment = runner.environment()
        peaks = {f"{device}/{dtype}": runner.peak_flops(device, dtype) for device, dtype in pairs}
    except BaseException:
        _close_runners()
        raise
    facts = {"host": socket.gethostname(), "node_id": _node_id(), "environment": environment, "peaks": peaks}
    return {**facts, "peak_sources": dict(runner.peak_sources)}


def _measure(run_id: str, timing: dict, threads: int, plugins: list[str], case: dict, peaks: dict) -> tuple:
    """A Ray task: one case in the node's isolated worker. Returns the row and the peak it measured, if any
    ({"peak": FLOP/s, "source": which library won and each one's figure}).

    A node that joined after the start has no peak yet: the task measures it first, on the same budget.
    """
    case = Case(**case)
    host = socket.gethostname()
    key = f"{case.device}/{case.dtype}"
    runner = _runner(run_id, timing, threads, plugins)
    measured = None
    known = peaks.get(host) or {}
    try:  # a cancelled task gets KeyboardInterrupt here: the worker must not outlive it
        if key in known:
            peak = known[key]
        elif (run_id, host, key) in _LATE_PEAKS:
            peak = _LATE_PEAKS[(run_id, host, key)]
        else:
            peak = _LATE_PEAKS[(run_id, host, key)] = runner.peak_flops(case.device, case.dtype)
            measured = {"peak": peak, "source": runner.peak_sources.get(key)}
        row = runner.run_case(case, peak)
    except BaseException:
        _close_runners()
        raise
    row["host"] = host
    row["node_id"] = _node_id()
    return row, measured


_NODE_FACTS = ray.remote(_node_facts)
_MEASURE = ray.remote(_measure)


def connect(address: str | None, threads: int = 1) -> bool:
    """Join the cluster at `address`, or start a local instance with one core fewer than this machine has
    (as the local executor leaves one core to the rest of the machine), and at least `threads`.

    Returns whether we started the instance (and so must shut it down)."""
    if ray.is_initialized():
        return False
    options = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address:
            ray.init(address=address, **options)
            return False
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        # "local": a fresh instance even if `ray start` left a cluster on this machine (RAY_ADDRESS included)
        ray.init(address="local", num_cpus=max(cores - 1, threads, 1), include_dashboard=False, **options)
        return True
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"cannot start or reach Ray at {address or 'a local instance'}: {first}") from None


def shutdown() -> None:
    if ray.is_initialized():
        ray.shutdown()


def _alive_nodes() -> list[dict]:
    return [node for node in ray.nodes() if node.get("Alive")]


def check_resources(cases: list[tuple[Case, str | None]], threads: int) -> None:
    """A case no node can ever hold would wait forever: bad input, said before anything is written."""
    nodes = _alive_nodes()
    most_cpus = max((n["Resources"].get("CPU", 0) for n in nodes), default=0)
    gpus = sum(n["Resources"].get("GPU", 0) for n in nodes)
    runnable = [case for case, reason in cases if reason is None]
    if any(c.device.startswith("cuda") for c in runnable) and not gpus:
        raise UsageError("CUDA cases requested but the Ray cluster has no GPU")
    if any(not c.device.startswith("cuda") for c in runnable) and most_cpus < threads:
        raise UsageError(
            f"a CPU case needs {threads} CPUs (--threads) but the largest Ray node has {most_cpus:g}; lower --threads"
        )


def _resources(device: str, threads: int) -> dict:
    return {"num_cpus": 1, "num_gpus": 1} if device.startswith("cuda") else {"num_cpus": threads, "num_gpus": 0}


def _measure_nodes(run_dir: Path, args: tuple, threads: int, pairs: list[tuple[str, str]]) -> dict:
    """Environment and matmul peaks of every alive node not measured yet (resume keeps the earlier ones)."""
    hosts = dict(store.read_meta(run_dir).get("machines") or {})
    refs = []
    for node in _alive_nodes():
        if node["NodeManagerHostname"] in hosts:
            continue
        resources = node["Resources"]
        for kind in ("cpu", "cuda"):
            wanted = [list(p) for p in pairs if p[0].startswith("cuda") == (kind == "cuda")]
            fits = resources.get("GPU", 0) >= 1 if kind == "cuda" else resources.get("CPU", 0) >= threads
            if wanted and fits:
                strategy = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
                task = _NODE_FACTS.options(scheduling_strategy=strategy, **_resources(kind, threads))
                refs.append(task.remote(*args, wanted))
    for facts in ray.get(refs):
        entry = hosts.setdefault(facts["host"], {"node_id": facts["node_id"], "peak_flops_per_s": {}})
        entry["environment"] = facts["environment"]
        entry["peak_flops_per_s"].update(facts["peaks"])
        entry.setdefault("peak_sources", {}).update(facts.get("peak_sources") or {})
    return hosts


def _save_hosts(run_dir: Path, hosts: dict) -> None:
    """Per host in run.json; the run-wide peak table only when every case ran on one machine."""
    fields = {"machines": hosts}
    if len(hosts) == 1:
        fields["peak_flops_per_s"] = next(iter(hosts.values()))["peak_flops_per_s"]
        fields["peak_sources"] = next(iter(hosts.values())).get("peak_sources") or {}
    store.update_meta(run_dir, **fields)


def run_cases(
    run_dir: Path,
    run_id: str,
    timing: Timing,
    threads: int,
    plugins: list[str],
    cases: list[tuple[Case, str | None]],
    progress: ProgressFn | None = None,
    own_instance: bool = False,
) -> int:
    """Measure every case not yet in the run's table on the cluster; returns how many were lost to Ray
    itself (a node died, a task failed outside the worker): those have no row, so a resume runs them.
    `own_instance`: the Ray instance is one this sweep started (what `connect` returned)."""
    done = store.finished_case_ids(run_dir)
    todo = [(case, reason) for case, reason in cases if case.case_id not in done]
    skipped = [{**skipped_row(c, reason, threads), "run_id": run_id} for c, reason in todo if reason is not None]
    if skipped:
        store.append_rows(run_dir, skipped)
    runnable = [case for case, reason in todo if reason is None]
    if not runnable:
        return 0
    args = (run_id, asdict(timing), threads, plugins)
    hosts = _measure_nodes(run_dir, args, threads, sorted({(c.device, c.dtype) for c in runnable}))
    _save_hosts(run_dir, hosts)
    peaks = {host: entry["peak_flops_per_s"] for host, entry in hosts.items()}
    pending: dict = {}
    try:
        return _drain(run_dir, args, runnable, hosts, peaks, pending, progress)
    except KeyboardInterrupt:
        _cancel(pending, run_dir, run_id, own_instance)
        raise


def _drain(run_dir: Path, args: tuple, runnable: list[Case], hosts: dict, peaks: dict, pending: dict, progress) -> int:
    """Keep a window of tasks in flight (`pending`: ref -> case), store each row as it comes back; returns how
    many cases Ray lost."""
    run_id, threads = args[0], args[2]
    peaks_ref = ray.put(peaks)
    slots = int(ray.cluster_resources().get("CPU", 1) // threads + ray.cluster_resources().get("GPU", 0))
    window = max(MIN_TASKS_IN_FLIGHT, TASKS_IN_FLIGHT_PER_SLOT * slots)
    queue = list(reversed(runnable))
    finished = lost = 0
    while queue or pending:
        while queue and len(pending) < window:
            case = queue.pop()
            task = _MEASURE.options(max_retries=1, **_resources(case.device, threads))
            pending[task.remote(*args, asdict(case), peaks_ref)] = case
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
        for ref in ready:
            case = pending.pop(ref)
            finished += 1
            result = _result(ref, case)
            if result is None:
                lost += 1
                continue
            row, measured = result
            if _late_peak(hosts, peaks, case, row, measured):
                _save_hosts(run_dir, hosts)
                peaks_ref = ray.put(peaks)
            store.append_rows(run_dir, [{**row, "run_id": run_id}])
            if progress:
                progress(finished, len(runnable), case, row)
    return lost


def _late_peak(hosts: dict, peaks: dict, case: Case, row: dict, measured: dict | None) -> bool:
    """Keep the peak a task measured for a node that joined late (in `hosts` and `peaks`); whether it was new."""
    key = f"{case.device}/{case.dtype}"
    if measured is None or key in peaks.get(row["host"], {}):
        return False
    entry = hosts.setdefault(row["host"], {"node_id": row["node_id"], "peak_flops_per_s": {}})
    entry["peak_flops_per_s"][key] = measured["peak"]
    entry.setdefault("peak_sources", {})[key] = measured["source"]
    peaks[row["host"]] = entry["peak_flops_per_s"]
    return True


def _result(ref, case: Case) -> tuple[dict, float | None] | None:
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"rnnbench sweep: {case.case_id} lost to Ray ({type(exc).__name__}: {first})", file=sys.stderr)
        return None


def _cancel(pending: dict, run_dir: Path, run_id: str, own_instance: bool) -> None:
    """Ctrl-C: keep what already finished, stop the rest.

    On an instance this sweep started, shutting it down stops every task and its worker, and nothing is
    cancelled: cancelling a task at the moment it finishes can crash the driver (a race between cancellation and
    completion in Ray's task manager: "An unexpected system state has occurred" from CompletePendingTask), which
    turned one Ctrl-C in two into an abort here. On a
    cluster that outlives the sweep the tasks are cancelled (they stop their workers), racing or not."""
    if not pending:
        return
    if own_instance:
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
    else:
        for ref in pending:
            ray.cancel(ref)
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=CANCEL_GRACE_S)
    rows = []
    for ref in ready:
        try:
            row, _ = ray.get(ref)
        except ray.exceptions.RayError:
            continue
        rows.append({**row, "run_id": run_id})
    if rows:
        store.append_rows(run_dir, rows)
