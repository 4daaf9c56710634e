"""The instructions clock without Valgrind: its spec rules, the count decision, and what a person reads."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _chromium import Chromium, find_browser
from synthetic_runs import case, run_json, write_run

from bench.analysis import counts
from bench.analysis.compare import compare_runs
from bench.errors import UsageError
from bench.plan import instructions
from bench.plan.cases import expand
from bench.plan.spec import spec_from_dict
from bench.render.compare_render import to_markdown, to_terminal
from bench.results.vocabulary import format_instructions
from implementations import registry

ROOT = Path(__file__).resolve().parents[1]


def count_row(c, run_id: str, per_call: float, spread: float = 0.0002, calls: int = 5, empty: float = 800.0) -> dict:
    """A row as the instructions clock writes it: raw counts of three repeats around `per_call`."""
    per_repeat = per_call * (1 + spread * np.array([-1.0, 0.0, 1.0]))
    return {
        "run_id": run_id,
        "case_id": c.case_id,
        **c.identity(),
        "threads": 1,
        "status": "ok",
        "clock": "instructions",
        "instructions_per_call": float(np.median(per_repeat)),
        "instruction_counts": [int(round((p + empty) * calls)) for p in per_repeat],
        "empty_call_instructions": empty,
        "calls_per_sample": calls,
        "median_s": np.nan,
        "samples_s": None,
        "correct": True,
        "error": None,
    }


def spec(**timing):
    data = {"impls": ["lstm.native"], "devices": ["cpu", "cuda"], "timing": {"clock": "instructions", **timing}}
    return spec_from_dict(data)


def test_cuda_case_is_skipped_with_the_reason_and_cpu_case_runs():
    cases = dict((c.device, reason) for c, reason in expand(spec(), registry.all()) if c.mode == "inference")
    assert cases == {"cpu": None, "cuda": instructions.CUDA_REASON}
    assert "CPU instructions only" in cases["cuda"]


def test_one_thread_by_default_and_more_threads_or_rounds_are_refused():
    assert instructions.threads(spec().timing, default=2) == 1
    with pytest.raises(UsageError, match="one thread"):
        spec(threads=2)
    with pytest.raises(UsageError, match="one round"):
        spec(rounds=3)


def test_counts_within_tolerance_are_unchanged_and_a_two_percent_change_is_caught():
    c = case()
    base = count_row(c, "a", 1_000_000)
    assert counts.decide(base, count_row(c, "b", 1_000_500))[0] == "unchanged"  # +0.05%: an A/A difference
    verdict, figures, note = counts.decide(base, count_row(c, "b", 1_020_000))
    assert (verdict, note) == ("regression", "")
    assert figures["ratio"] == pytest.approx(1.02)
    assert figures["ratio_low"] < 1.02 < figures["ratio_high"]
    assert counts.decide(base, count_row(c, "b", 970_000))[0] == "improvement"


def test_per_repeat_counts_are_recomputed_from_the_raw_counts():
    row = count_row(case(), "a", 2_000_000, spread=0.001)
    assert counts.per_repeat(row) == pytest.approx([1_998_000, 2_000_000, 2_002_000], rel=1e-6)
    assert counts.spread(row) == pytest.approx(0.002, rel=1e-2)


def test_noisy_repeats_are_said_and_a_count_against_a_time_is_incomparable():
    c = case()
    verdict, _, note = counts.decide(count_row(c, "a", 1e6, spread=0.02), count_row(c, "b", 1e6))
    assert verdict == "unchanged" and "beyond the 1.00% tolerance" in note
    timed = {"instructions_per_call": None, "median_s": 1e-3}
    verdict, _, note = counts.decide(count_row(c, "a", 1e6), timed)
    assert verdict == "incomparable" and "only the base run counted" in note


def test_compare_runs_decides_count_runs_by_tolerance_and_says_so():
    slowed, same = case("lstm"), case("gru")
    base = pd.DataFrame([count_row(slowed, "a", 1e6), count_row(same, "a", 2e6)])
    new = pd.DataFrame([count_row(slowed, "b", 1.05e6), count_row(same, "b", 2.0004e6)])
    result = compare_runs(base, new, run_json("a"), run_json("b"))
    by_key = dict(zip(result.changes["key"], result.changes["verdict"]))
    assert by_key == {"lstm.native": "regression", "gru.native": "unchanged"}
    assert result.failed and result.tolerance == counts.DEFAULT_TOLERANCE
    assert set(result.changes["unit"]) == {"counts"}
    assert not any("raw samples" in w for w in result.warnings)
    terminal = to_terminal(result)
    assert "1.05 M instr" in terminal and "+5.0%" in terminal and "tolerance 1.00%" in terminal
    assert "count per call moved beyond the tolerance" in to_markdown(result)
    stricter = compare_runs(base, new, run_json("a"), run_json("b"), tolerance=0.1)
    assert not stricter.failed


def test_show_ranks_a_counted_run_by_instructions(tmp_path):
    rows = [count_row(case("lstm"), "r", 3e6), count_row(case("lstm", impl="premul_loop"), "r", 2e6)]
    run = write_run(tmp_path, "r", rows)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    shown = subprocess.run([sys.executable, "-m", "bench", "show", str(run)], capture_output=True, text=True, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "instructions/call" in shown.stdout and "premul_loop" in shown.stdout
    assert "2 M instr" in shown.stdout and "1.50x" in shown.stdout


def _path_without_valgrind(folder: Path) -> str:
    """A PATH of one folder linking every program on this PATH but Valgrind's (compilers and ninja stay: the
    kernels extra's adapters build C++ operators when they load)."""
    folder.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        for program in Path(directory).glob("*") if Path(directory).is_dir() else []:
            target = folder / program.name
            if not program.name.startswith(("valgrind", "vgdb", "callgrind")) and not target.exists():
                target.symlink_to(program)
    return str(folder)


def test_without_valgrind_the_clock_is_refused_with_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=_path_without_valgrind(tmp_path / "bin"))
    args = ["sweep", "--impl", "lstm.native", "--clock", "instructions", "--out", str(tmp_path / "runs")]
    done = subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "needs Valgrind" in done.stderr
    assert not (tmp_path / "runs").exists()  # refused before a run directory was made


@pytest.mark.skipif(find_browser() is None, reason="no Chromium or Chrome binary on this machine (.ci/run installs it)")
def test_report_of_a_counted_run_shows_the_count_column_and_its_own_plot(tmp_path):
    from bench.render.report import build_report

    sizes = [("lstm", 2e5, t) for t in (4, 8, 16)] + [("gru", 3e5, t) for t in (4, 8, 16)]
    rows = [count_row(case(family, seq_len=t), "r", per_call=t * scale) for family, scale, t in sizes]
    page = build_report(write_run(tmp_path, "r", rows), tmp_path / "report")
    with Chromium(find_browser()) as browser:
        log = browser.open(page)
        assert log.console_errors == [] and log.dialogs == []
        headers = browser.evaluate(
            "Array.from(document.querySelector('#measurements-table').tHead.rows[0].cells).map(c => c.textContent)"
        )
        column = headers.index("instructions/call")
        cells = browser.evaluate(
            "Array.from(document.querySelector('#measurements-table').tBodies[0].rows)"
            f".map(r => r.cells[{column}].textContent)"
        )
        titles = browser.evaluate("Array.from(document.querySelectorAll('figure, h3')).map(e => e.textContent)")
        alerts = browser.evaluate("Array.from(document.querySelectorAll('.alert')).map(e => e.textContent)")
        widths = browser.evaluate("Array.from(document.images).map(img => img.complete ? img.naturalWidth : 0)")
    assert sorted(cells) == sorted(format_instructions(r["instructions_per_call"]) for r in rows)
    assert any("Instructions vs sequence length" in t for t in titles)
    assert not any("Latency" in t for t in titles)  # counts never go on a time axis, and there is no time
    assert widths and all(w > 300 for w in widths)
    assert any("counted instructions" in a for a in alerts)
    assert not any("No case produced a correct measurement" in a for a in alerts)  # it did: counts, not times


@pytest.mark.parametrize("flags", [["--rounds", "3"], ["--separate"]])
def test_ci_under_instructions_refuses_more_processes_with_one_line(flags, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = ["ci", "--base", "HEAD", "--clock", "instructions", *flags, "--out", str(tmp_path / "ci")]
    done = subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert "--clock instructions" in done.stderr
    assert not (tmp_path / "ci").exists()


def test_a_counted_case_reports_its_count_in_the_progress_line_and_a_timed_one_its_time():
    from bench.run.progress import outcome

    counted = {"status": "ok", "median_s": None, "iqr_s": None, "instructions_per_call": 2.13e6,
               "calls_per_sample": 3, "instruction_counts": [6_400_000, 6_390_000, 6_410_000]}  # fmt: skip
    assert outcome(counted) == "ok 2.13 M instr a call (3 calls x 3 counts)"
    assert outcome({**counted, "correct": False}).endswith("  INCORRECT")
    timed = {"status": "ok", "median_s": 1e-3, "iqr_s": 1e-4, "n_samples": 20, "instructions_per_call": None}
    assert outcome(timed) == "ok 1 ms (IQR 10%, n=20)"
