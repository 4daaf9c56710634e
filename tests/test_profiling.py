"""Profiler traces: `rnnbench profile` end to end, the trace files, and a real TensorBoard serving them."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench import cli
from bench.plan.cases import Case
from bench.worker.profiling import TOP_OPS_COLUMNS, profile_case, trace_dir
from implementations._labels import time_step

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "tests" / "plugins" / "labeled_loop.py"
SEQ_LEN = 5
ACTIVE = 3
SHAPE = ["--batch", "2", "--seq-len", str(SEQ_LEN), "--hidden-size", "8", "--mode", "training"]
NATIVE, LOOP, BROKEN, ABORT = "rnn_tanh.native", "rnn_tanh.test_labeled_loop", "gru.test_broken", "lstm.test_abort"


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    """One `rnnbench profile` run: a native case, a labeled Python loop, one that fails to build and one that
    aborts the process."""
    out = tmp_path_factory.mktemp("results")
    impls = [arg for key in (ABORT, NATIVE, LOOP, BROKEN) for arg in ("--impl", key)]
    plugins = ["--plugin", str(PLUGIN), "--plugin", str(PLUGIN.parent / "crash_plugin.py")]
    command = [sys.executable, "-m", "bench", "profile", *plugins, *impls, *SHAPE]
    done = subprocess.run(
        [*command, "--active", str(ACTIVE), "--out", str(out)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return done, run_dir


def _case(key: str) -> Case:
    family, impl = key.split(".", 1)
    return Case(key, family, impl, "cpu", "float32", "training", 2, SEQ_LEN, 8, 8)


def _events(run_dir: Path, case: Case) -> list[dict]:
    files = sorted(trace_dir(run_dir / "traces", case).glob("*.pt.trace.json"))
    assert len(files) == 1, files
    with files[0].open() as handle:
        trace = json.load(handle)
    assert trace["distributedInfo"] == {"rank": 0}  # HTA refuses traces without a rank
    assert isinstance(trace["traceEvents"], list) and trace["traceEvents"]
    return trace["traceEvents"]


def test_profile_command_writes_traces_top_ops_and_records_failures(profiled):
    done, run_dir = profiled
    assert done.returncode == 1, done.stderr  # one implementation failed, the others were profiled
    lines = done.stdout.strip().splitlines()
    assert Path(lines[-1]) == run_dir / "traces" and Path(lines[-1]).is_dir()
    assert "aten::" in done.stdout and "forward (label)" in done.stdout
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["run_id"] == run_dir.name and meta["environment"]["torch"] == torch.__version__
    status = {case_id.split("|")[0]: entry["status"] for case_id, entry in meta["profiled"].items()}
    assert status == {NATIVE: "ok", LOOP: "ok", BROKEN: "error", ABORT: "error"}
    errors = {case_id.split("|")[0]: error for case_id, error in meta["profile_errors"].items()}
    assert "broken on purpose" in errors[BROKEN] and "SIGABRT" in errors[ABORT]

    top = pd.read_parquet(run_dir / "top_ops.parquet")
    assert list(top.columns) == TOP_OPS_COLUMNS
    assert set(top["key"]) == {NATIVE, LOOP} and set(top["run_id"]) == {run_dir.name}
    for _, ops in top.groupby("case_id"):
        assert (ops["self_cpu_s"] >= 0).all() and (ops["calls"] >= 1).all()
        assert ops["share"].between(0, 1).all() and 0.5 < ops["share"].sum() <= 1 + 1e-9
        assert ops["self_cpu_s"].is_monotonic_decreasing
    labeled = top.set_index("op")["is_label"]
    assert labeled[labeled.index.str.startswith("aten::")].eq(False).all()
    assert labeled[labeled.index.isin(["forward", "backward", "cell: RNNCell"])].eq(True).all()
    assert labeled.sum() >= 2  # forward and backward of each case have self time (Python between operators)
    loop_ops = top[top["key"] == LOOP].set_index("op")
    assert loop_ops.loc["aten::addmm", "calls"] == 2 * SEQ_LEN  # input and hidden matmul, every step


def test_traces_are_chrome_json_with_labeled_regions(profiled):
    _, run_dir = profiled
    for key in (NATIVE, LOOP):
        events = _events(run_dir, _case(key))
        labels = Counter(e["name"] for e in events if e.get("cat") == "user_annotation")
        assert labels["forward"] == ACTIVE and labels["backward"] == ACTIVE
        steps = [e for e in events if e.get("name", "").startswith("ProfilerStep#")]
        assert len(steps) == ACTIVE and all(e["ph"] == "X" and e["dur"] > 0 for e in steps)
        assert any(e.get("cat") == "cpu_op" and e["name"].startswith("aten::") for e in events)
    loop_labels = Counter(e["name"] for e in _events(run_dir, _case(LOOP)) if e.get("cat") == "user_annotation")
    for t in range(SEQ_LEN):
        assert loop_labels[f"time_step {t}"] == ACTIVE
    assert loop_labels["cell: RNNCell"] == SEQ_LEN * ACTIVE  # submodule calls labeled by hooks


def test_time_step_label_costs_nothing_outside_a_profiler():
    assert isinstance(time_step(0), nullcontext)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        with time_step(7):
            torch.ones(2).sum()
    assert "time_step 7" in {event.key for event in prof.key_averages()}


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--batch", "0"], "batch must be positive"),
        (["--impl", "nothing.*"], "no implementation matches"),
        (["--dtype", "float8"], "unknown dtype"),
        (["--mode", "serving"], "unknown mode"),
        (["--device", "cpu", "--memory-snapshot"], "needs a CUDA device"),
        (["--device", "tpu"], "unknown device"),
        (["--threads", "-1"], "--threads must be"),
        (["--timeout-s", "0"], "--timeout-s must be positive"),
        pytest.param(
            ["--device", "cuda"],
            "CUDA is not available",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"),
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_writing(tmp_path, capsys, flags, message):
    assert cli.main(["profile", "--out", str(tmp_path / "results"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_unwritable_output_folder_is_one_line_and_exit_2(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert cli.main(["profile", "--impl", NATIVE, "--out", str(blocker / "results")]) == 2
    err = capsys.readouterr().err
    assert "cannot write results" in err and len(err.strip().splitlines()) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read()
        if response.headers.get("Content-Encoding") == "gzip":  # the plugin compresses traces
            body = gzip.decompress(body)
        return json.loads(body)


@pytest.mark.slow
def test_tensorboard_profiler_plugin_lists_and_serves_the_run(profiled, tmp_path):
    _, run_dir = profiled
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(run_dir / "traces")]
        + ["--host", "127.0.0.1", "--port", str(port)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "tensorboard.log").open("w"),
    )
    api = f"http://127.0.0.1:{port}/data/plugin/pytorch_profiler"
    run = _case(LOOP).slug
    try:
        deadline, runs = time.monotonic() + 45, {}
        while time.monotonic() < deadline and server.poll() is None:
            try:
                runs = _get_json(f"{api}/runs")
                if run in runs["runs"] and not runs["loading"]:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.5)
        log = (tmp_path / "tensorboard.log").read_text()[-2000:]
        assert runs and set(runs["runs"]) == {_case(NATIVE).slug, run}, log

        listing = _get_json(f"http://127.0.0.1:{port}/data/plugins_listing")
        assert listing["pytorch_profiler"]["enabled"]
        query = urllib.parse.urlencode
        views = _get_json(f"{api}/views?{query({'run': run})}")
        assert {"Overview", "Operator", "Trace", "Memory"} <= set(views)
        assert _get_json(f"{api}/workers?{query({'run': run, 'view': 'Overview'})}") == [LOOP]
        (span,) = _get_json(f"{api}/spans?{query({'run': run, 'worker': LOOP})}")
        overview = _get_json(f"{api}/overview?{query({'run': run, 'worker': LOOP, 'span': span, 'view': 'Overview'})}")
        assert len(overview["steps"]["rows"]) == ACTIVE
        (performance,) = overview["performance"]
        assert performance["name"] == "Average Step Time" and performance["value"] > 0
        assert {"title": "Device Type", "value": "CPU"} in overview["environments"]
        trace = _get_json(f"{api}/trace?{query({'run': run, 'worker': LOOP, 'span': span})}")
        assert any(e.get("name") == "time_step 0" for e in trace["traceEvents"])
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class _CompiledLoop(torch.nn.Module):
    """A time-step-labeled loop under torch.compile, as a compile variant of an implementation would be."""

    def __init__(self, reference: torch.nn.Module) -> None:
        super().__init__()
        self.cell = torch.nn.RNNCell(reference.input_size, reference.hidden_size, nonlinearity="tanh")
        self.compiled = torch.compile(self.loop, backend="aot_eager")

    def loop(self, x, h0):
        h, outputs = h0[0], []
        for t in range(x.shape[1]):
            with time_step(t):
                h = self.cell(x[:, t], h)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h.unsqueeze(0)

    def forward(self, x, h0):
        return self.compiled(x, h0)


@pytest.mark.slow
def test_compiled_code_does_not_recompile_inside_the_trace(tmp_path, monkeypatch):
    import bench.worker.profiling as profiling
    from bench.worker.workload import prepare

    def prepare_compiled(case):
        workload = prepare(case)
        workload.model = _CompiledLoop(workload.reference)
        return workload

    monkeypatch.setattr(profiling, "prepare", prepare_compiled)
    case = _case(NATIVE)
    try:
        profile_case(case, tmp_path / "traces")
    finally:
        torch._dynamo.reset()
    names = {e.get("name", "") for e in _events(tmp_path, case)}
    assert any(name.startswith("Torch-Compiled Region") for name in names)
    assert not [name for name in names if "dynamo_timed" in name]  # no compilation in the profiled steps
    assert not [name for name in names if name.startswith("time_step")]  # a no-op inside compiled code


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_trace_has_kernels_and_memory_snapshot(tmp_path):
    case = Case("lstm.native", "lstm", "native", "cuda", "float32", "training", 4, 8, 16, 16)
    top = profile_case(case, tmp_path / "traces", memory_snapshot=True)
    assert (top["self_device_s"] > 0).any() and top["share"].sum() <= 1 + 1e-9
    events = _events(tmp_path, case)
    assert any(e.get("cat") == "kernel" for e in events)
    with (trace_dir(tmp_path / "traces", case) / "memory_snapshot.pickle").open("rb") as handle:
        snapshot = pickle.load(handle)
    assert snapshot["segments"] and snapshot["device_traces"]


@pytest.mark.slow
def test_sweep_profile_traces_every_ok_case_after_all_timing(tmp_path):
    shape = ["--batch", "2", "--seq-len", "4", "--input-size", "8", "--hidden-size", "8"]
    done = subprocess.run(
        [sys.executable, "-m", "bench", "sweep", "--config", "bench/configs/quick.toml", "--impl", NATIVE]
        + ["--device", "cpu", "--dtype", "float32", "--mode", "inference,training", *shape]
        + ["--budget-s", "0.05", "--no-check", "--no-report", "--progress", "plain", "--profile"]
        + ["--out", str(tmp_path)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    rows = pd.read_parquet(run_dir / "measurements.parquet")
    assert list(rows["status"]) == ["ok", "ok"]
    top = pd.read_parquet(run_dir / "top_ops.parquet")
    assert set(top["case_id"]) == set(rows["case_id"]) and set(top["run_id"]) == {run_dir.name}
    timed_until = max(
        pd.Timestamp(row.started_at).timestamp() + row.wall_s for row in rows.itertuples()
    )  # started_at is truncated to the second, so this never overstates when timing ended
    for row in rows.itertuples():
        case = Case(**{name: getattr(row, name) for name in Case.__dataclass_fields__})
        (trace,) = trace_dir(run_dir / "traces", case).glob("*.pt.trace.json")
        assert trace.stat().st_mtime >= timed_until  # profiled after the last case was timed
        assert "forward" in {e["name"] for e in json.loads(trace.read_text())["traceEvents"] if "name" in e}
    assert json.loads((run_dir / "run.json").read_text())["profile_errors"] == {}
