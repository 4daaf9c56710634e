"""torch.profiler traces of one case, for TensorBoard (torch-tb-profiler), Perfetto and HTA.

Profiling is its own set of calls: the first call (compile, warm-up) runs before the profiler starts and
a wait/warmup/active schedule keeps the profiler's own start-up out of the recorded steps, so a trace
shows the steady state. Nothing here is timed for the measurements table; a sweep profiles a case only
after its timing is done.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pandas as pd
import torch
import torch.autograd.profiler as autograd_profiler
from torch import nn
from torch.profiler import ProfilerActivity, record_function, schedule, tensorboard_trace_handler

from bench.plan.cases import Case
from bench.worker.workload import Workload, matmul_precision, prepare
from implementations._labels import TIME_STEP_PREFIX

TRACES_DIR = "traces"
TOP_OPS_FILE = "top_ops.parquet"
MEMORY_SNAPSHOT_FILE = "memory_snapshot.pickle"
TOP_OPS_COLUMNS = [
    "run_id",
    "case_id",
    "key",
    "op",  # operator or label (forward, backward, ProfilerStep*, time_step N, a submodule)
    "is_label",  # a region rnnbench labels (forward, backward, steps, submodules): self time is Python
    "self_cpu_s",  # per profiled step
    "self_device_s",  # per profiled step; 0 on CPU
    "calls",  # per profiled step
    "share",  # of the total self time (device time on CUDA, CPU time otherwise)
    "profiled_steps",
]


def trace_dir(out_dir: Path, case: Case) -> Path:
    """One TensorBoard run per implementation and case: `<out_dir>/<case slug>/`."""
    return Path(out_dir) / case.slug


def profile_case(
    case: Case,
    out_dir: Path,
    *,
    with_stack: bool = False,
    wait: int = 1,
    warmup: int = 2,
    active: int = 3,
    memory_snapshot: bool = False,
    run_id: str | None = None,
    top: int = 15,
) -> pd.DataFrame:
    """Profile `active` steps of a case into `trace_dir(out_dir, case)`; return its top operators.

    `run_id` defaults to the run directory's name when `out_dir` is `results/<run_id>/traces`.
    `memory_snapshot` (CUDA only) also writes the allocator's history for pytorch.org/memory_viz.
    """
    if min(wait, warmup) < 0 or active < 1:
        raise ValueError("profiler schedule needs wait >= 0, warmup >= 0, active >= 1")
    out_dir = Path(out_dir)
    run_dir = trace_dir(out_dir, case)
    run_dir.mkdir(parents=True, exist_ok=True)
    on_cuda = torch.device(case.device).type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda else [])
    stale = sorted(run_dir.glob("*.pt.trace.json"))
    torch.manual_seed(0)  # the same inputs as the timed run of the case
    with matmul_precision(case):
        workload = prepare(case)
        hooks, labels = _label_submodules(workload.model)
        try:
            _step(workload)  # first call: compile and warm-up, outside the profiler
            # Compiled code guards on whether a profiler records (labels check it): compile that variant
            # here too, under a throwaway profiler, so no recompilation lands in the trace.
            with torch.profiler.profile(activities=activities):
                _step(workload)
            with _memory_history(memory_snapshot and on_cuda, run_dir / MEMORY_SNAPSHOT_FILE):
                prof = _record(workload, run_dir, activities, (wait, warmup, active), with_stack)
        finally:
            for hook in hooks:
                hook.remove()
    for path in stale:  # a re-profiled case keeps only its newest trace (HTA wants one file per rank)
        path.unlink(missing_ok=True)
    if run_id is None:
        run_id = out_dir.parent.name if out_dir.name == TRACES_DIR else ""
    return top_operators(prof.key_averages(), case, run_id, steps=active, on_cuda=on_cuda, top=top, labels=labels)


def _record(workload: Workload, run_dir: Path, activities, steps: tuple[int, int, int], with_stack: bool):
    """(wait, warmup, active) profiled steps, written as a TensorBoard trace into `run_dir`; the profiler."""
    wait, warmup, active = steps
    with torch.profiler.profile(
        activities=activities,
        schedule=schedule(wait=wait, warmup=warmup, active=active, repeat=1),
        on_trace_ready=tensorboard_trace_handler(str(run_dir), worker_name=workload.case.key),
        record_shapes=True,
        profile_memory=True,
        with_flops=True,
        with_stack=with_stack,
    ) as prof:
        for step in range(wait + warmup + active):
            if step == wait:  # the profiler has started: HTA wants each trace's rank stated
                prof.add_metadata_json("distributedInfo", json.dumps({"rank": 0}))
            _step(workload)
            prof.step()
    return prof


@contextlib.contextmanager
def _memory_history(enabled: bool, path: Path):
    """CUDA: record the allocator's history while profiling and dump it to `path` (pytorch.org/memory_viz)."""
    if not enabled:
        yield
        return
    torch.cuda.memory._record_memory_history(max_entries=100_000)
    try:
        yield
        torch.cuda.memory._dump_snapshot(str(path))
    finally:
        torch.cuda.memory._record_memory_history(enabled=None)


def _step(workload: Workload) -> None:
    """The timed unit, with forward and backward labeled; prof.step() around it marks each step."""
    with record_function("forward"):
        output = workload.forward()
    if workload.case.mode == "training":
        with record_function("backward"):
            workload.backward(output)
    workload.synchronize()


def _label_submodules(model: nn.Module) -> tuple[list, set[str]]:
    """Label every submodule call ("cell: LSTMCell"), from outside the implementation, by hooks.

    Scripted and torch.compile'd modules are left alone (hooks would not run, or would change what is
    compiled), and a hook traced into a compiled graph does nothing. They only open a range while a
    profiler records, and are removed afterwards: timed runs never carry them.
    """
    if _compiled(model):
        return [], set()
    handles = []
    labels: set[str] = set()
    ranges = _Ranges()

    def visit(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            if _compiled(child):
                continue
            path = f"{prefix}.{name}" if prefix else name
            label = f"{path}: {type(child).__name__}"
            labels.add(label)
            handles.append(child.register_forward_pre_hook(ranges.enter(label)))
            handles.append(child.register_forward_hook(ranges.leave, always_call=True))
            visit(child, path)

    visit(model, "")
    return handles, labels


class _Ranges:
    """The hooks' record_function ranges: one opened per submodule call while a profiler records, closed
    when the call returns (a stack: calls nest)."""

    def __init__(self) -> None:
        self.open_ranges: list = []

    def enter(self, label: str):
        def pre_hook(module, args):
            if torch.compiler.is_compiling():  # traced into a compiled graph: leave the graph as it is
                return
            if autograd_profiler._is_profiler_enabled:
                labeled = record_function(label)
                labeled.__enter__()
                self.open_ranges.append(labeled)
            else:
                self.open_ranges.append(None)

        return pre_hook

    def leave(self, module, args, output):
        if torch.compiler.is_compiling():
            return
        labeled = self.open_ranges.pop() if self.open_ranges else None
        if labeled is not None:
            labeled.__exit__(None, None, None)


def _compiled(module: nn.Module) -> bool:
    """A scripted module, or a torch.compile wrapper (which keeps the original as `_orig_mod`)."""
    return isinstance(module, torch.jit.ScriptModule) or hasattr(module, "_orig_mod")


def top_operators(
    events, case: Case, run_id: str, *, steps: int, on_cuda: bool, top: int = 15, labels: set[str] = frozenset()
) -> pd.DataFrame:
    """The operators (and labels) with the most self time, per profiled step, from key_averages().

    Other annotations (a compiled graph's "## Call CompiledFxGraph ... ##") are not labels: they hold work.
    """
    labels = {"forward", "backward", *labels}
    rows = [
        {
            "op": event.key,
            "is_label": event.key in labels or event.key.startswith(("ProfilerStep", f"{TIME_STEP_PREFIX} ")),
            "self_cpu_s": event.self_cpu_time_total * 1e-6 / steps,
            "self_device_s": event.self_device_time_total * 1e-6 / steps,
            "calls": event.count // steps,
        }
        for event in events
    ]
    table = pd.DataFrame(rows, columns=["op", "is_label", "self_cpu_s", "self_device_s", "calls"])
    time_column = "self_device_s" if on_cuda and table["self_device_s"].sum() > 0 else "self_cpu_s"
    total = table[time_column].sum()
    table["share"] = table[time_column] / total if total > 0 else 0.0
    table = table.sort_values([time_column, "self_cpu_s"], ascending=False).head(top)
    table.insert(0, "key", case.key)
    table.insert(0, "case_id", case.case_id)
    table.insert(0, "run_id", run_id)
    table["profiled_steps"] = steps
    return table[TOP_OPS_COLUMNS].reset_index(drop=True)


def profile_request(case: Case, traces: str, run_id: str, **options):
    """The worker's side (bench/worker/main.py): the case's top operators as records, or its error."""
    from bench.worker.protocol import ProfileResult

    try:
        table = profile_case(case, Path(traces), run_id=run_id, **options)
    except Exception as exc:  # reported per case; the pass goes on
        return ProfileResult(error=f"{type(exc).__name__}: {exc}")
    return ProfileResult(top_ops=table.to_dict("records"))
