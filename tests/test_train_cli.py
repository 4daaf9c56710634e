"""`rnnbench train` as a user runs it: bad input, a run's files, the summary, a curve that leaves its baseline."""

from pathlib import Path

import pandas as pd
import pytest
from conftest import PLUGINS, main_status

from bench.results import store


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "copying"], "unknown task 'copying'; known: sine_cosine, adding"),
        (["--steps", "0"], "steps must be a positive integer, got 0"),
        (["--target-loss", "0"], "target loss must be a positive number"),
        (["--target-loss", "-0.5"], "target loss must be a positive number"),
        (["--task", "adding", "--seq-len", "10"], "adding takes seq_len 50 to 1000"),
        (["--dtype", "float16"], "not 'float16'"),
        (["--impl", "nosuch.*"], "no implementation matches 'nosuch.*'"),
        (["--device", "cuda"], "CUDA is not available"),
        (["--config", "missing.toml"], "config file not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, args, message):
    if "cuda" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA, so cuda is valid input here")
    status = main_status(["train", "--impl", "gru.native", "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert status == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_a_spec_run_writes_curves_rows_and_the_summary(cli, tmp_path):
    config = tmp_path / "train.toml"
    config.write_text('[train]\ntask = "sine_cosine"\nimpls = ["gru.premul_loop", "gru.test_inference_only"]\n'
                      "steps = 20\ntarget_loss = 0.1\nthreads = 1\n")  # fmt: skip
    result = cli("train", "--config", str(config), "--dtype", "float64", "--plugin",
                 str(PLUGINS / "inference_only.py"), "--out", str(tmp_path / "results"), "--no-report")  # fmt: skip
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    assert run_dir.parent == tmp_path / "results"
    curves = pd.read_parquet(run_dir / store.TRAINING)
    assert list(curves.columns) == ["key", "step", "loss", "wall_s", "step_s", "forward_s", "backward_s",
                                    "optimizer_s"]  # fmt: skip
    assert sorted(curves["key"].unique()) == ["gru.native", "gru.premul_loop"]  # native joined as the baseline
    assert len(curves) == 40 and curves.groupby("key")["wall_s"].apply(lambda s: s.is_monotonic_increasing).all()
    rows = store.read_measurements(run_dir).set_index("key")
    skipped = rows.loc["gru.test_inference_only"]
    assert skipped["status"] == "skipped" and "inference only" in skipped["error"]
    trained = rows.loc["gru.premul_loop"]
    assert trained["status"] == "ok" and bool(trained["correct"]) and trained["parity_baseline"] == "gru.native"
    assert 1 <= trained["steps_to_target"] <= 20
    assert trained["final_loss"] == curves[curves["key"] == "gru.premul_loop"].sort_values("step")["loss"].iloc[-1]
    assert trained["loss_curve_rel_diff"] <= 1e-8 and trained["peak_mem_bytes"] > 0 and trained["median_s"] > 0
    assert "time to target" in result.stdout and "gru.premul_loop" in result.stdout and "baseline" in result.stdout
    shown = cli("show", str(run_dir))
    assert shown.returncode == 0 and "steps to target" in shown.stdout and "sine_cosine, float64" in shown.stdout


def test_a_curve_off_its_baseline_marks_the_row_incorrect_and_exits_1(cli, tmp_path):
    result = cli("train", "--impl", "rnn_tanh.grad_direction_1e-6", "--plugin", str(PLUGINS / "perturbed_grad.py"),
                 "--dtype", "float64", "--steps", "20", "--threads", "1", "--out", str(tmp_path),
                 "--no-report")  # fmt: skip
    assert result.returncode == 1, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    row = store.read_measurements(run_dir).set_index("key").loc["rnn_tanh.grad_direction_1e-6"]
    assert row["status"] == "ok" and not bool(row["correct"])
    assert "off rnn_tanh.native" in row["error"] and "float64 parity tolerance 1e-08" in row["error"]
    assert "INCORRECT" in result.stdout
