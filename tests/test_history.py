"""`rnnbench runs`, `query` and `history` over a results root of many runs, as a user runs them."""

import json
import shutil
from types import SimpleNamespace

import pandas as pd
import pytest
from _history_root import CASES, case_id, commit, write_root

from bench.cli import main

STEP_CASE = case_id(*CASES[0][:3])
FEWER = ["--permutations", "199"]  # where the test is not about the detector: a quicker permutation test


@pytest.fixture
def cli(capsys):
    """The command line in this process (the imports are paid once): returncode, stdout, stderr."""

    def run(*args: str) -> SimpleNamespace:
        code = main(list(args))
        captured = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=captured.out, stderr=captured.err)

    return run


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """40 runs over 40 commits; a 10% step in the first case at commit 25; two noisy runs elsewhere."""
    path = tmp_path_factory.mktemp("history") / "results"
    write_root(path, noisy=((2, 10), (3, 30)))
    return path


def test_history_finds_the_step_at_its_commit_and_nothing_else(root, tmp_path, cli):
    result = cli(
        "history", str(root), "--out", str(tmp_path / "page"), "--json", str(tmp_path / "h.json"),
        "--markdown", str(tmp_path / "h.md"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "h.json").read_text())
    [change] = document["changes"]
    assert change["case_id"] == STEP_CASE
    assert (change["commit_before"], change["commit_after"]) == (commit(24)[:12], commit(25)[:12])
    assert change["ratio_low"] < 1.10 < change["ratio_high"] and change["p_value"] < 0.01 and change["points"] == 40
    assert document["summary"] == {
        "runs": 40, "cases": len(CASES), "series": len(CASES), "noisy_points": 2, "changes": 1, "slower": 1,
        "faster": 0,
    }  # fmt: skip
    assert {(n["case_id"], n["git_commit"]) for n in document["noisy"]} == {
        (case_id(*CASES[2][:3]), commit(10)),
        (case_id(*CASES[3][:3]), commit(30)),
    }
    markdown = (tmp_path / "h.md").read_text()
    assert "**1 change point(s)**" in markdown and f"`{commit(24)[:12]}` → `{commit(25)[:12]}`" in markdown
    assert "+10.0%" in markdown or "+9.9%" in markdown or "+10.1%" in markdown
    page = (tmp_path / "page" / "index.html").read_text()
    assert page.count("<img") == 5 and commit(25)[:12] in page  # one figure per family and mode


def test_other_hosts_and_versions_are_series_of_their_own(tmp_path, cli):
    root = tmp_path / "results"
    write_root(root, commits=12, step=0.0, host="ci-runner-1")
    write_root(root / "other", commits=12, step=0.0, host="laptop", seed=1)
    for meta_path in (root / "other").glob("*/run.json"):  # twice as slow there: mixing would be a step
        frame = pd.read_parquet(meta_path.parent / "measurements.parquet")
        frame["median_s"] *= 2
        frame.to_parquet(meta_path.parent / "measurements.parquet", index=False)
    result = cli("history", str(root), "--out", str(tmp_path / "p"), "--json", str(tmp_path / "h.json"), *FEWER)
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "h.json").read_text())
    assert document["summary"]["series"] == 2 * len(CASES) and document["changes"] == []


def test_runs_lists_filters_and_writes(root, tmp_path, cli):
    result = cli("runs", str(root))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["run_id", "started_at", "git_commit", "git_branch", "host", "status", "cases"]
    assert lines[-1] == f"40 runs under {root}" and len(lines) == 43
    assert cli("runs", str(root), "--impl", "lstm.premul*").stdout.splitlines()[-1] == f"40 runs under {root}"
    assert cli("runs", str(root), "--impl", "gru.nothing").stdout.splitlines()[-1] == f"0 runs under {root}"
    assert cli("runs", str(root), "--since", "2099-01-01").stdout.splitlines()[-1] == f"0 runs under {root}"
    out = tmp_path / "runs.parquet"
    assert cli("runs", str(root), "--out", str(out)).returncode == 0
    assert len(pd.read_parquet(out)) == 40


def test_query_joins_rows_with_their_runs(root, tmp_path, cli):
    sql = (
        "SELECT git_commit, git_commit_time, median_s FROM measurements "
        f"WHERE case_id = '{STEP_CASE}' ORDER BY git_commit_time"
    )
    out = tmp_path / "trend.csv"
    result = cli("query", str(root), sql, "--out", str(out))
    assert result.returncode == 0, result.stderr
    trend = pd.read_csv(out)
    assert list(trend["git_commit"]) == [commit(i) for i in range(40)]
    assert trend["median_s"].iloc[25:].median() > 1.05 * trend["median_s"].iloc[:25].median()
    shown = cli("query", str(root), "SELECT count(*) AS n, count(DISTINCT run_id) AS runs FROM measurements")
    assert shown.stdout.splitlines()[2].split() == [str(40 * len(CASES)), "40"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["query", "{root}", "SELEC nonsense"], "SQL failed: Parser Error"),
        (["query", "{root}", "SELECT no_such_column FROM measurements"], "no_such_column"),
        (["history", "{root}", "--where", "no_such_column > 1"], "no_such_column"),
        (["runs", "{root}", "--since", "last tuesday"], "--since 'last tuesday'"),
        (["history", "{root}", "--alpha", "2"], "--alpha 2.0"),
        (["history", "{root}", "--impl", "nothing.*"], "matches no case"),
        (["query", "{root}", "SELECT 1", "--out", "{tmp}/x.txt"], "expected a .csv or .parquet"),
    ],
)
def test_bad_input_is_one_line_and_status_2(root, tmp_path, cli, args, message):
    extra = ["--out", str(tmp_path / "p")] if args[0] == "history" else []
    result = cli(*[a.format(root=root, tmp=tmp_path) for a in args], *extra)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_empty_root_is_bad_input(tmp_path, cli):
    for command in ("runs", "history", "query"):
        result = cli(command, str(tmp_path), *(["SELECT 1"] if command == "query" else []))
        assert result.returncode == 2 and "no runs under" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_corrupt_runs_among_many_are_skipped_with_a_warning_naming_them(root, tmp_path, cli):
    damaged = tmp_path / "results"
    shutil.copytree(root, damaged)
    runs = sorted(p.parent for p in damaged.glob("*/run.json"))
    (runs[0] / "run.json").write_text("{not json")
    (runs[1] / "measurements.parquet").write_bytes(b"not parquet")
    result = cli("runs", str(damaged))
    assert result.returncode == 0, result.stderr
    assert str(runs[0] / "run.json") in result.stderr and str(runs[1]) in result.stderr
    assert result.stdout.splitlines()[-1] == f"39 runs under {damaged}"  # the damaged table is listed, empty
    history = cli("history", str(damaged), "--out", str(tmp_path / "p"), "--json", str(tmp_path / "h.json"), *FEWER)
    assert history.returncode == 0 and str(runs[0] / "run.json") in history.stderr
    assert json.loads((tmp_path / "h.json").read_text())["summary"]["runs"] == 38
