"""`rnnbench sweep --lengths` and `--mode streaming` as a user runs them; their CUDA paths where CUDA is present."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_SHAPE, main_status

from bench.plan.inputs import draw_lengths
from bench.results import store

FAST = ["--budget-s", "0.05", "--progress", "plain", "--no-report"]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        ("uniform:0", "F must be in (0, 1]"),
        ("uniform:1.5", "F must be in (0, 1]"),
        ("normal:0.3", "unknown length distribution 'normal:0.3'"),
        ("uniform:half", "'half' is not a number"),
    ],
)
def test_bad_lengths_are_one_line_and_exit_2_before_anything_is_written(capsys, tmp_path, lengths, message):
    status = main_status(["sweep", "--impl", "lstm.native", "--lengths", lengths, "--out", str(tmp_path), *FAST])
    err = capsys.readouterr().err
    assert status == 2, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_a_non_positive_streaming_step_count_is_bad_input(capsys, tmp_path):
    status = main_status(["sweep", "--mode", "streaming", "--streaming-steps", "0", "--out", str(tmp_path), *FAST])
    err = capsys.readouterr().err
    assert status == 2 and "timing.streaming_steps must be a positive integer" in err
    assert len(err.strip().splitlines()) == 1 and not any(tmp_path.iterdir())


def test_bad_lengths_in_a_config_name_the_file(capsys, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('impls = ["lstm.native"]\nlengths = ["uniform:2"]\n')
    assert main_status(["sweep", "--config", str(config), "--out", str(tmp_path / "r"), *FAST]) == 2
    err = capsys.readouterr().err
    assert str(config) in err and "F must be in (0, 1]" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_variable_length_and_streaming_sweep_end_to_end(cli, tmp_path):
    result = cli(
        "sweep", "--impl", "lstm.native,lstm.fused_loop,lstm.shrinking_loop", "--mode", "training,streaming",
        "--batch", "5", *TINY_SHAPE, "--lengths", "fixed,uniform:0.3", "--out", str(tmp_path), *FAST,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    frame = store.read_measurements(Path(result.stdout.strip().splitlines()[-1])).set_index("case_id")
    drawn = draw_lengths("uniform:0.3", 5, 4)
    for key in ("lstm.native", "lstm.shrinking_loop"):  # the same lengths for every implementation
        varied = frame.loc[f"{key}|cpu|float32|training|b5|t4|i8|h8|l1|uni|len=uniform:0.3"]
        assert varied["status"] == "ok" and varied["correct"], varied["error"]
        assert list(varied["lengths"]) == drawn and varied["tokens"] == sum(drawn)
        assert varied["mean_length"] == pytest.approx(np.mean(drawn))
        assert varied["tokens_per_s"] == pytest.approx(sum(drawn) / varied["elapsed_median_s"])
    skipped = frame.loc["lstm.fused_loop|cpu|float32|training|b5|t4|i8|h8|l1|uni|len=uniform:0.3"]
    assert skipped["status"] == "skipped" and "does not take variable-length batches" in skipped["error"]
    stream = frame.loc["lstm.fused_loop|cpu|float32|streaming|b5|t4|i8|h8|l1|uni"]
    assert stream["status"] == "ok" and stream["correct"] and stream["n_samples"] == 2000
    assert stream["step_p50_s"] <= stream["step_p99_s"] <= stream["step_max_s"]
    assert frame.loc["lstm.native|cpu|float32|streaming|b5|t4|i8|h8|l1|uni|len=uniform:0.3"]["status"] == "skipped"


@needs_cuda
@pytest.mark.parametrize("impl", ["native", "premul_loop", "shrinking_loop"])
def test_variable_lengths_on_cuda_match_the_reference(impl):
    from bench.worker.correctness_varlen import check_varlen
    from implementations import registry
    from implementations.families import make_reference

    reference = make_reference("gru", 8, 16, 2, True)
    model = registry.get(f"gru.{impl}").build(reference, "cuda", torch.float32)
    result = check_varlen(model, reference, [7, 1, 4], seq_len=7, device="cuda", dtype="float32", gradients=True)
    assert result.correct, result.message


@needs_cuda
def test_streaming_steps_on_cuda_are_timed_by_events():
    from bench.plan.cases import Case
    from bench.plan.spec import Timing
    from bench.worker.measure import measure_case

    case = Case("lstm.native", "lstm", "native", "cuda", "float32", "streaming", 16, 8, 32, 64)
    row = measure_case(case, Timing(streaming_steps=500, memory=False), threads=1)
    assert row["status"] == "ok" and row["correct"], row.get("error")
    assert row["n_samples"] == 500 and 0 < row["step_p50_s"] <= row["step_p99_s"] <= row["step_max_s"] < 1.0
