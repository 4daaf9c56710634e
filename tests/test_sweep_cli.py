"""`rnnbench sweep` and `rnnbench show` as a user runs them."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import PLUGINS, TINY_SHAPE, main_status

from bench.results import store
from bench.results.schema import COLUMNS, IDENTITY_COLUMNS

FAST = ["--budget-s", "0.05", "--progress", "plain", "--no-report"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--impl", "nosuch.*"], "no implementation matches 'nosuch.*'"),
        (["--batch", "0"], "batch must be positive integers"),
        (["--batch", "x"], "expected comma-separated int values"),
        (["--dtype", "float8"], "unknown dtype 'float8'"),
        (["--mode", "train"], "unknown mode 'train'"),
        (["--device", "cuda"], "CUDA is not available"),
        (["--config", "missing.toml"], "config file not found"),
        (["--resume", "no/such/run"], "not a run directory"),
        (["--clock", "cpu", "--threads", "2"], "timing.clock = 'cpu' needs timing.threads = 1, got 2"),
        (["--isolation", "thread"], "invalid choice: 'thread'"),
        (["--cache", "hot"], "invalid choice: 'hot'"),
        (["--budget-s", "-1"], "timing.budget_s must be a positive number"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, args, message):
    if "cuda" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA, so cuda is valid input here")
    status = main_status(["sweep", "--impl", "lstm.native", "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert status == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing written before the input was validated


def test_malformed_toml_and_unwritable_out(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("impls = [\n")
    assert main_status(["sweep", "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "malformed TOML" in capsys.readouterr().err
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    assert main_status(["sweep", "--impl", "lstm.native", "--out", str(blocker), *FAST]) == 2
    assert "cannot write results" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_sweep_end_to_end(cli, tmp_path):
    result = cli(
        "sweep", "--config", "bench/configs/quick.toml", "--out", str(tmp_path), "--progress", "plain", "--no-report"
    )
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])  # the last line is the run directory
    assert run_dir.parent == tmp_path and (run_dir / "run.json").exists()
    frame = store.read_measurements(run_dir)
    meta = store.read_meta(run_dir)
    assert set(COLUMNS) <= set(frame.columns)
    assert meta["status"] == "complete" and meta["counts"] == {"ok": len(frame)}
    assert frame["case_id"].is_unique and (frame["run_id"] == run_dir.name).all()
    assert set(frame["mode"]) == {"inference", "training"}
    assert frame[IDENTITY_COLUMNS].notna().all().all()
    assert meta["peak_flops_per_s"]["cpu/float32"] > 1e8
    for row in frame.itertuples():
        samples = np.asarray(row.samples_s)
        assert len(samples) == row.n_samples >= 2
        assert np.all(np.isfinite(samples)) and np.all(samples > 0)
        assert row.median_s == pytest.approx(np.median(samples))
        assert row.ci_low_s <= row.median_s <= row.ci_high_s
        assert samples.min() <= row.median_s <= samples.max()
        assert 0 < row.first_call_s < 120 and row.peak_mem_bytes > 0
        assert row.flops > 0 and 0 < row.efficiency < 5
        assert row.correct and row.rel_err < 1e-4
        if row.mode == "training":
            assert 0 < row.forward_median_s and 0 < row.backward_median_s
            assert not math.isnan(row.grad_rel_err)
        assert row.threads >= 1
    csv = pd.read_csv(run_dir / "measurements.csv")
    assert len(csv) == len(frame)
    shown = cli("show", str(run_dir))
    assert shown.returncode == 0
    assert "fastest" in shown.stdout and "lstm" in shown.stdout


@pytest.mark.slow
@pytest.mark.serial
def test_abort_and_hang_are_recorded_and_the_sweep_goes_on(cli, tmp_path):
    result = cli(
        "sweep",
        "--plugin",
        str(PLUGINS / "crash_plugin.py"),
        "--impl",
        "lstm.test_abort,lstm.test_hang,lstm.native",
        "--mode",
        "inference",
        "--batch",
        "2",
        *TINY_SHAPE,
        "--timeout-s",
        "8",
        "--out",
        str(tmp_path),
        *FAST,
    )
    assert result.returncode == 0, result.stderr
    frame = store.read_measurements(Path(result.stdout.strip().splitlines()[-1])).set_index("key")
    assert frame.loc["lstm.test_abort", "status"] == "crashed"
    assert "SIGABRT" in frame.loc["lstm.test_abort", "error"]
    assert frame.loc["lstm.test_hang", "status"] == "timeout"
    assert frame.loc["lstm.native", "status"] == "ok"


@pytest.mark.slow
def test_process_isolation_gives_each_case_a_fresh_worker_and_empty_compile_cache(cli, tmp_path):
    """auto isolation runs the compiled-looking variant in a worker and cache of its own, case by case."""
    args = ["sweep", "--plugin", str(PLUGINS / "cache_probe.py"), "--impl", "lstm.compile_cache_probe,lstm.native",
            *TINY_SHAPE, "--batch", "2", "--no-check", "--out", str(tmp_path), *FAST]  # fmt: skip
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    frame = store.read_measurements(run_dir).set_index(["impl", "mode"])
    assert (frame.loc["compile_cache_probe", "status"] == "ok").all(), frame["error"].tolist()
    assert set(frame.loc["compile_cache_probe", "isolation"]) == {"process"}
    assert set(frame.loc["native", "isolation"]) == {"shared"}
    log = (run_dir / "logs" / "worker.log").read_text()
    assert log.count("rnnbench worker started") >= 3  # one for the peak and natives, one per isolated case
    shared = cli(*args, "--isolation", "shared", "--run-id", "shared")
    rows = store.read_measurements(tmp_path / "shared").set_index(["impl", "mode"])
    assert (rows.loc["compile_cache_probe", "status"] == "error").all()  # one worker, no fresh cache
    assert shared.returncode == 0


def test_an_axis_flag_repeated_adds_to_the_list_as_commas_do():
    import argparse

    from bench.commands._sweep_arguments import add_arguments, spec_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    repeated = parser.parse_args(
        ["--impl", "lstm.*", "--impl", "gru.native,rnn_tanh.native", "--batch", "1", "--batch", "16"]
    )
    commas = parser.parse_args(["--impl", "lstm.*,gru.native,rnn_tanh.native", "--batch", "1,16"])
    assert repeated.impl == commas.impl == ["lstm.*", "gru.native", "rnn_tanh.native"]
    assert spec_from_args(repeated).grids == spec_from_args(commas).grids
    assert spec_from_args(repeated).grids[0].batch == (1, 16)
