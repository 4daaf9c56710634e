"""The gate on real sweeps: a plugin slows one implementation; `compare` and `ci` on real run directories."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.rounds import Side, pool_rounds, round_order

ROOT = Path(__file__).resolve().parent.parent
SLOWDOWN = ROOT / "bench" / "plugins" / "slowdown.py"
TINY = ["--impl", "lstm.native", "--mode", "inference", "--no-check", "--budget-s", "0.2"]


def test_round_order_alternates():
    sides = [Side("base", Path("a")), Side("new", Path("b"))]
    assert [[s.name for s in round_order(sides, i)] for i in range(3)] == [
        ["base", "new"],
        ["new", "base"],
        ["base", "new"],
    ]


def test_pooling_rounds_keeps_every_sample_and_the_worst_status():
    def frame(run_id, ok_samples, crash=False, correct=True):
        return pd.DataFrame.from_records(
            [
                {"case_id": "a", "key": "lstm.native", "status": "ok", "samples_s": ok_samples, "correct": correct},
                {"case_id": "b", "key": "gru.native", "status": "crashed" if crash else "ok",
                 "samples_s": None if crash else [1.0], "correct": None if crash else True, "error": "signal 6"},
            ]
        )  # fmt: skip

    pooled = pool_rounds([frame("r1", [1.0, 2.0]), frame("r2", [3.0], crash=True, correct=False)], "pooled")
    a, b = pooled.set_index("case_id").loc["a"], pooled.set_index("case_id").loc["b"]
    assert a["samples_s"] == [1.0, 2.0, 3.0] and a["n_samples"] == 3 and a["median_s"] == 2.0
    assert a["correct"] is not None and not a["correct"]  # incorrect in one round is incorrect
    assert b["status"] == "crashed" and b["samples_s"] == [1.0]
    assert set(pooled["run_id"]) == {"pooled"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ci", "--base", "no-such-revision-xyz"], "unknown git revision"),
        (["ci", "--base", "HEAD", "--rounds", "0"], "--rounds must be at least 1"),
        (["ci", "--base", "HEAD", "--config", "missing.toml"], "no sweep spec"),
    ],
)
def test_ci_bad_input(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.slow
def test_ci_catches_an_injected_slowdown_between_two_real_runs(tmp_path):
    """`ci` against HEAD, the candidate's sweeps slowed by the plugin: real sweeps, real compare, exit 1."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", "ci", "--base", "HEAD", "--rounds", "1", "--out", str(tmp_path / "ci"),
         "--sweep-args", " ".join(TINY), "--new-plugin", str(SLOWDOWN), "--json", str(tmp_path / "c.json"),
         "--markdown", str(tmp_path / "s.md"), "--html", str(tmp_path / "c.html")],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), RNNBENCH_SLOWDOWN="lstm.native=9"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # ten times the work: far beyond what a busy shared machine swings by between two sweeps
    assert done.returncode == 1, done.stdout + done.stderr
    assert "round 1/1: measuring base" in done.stderr and "round 1/1: measuring new" in done.stderr
    changes = json.loads((tmp_path / "c.json").read_text())["changes"]
    assert [(c["key"], c["verdict"]) for c in changes] == [("lstm.native", "regression")]  # matched by identity
    assert changes[0]["ratio"] > 3
    assert "lstm.native inference b4 t16 i32 h32 float32 cpu" in (tmp_path / "s.md").read_text()
    assert (tmp_path / "c.html").stat().st_size > 10_000  # the embedded plot

    pooled = sorted(p.name for p in (tmp_path / "ci").iterdir() if p.name != "rounds")
    assert [name.rsplit("-", 1)[1] for name in pooled] == ["base", "new"]
    base_meta = json.loads((tmp_path / "ci" / pooled[0] / "run.json").read_text())
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert base_meta["environment"]["git_commit"] == head and base_meta["rounds"] == ["base-round1"]
    worktree = done.stderr.split("checked out in ", 1)[1].split()[0]
    assert not Path(worktree).exists()
    listed = subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True).stdout
    assert worktree not in listed  # the temporary worktree is gone
