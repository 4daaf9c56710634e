"""The gate on real sweeps: a plugin slows one implementation; `compare` and `ci` on real run directories."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic_runs import case, row

from bench.ci.separate import Side, pool_rounds, round_order, run_rounds
from bench.cli import main
from bench.experiments.validate_gate import judge, summarize

ROOT = Path(__file__).resolve().parent.parent
SLOWDOWN = ROOT / "bench" / "experiments" / "slowdown.py"
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


def test_validation_judges_every_rule_on_the_same_rounds():
    """8 processes per side whose speeds overlap but sit two steps apart: every pooled-samples rule calls it
    a regression (thousands of samples, p ~ 0), the test over round medians sees 8 vs 8 overlapping values."""
    c = case("gru")
    grid = [0.8 + 0.1 * step for step in range(10)]
    noise = np.random.default_rng(0).lognormal(0.0, 0.001, 50)
    base = pd.DataFrame([row(c, "a", None, rounds=[1e-3 * speed * noise for speed in grid[:8]])])
    new = pd.DataFrame([row(c, "b", None, rounds=[1e-3 * speed * noise for speed in grid[2:]])])
    judged = judge(base, new, {"gru": 0.0})
    got = judged.iloc[0]
    assert (got["unit"], got["rounds_base"], got["factor"]) == ("rounds", 8, 0.0)
    assert got["pooled_p_value"] < 1e-6 < 0.01 < got["p_value"]
    assert (got["gate"], got["gate_10"]) == (False, False)
    assert (got["pooled"], got["plain"], got["asv"]) == (True, True, True)
    summary = summarize(judged.assign(rep=1)).iloc[0]
    assert (summary["cases"], summary["gate"], summary["pooled"]) == (1, 0, 1)


def test_validation_judges_paired_runs_on_pairs_and_shows_what_unpairing_loses():
    """16 processes spread by 15%, each timing both sides, the new one 10% slower: the gate (pairs) flags it,
    the same rounds judged unpaired do not."""
    rng = np.random.default_rng(2)
    offsets = rng.lognormal(0.0, 0.15, 16)
    c = case("lstm")
    base = pd.DataFrame([row(c, "a", None, rounds=[1e-3 * o * rng.lognormal(0, 0.02, 20) for o in offsets])])
    new = pd.DataFrame([row(c, "b", None, rounds=[1.1e-3 * o * rng.lognormal(0, 0.02, 20) for o in offsets])])
    got = judge(base, new, {"lstm": 0.10}, paired=True).iloc[0]
    assert (got["unit"], got["rounds_base"], got["factor"]) == ("pairs", 16, 0.10)
    assert got["gate"] and not got["unpaired"] and got["unpaired_p_value"] > 0.01 > got["p_value"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ci", "--base", "no-such-revision-xyz"], "unknown git revision"),
        (
            ["ci", "--base", "HEAD", "--rounds", "7"],
            "--rounds 7 is too few: the gate tests one ratio per process, and 8 is the least that can reach p < 0.01",
        ),
        (["ci", "--base", "HEAD", "--rounds", "5", "--alpha", "0.05"], "and 6 is the least"),
        (
            ["ci", "--base", "HEAD", "--separate", "--rounds", "2", "--sweep-rounds", "2"],
            "--rounds 2 x --sweep-rounds 2 is too few: the gate tests one median per process, "
            "and 5 vs 5 is the least that can reach p < 0.01",
        ),
        (
            ["ci", "--base", "HEAD", "--separate", "--rounds", "3", "--sweep-rounds", "1", "--alpha", "0.05"],
            "4 vs 4 is the least",
        ),
        (["ci", "--base", "HEAD", "--separate", "--sweep-rounds", "0"], "--rounds and --sweep-rounds must be positive"),
        (["ci", "--base", "HEAD", "--simultaneous"], "--simultaneous needs --separate"),
        (["ci", "--base", "HEAD", "--sweep-args", "--batch zero"], "--sweep-args: argument --batch"),
        (["ci", "--base", "HEAD", "--sweep-args", "--impl nothing.like.this"], "no implementation matches"),
        (["ci", "--base", "HEAD", "--alpha", "0"], "--alpha must be between 0 and 1"),
        (["ci", "--base", "HEAD", "--config", "missing.toml"], "no sweep spec"),
    ],
)
def test_ci_bad_input(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.slow
@pytest.mark.serial
def test_ci_side_by_side_catches_an_injected_slowdown(tmp_path):
    """`ci` against HEAD as CI runs it: 8 processes, each loading HEAD's implementations (checked out in a
    worktree) beside this tree's, the candidate's slowed by the plugin; real compare on the pairs, exit 1."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", "ci", "--base", "HEAD", "--rounds", "8",
         "--out", str(tmp_path / "ci"), "--sweep-args", " ".join(TINY), "--new-plugin", str(SLOWDOWN),
         "--json", str(tmp_path / "c.json"), "--markdown", str(tmp_path / "s.md"), "--no-html"],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), RNNBENCH_SLOWDOWN="lstm.native=2"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "round 8/8: base and new side by side in one process" in done.stderr
    changes = json.loads((tmp_path / "c.json").read_text())["changes"]
    assert [(c["key"], c["verdict"]) for c in changes] == [("lstm.native", "regression")]
    assert (changes[0]["unit"], changes[0]["n_base"], changes[0]["n_new"]) == ("pairs", 8, 8)
    # three times the work, measured so (2.88 in a run whose interval was [1.95, 3.15]: with 8 pairs, one slow pair
    # widens the interval, so its lower end is held to 1.5, far from 1, and the ratio itself to [2, 4.5])
    change = changes[0]
    assert 1.5 < change["ratio_low"] <= change["ratio"] <= change["ratio_high"] and 2 < change["ratio"] < 4.5
    assert "| 8 pairs |" in (tmp_path / "s.md").read_text()
    runs = {path.name.rsplit("-", 1)[1]: path for path in (tmp_path / "ci").iterdir()}
    metas = {side: json.loads((path / "run.json").read_text()) for side, path in runs.items()}
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert metas["base"]["environment"]["git_commit"] == head and metas["base"]["plugins"] == []
    assert metas["base"]["pairing"]["id"] == metas["new"]["pairing"]["id"]
    assert metas["new"]["plugins"] == [str(SLOWDOWN)] and metas["new"]["status"] == "complete"
    logs = (runs["new"] / "logs" / "worker.log").read_text()
    assert logs.count("rnnbench worker started") == 8  # a fresh process per round


@pytest.mark.slow
def test_ci_separate_catches_an_injected_slowdown_between_two_real_runs(tmp_path):
    """`ci --separate` against HEAD, the candidate's sweeps slowed by the plugin: real sweeps, real compare, exit 1.

    Not `serial`: ten times the work is far beyond what the other test worker (on its own core) can swing a
    one-thread sweep by, so it runs in make test's parallel part.

    Two alternating rounds of two worker rounds each keep it short: 4 medians per side, and alpha 0.05 is what
    4 vs 4 can reach (p = 2/70 when every new round is slower than every base round): the machinery is tested
    here, the gate's power in test_compare.
    """
    done = subprocess.run(
        [sys.executable, "-m", "bench", "ci", "--base", "HEAD", "--separate", "--rounds", "2", "--sweep-rounds", "2",
         "--alpha", "0.05",
         "--out", str(tmp_path / "ci"), "--sweep-args", " ".join(TINY), "--new-plugin", str(SLOWDOWN),
         "--json", str(tmp_path / "c.json"), "--markdown", str(tmp_path / "s.md"), "--html", str(tmp_path / "c.html")],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), RNNBENCH_SLOWDOWN="lstm.native=9"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # ten times the work: far beyond what a busy shared machine swings by between two sweeps
    assert done.returncode == 1, done.stdout + done.stderr
    assert "round 2/2: measuring base" in done.stderr and "round 2/2: measuring new" in done.stderr
    changes = json.loads((tmp_path / "c.json").read_text())["changes"]
    assert [(c["key"], c["verdict"]) for c in changes] == [("lstm.native", "regression")]  # matched by identity
    assert (changes[0]["unit"], changes[0]["n_base"], changes[0]["n_new"]) == ("rounds", 4, 4)
    assert changes[0]["ratio"] > 3
    summary = (tmp_path / "s.md").read_text()
    assert "lstm.native inference b32 t16 i64 h64 l1 uni float32 cpu" in summary and "| 4 vs 4 rounds |" in summary
    assert (tmp_path / "c.html").stat().st_size > 10_000  # the embedded plot

    pooled = sorted(p.name for p in (tmp_path / "ci").iterdir() if p.name != "rounds")
    assert [name.rsplit("-", 1)[1] for name in pooled] == ["base", "new"]
    base_meta = json.loads((tmp_path / "ci" / pooled[0] / "run.json").read_text())
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert base_meta["environment"]["git_commit"] == head and base_meta["rounds"] == ["base-round1", "base-round2"]
    worktree = done.stderr.split("checked out in ", 1)[1].split()[0]
    assert not Path(worktree).exists()
    listed = subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True).stdout
    assert worktree not in listed  # the temporary worktree is gone


STUB_SWEEP = """
import json, sys, time
from pathlib import Path
args = sys.argv[1:]
out, run_id = Path(args[args.index("--out") + 1]), args[args.index("--run-id") + 1]
start = time.time()
time.sleep(0.3)
(out / run_id).mkdir(parents=True)
(out / run_id / "measurements.parquet").write_text("")
(out / run_id / "run.json").write_text(json.dumps({"run_id": run_id, "span": [start, time.time()]}))
"""


@pytest.mark.parametrize("simultaneous", [False, True])
def test_rounds_alternate_or_run_together(tmp_path, simultaneous):
    # a stand-in tree whose `python -m bench sweep` only records when it ran
    for name in ("base", "new"):
        (tmp_path / name / "bench").mkdir(parents=True)
        (tmp_path / name / "bench" / "__init__.py").write_text("")
        (tmp_path / name / "bench" / "__main__.py").write_text(STUB_SWEEP)
    sides = [Side("base", tmp_path / "base"), Side("new", tmp_path / "new")]
    measured = run_rounds(sides, 2, tmp_path / "spec.toml", tmp_path / "out", log=lambda _: None,
                          simultaneous=simultaneous)  # fmt: skip
    spans = {
        (side, index): json.loads((run_dir / "run.json").read_text())["span"]
        for side, dirs in measured.items()
        for index, run_dir in enumerate(dirs)
    }
    for index in range(2):
        (base_start, base_end), (new_start, new_end) = spans["base", index], spans["new", index]
        if simultaneous:
            assert base_start < new_end and new_start < base_end  # overlapping
        elif index == 0:
            assert base_end <= new_start  # base first
        else:
            assert new_end <= base_start  # then new first


def test_slowdown_spec_parsing():
    from bench.experiments.slowdown import parse
    from implementations.registry import RegistryError

    assert parse("lstm.native=0.25, gru.*=0.1,") == {"lstm.native": 0.25, "gru.*": 0.1}
    assert parse("") == {}
    with pytest.raises(RegistryError, match="expected glob=factor"):
        parse("lstm.native")
    with pytest.raises(RegistryError, match="cannot be negative"):
        parse("lstm.native=-0.1")
