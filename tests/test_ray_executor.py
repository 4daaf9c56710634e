"""`rnnbench sweep --executor ray` on a local Ray instance, and `show` for a run spread over machines."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import PLUGINS, ROOT, main_status

from bench.render.summary_text import render_summary as render
from bench.results import store

IMPLS = "lstm.native,lstm.premul_loop,gru.native,rnn_tanh.scratch_loop,lstm.test_abort,lstm.test_hang"
CRASHING = {"lstm.test_abort", "lstm.test_hang"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--address", "auto"], "--address needs --executor ray"),
        (["--executor", "ray", "--rounds", "2"], "need the local executor"),
    ],
)
def test_executor_bad_input(capsys, tmp_path, args, message):
    status = main_status(["sweep", "--impl", "lstm.native", "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_ray_missing_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    monkeypatch.delitem(sys.modules, "bench.run.ray_executor", raising=False)
    status = main_status(["sweep", "--impl", "lstm.native", "--executor", "ray", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and "pip install 'rnnbench[ray]'" in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_no_ray_cluster_at_auto_is_one_line(capsys, tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'rnnbench[ray]')")
    if Path("/tmp/ray/ray_current_cluster").exists():
        pytest.skip("a Ray cluster was started on this machine with `ray start`; --address auto would join it")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    status = main_status(
        ["sweep", "--impl", "lstm.native", "--executor", "ray", "--address", "auto", "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert status == 2 and "cannot start or reach Ray at auto" in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def _processes_with(tag: str) -> list[str]:
    """Every live process started under this test's environment tag: the sweep, Ray, its workers."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and tag.encode() in (proc / "environ").read_bytes():
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120])
        except OSError:
            continue
    return found


def _none_left(tag: str, within_s: float = 20.0) -> list[str]:
    deadline = time.monotonic() + within_s
    while (left := _processes_with(tag)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


@pytest.mark.slow
@pytest.mark.serial
def test_ray_sweep_isolates_crashes_survives_ctrl_c_and_resumes(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'rnnbench[ray]')")
    tag = uuid.uuid4().hex
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1", RNNBENCH_TEST_TAG=tag)
    sweep = [
        sys.executable,
        "-m",
        "bench",
        "sweep",
        "--config",
        "bench/configs/quick.toml",
        "--plugin",
        str(PLUGINS / "crash_plugin.py"),
        "--impl",
        IMPLS,
        "--mode",
        "inference",
        "--budget-s",
        "0.05",
        "--timeout-s",
        "15",  # the hanging case keeps the sweep busy while Ctrl-C arrives, however slow a loaded machine polls
        "--executor",
        "ray",
        "--out",
        str(tmp_path),
        "--run-id",
        "r",
        "--progress",
        "plain",
        "--no-report",
    ]
    run_dir = tmp_path / "r"
    log = open(tmp_path / "first.log", "w")  # noqa: SIM115
    # as from a terminal: a test run started in the background by a non-interactive shell inherits SIGINT ignored,
    # and Python then installs no KeyboardInterrupt handler in the sweep
    process = subprocess.Popen(
        sweep, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            # two cases reported: their rows are stored (a case's line is printed after its row is appended)
            if "[2/6]" in (tmp_path / "first.log").read_text():
                break
            time.sleep(0.2)
        else:
            pytest.fail("the Ray sweep recorded no case in time:\n" + (tmp_path / "first.log").read_text()[-2000:])
        process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(
                "the sweep did not stop within 60 s of Ctrl-C:\n" + (tmp_path / "first.log").read_text()[-2000:]
            )
        assert code == 130, (tmp_path / "first.log").read_text()[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    assert _none_left(tag) == [], (tmp_path / "first.log").read_text()[-2000:]  # Ray, its workers, bench.workers
    before = store.read_measurements(run_dir)
    meta = store.read_meta(run_dir)
    assert meta["status"] == "interrupted" and meta["executor"] == {"name": "ray", "address": None}
    assert 2 <= len(before) < 6, "interrupt the sweep mid-way, not after it finished"
    first_peak = meta["machines"][socket.gethostname()]["peak_flops_per_s"].pop("cpu/float32")
    store.update_meta(run_dir, machines=meta["machines"])  # as if the node joined after the start

    resumed = subprocess.run(
        [sys.executable, "-m", "bench", "sweep", "--resume", str(run_dir), "--progress", "plain", "--no-report"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert Path(resumed.stdout.strip().splitlines()[-1]) == run_dir
    assert _none_left(tag) == []
    frame = store.read_measurements(run_dir)
    meta = store.read_meta(run_dir)
    assert len(frame) == 6 and frame["case_id"].is_unique and meta["status"] == "complete"
    kept = frame.set_index("case_id").loc[before["case_id"], "started_at"]
    assert list(kept) == list(before["started_at"])  # cases measured before Ctrl-C were not run again
    by_key = frame.groupby("key")["status"].agg(set)
    assert by_key["lstm.test_abort"] == {"crashed"} and by_key["lstm.test_hang"] == {"timeout"}
    assert all(by_key[k] == {"ok"} for k in by_key.index if k not in CRASHING)
    assert frame.loc[frame["key"] == "lstm.test_abort", "error"].str.contains("SIGABRT").all()
    assert (frame["host"] == socket.gethostname()).all()
    node_ids = frame.groupby(frame["case_id"].isin(before["case_id"]))["node_id"].agg(set)
    assert len(node_ids[True]) == len(node_ids[False]) == 1  # one node per Ray instance: before and after
    machine = meta["machines"][socket.gethostname()]
    peak = machine["peak_flops_per_s"]["cpu/float32"]  # measured again, by the resumed tasks
    assert peak > 1e8 and machine["environment"]["torch"] and meta["peak_flops_per_s"] == {"cpu/float32": peak}
    source = machine["peak_sources"]["cpu/float32"]  # which library won, and each one's figure
    assert source["candidates"][source["library"]] == peak
    ok = frame[frame["status"] == "ok"]
    assert ok["correct"].all() and (ok["median_s"] > 0).all()
    first = ok["case_id"].isin(before["case_id"])
    assert (ok.loc[first, "peak_flops_per_s"] == first_peak).all()
    resumed = ok.loc[~first, "peak_flops_per_s"]  # measured again on the node, not the stale value
    assert (resumed > 1e8).all() and first_peak not in set(resumed) and peak != first_peak


def _row(host: str, impl: str, median_s: float) -> dict:
    return {
        "case_id": f"lstm.{impl}|cpu|float32|inference|b1|{host}",
        "key": f"lstm.{impl}",
        "family": "lstm",
        "impl": impl,
        "device": "cpu",
        "dtype": "float32",
        "mode": "inference",
        "batch": 1,
        "seq_len": 8,
        "input_size": 8,
        "hidden_size": 8,
        "num_layers": 1,
        "bidirectional": False,
        "status": "ok",
        "correct": True,
        "median_s": median_s,
        "host": host,
    }


def test_show_groups_a_run_spread_over_machines_by_host(tmp_path):
    machines = {"alpha": {"environment": {"cpu_model": "Alpha CPU"}}, "beta": {"environment": {"cpu_model": "Beta"}}}
    run_dir = store.create_run(tmp_path, "multi", {"status": "complete", "machines": machines})
    rows = [_row("alpha", "native", 2e-3), _row("alpha", "premul_loop", 1e-3), _row("beta", "native", 5e-4)]
    store.write_measurements(run_dir, pd.DataFrame(rows))
    text = render(run_dir)
    assert "cases ran on 2 machines: alpha (2 cases, Alpha CPU), beta (1 cases, Beta)" in text
    alpha, beta = text.split("on alpha:")[1].split("on beta:")
    assert "premul_loop" in alpha and "2.00x" in alpha  # alpha's fastest, against alpha's native only
    assert "premul_loop" not in beta and "500 µs" in beta and "1.00x" in beta

    single = store.create_run(tmp_path, "single", {"status": "complete"})
    store.write_measurements(single, pd.DataFrame(rows[:2]))
    assert "machines" not in render(single) and "on alpha:" not in render(single)


def test_each_case_asks_for_what_it_occupies():
    ray_executor = pytest.importorskip("bench.run.ray_executor", reason="Ray is not installed")
    assert ray_executor._resources("cpu", 4) == {"num_cpus": 4, "num_gpus": 0}  # its core budget
    assert ray_executor._resources("cuda", 4) == {"num_cpus": 1, "num_gpus": 1}  # one case per GPU


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_case_on_ray_gets_a_gpu_and_that_nodes_peak(cli, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'rnnbench[ray]')")
    result = cli(
        "sweep",
        *("--impl", "lstm.native", "--device", "cuda", "--dtype", "float32", "--mode", "inference"),
        *("--batch", "8", "--seq-len", "16", "--input-size", "64", "--hidden-size", "64", "--budget-s", "0.1"),
        *("--executor", "ray", "--out", str(tmp_path), "--progress", "plain", "--no-report"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    row = store.read_measurements(run_dir).iloc[0]
    machine = store.read_meta(run_dir)["machines"][socket.gethostname()]
    assert row["status"] == "ok" and row["device"] == "cuda" and row["correct"]
    assert row["peak_flops_per_s"] == machine["peak_flops_per_s"]["cuda/float32"] > 1e10
    assert machine["environment"]["gpus"]
