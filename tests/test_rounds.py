"""Interleaved rounds: the order cases run in, pooling, and resuming part-way through the rounds."""

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench import store
from bench.cases import Case
from bench.pooling import pool_rows
from bench.runner import run_cases
from bench.spec import Timing


def _case(batch: int) -> Case:
    return Case("lstm.native", "lstm", "native", "cpu", "float32", "inference", batch, 4, 8, 8)


@dataclass
class FakeRunner:
    """Stands in for the worker: returns a row whose samples say which call produced them."""

    run_dir: Path
    timing: Timing
    run_id: str = "r"
    threads: int = 1
    calls: list = field(default_factory=list)

    def run_case(self, case, peak, repeat=False):
        self.calls.append((case.batch, repeat))
        value = float(len(self.calls))
        return {
            "case_id": case.case_id,
            **case.identity(),
            "status": "ok",
            "samples_s": [value, value],
            "median_s": value,
            "calls_per_sample": 1,
            "flops": 10,
            "peak_flops_per_s": 100.0,
            "wall_s": 1.0,
        }


def test_rounds_interleave_cases_and_pool_samples(tmp_path):
    run_dir = store.create_run(tmp_path, "r", {})
    runner = FakeRunner(run_dir, Timing(rounds=3))
    cases = [(_case(1), None), (_case(2), None), (_case(3), "skipped for a reason")]
    run_cases(runner, cases, {})
    # round after round over the whole list, never one case three times in a row
    assert runner.calls == [(1, False), (2, False), (1, True), (2, True), (1, True), (2, True)]
    frame = store.read_measurements(run_dir).set_index("batch")
    assert frame.loc[1, "samples_s"] == [1.0, 1.0, 3.0, 3.0, 5.0, 5.0]
    assert frame.loc[1, "median_s"] == 3.0 and frame.loc[1, "rounds"] == 3
    assert frame.loc[1, "efficiency"] == pytest.approx(10 / 3.0 / 100.0)
    assert frame.loc[3, "status"] == "skipped"


def test_resume_continues_the_rounds_without_repeating_any(tmp_path):
    run_dir = store.create_run(tmp_path, "r", {})
    cases = [(_case(1), None), (_case(2), None)]
    run_cases(FakeRunner(run_dir, Timing(rounds=1)), cases, {})  # as if stopped after round 1
    runner = FakeRunner(run_dir, Timing(rounds=2))
    run_cases(runner, cases, {})
    assert runner.calls == [(1, True), (2, True)]
    assert set(store.read_measurements(run_dir)["rounds"]) == {2}
    again = FakeRunner(run_dir, Timing(rounds=2))
    run_cases(again, cases, {})
    assert again.calls == []


def test_a_failed_later_round_marks_the_case_and_keeps_the_measured_samples():
    first = {"case_id": "x", "status": "ok", "samples_s": [1.0, 2.0], "median_s": 1.5, "iqr_s": 0.5, "rounds": 1,
             "calls_per_sample": 1, "forward_median_s": 1.0, "correct": True}  # fmt: skip
    crashed = pool_rows([first, {"status": "crashed", "error": "worker killed by SIGSEGV"}])
    assert crashed["status"] == "crashed" and crashed["samples_s"] == [1.0, 2.0] and crashed["rounds"] == 1
    second = {"status": "ok", "samples_s": [3.0, 4.0, 5.0], "calls_per_sample": 10, "forward_median_s": 3.0}
    pooled = pool_rows([first, {**second, "correct": True}])
    assert pooled["samples_s"] == [1.0, 2.0, 3.0, 4.0, 5.0] and pooled["n_samples"] == 5
    assert pooled["median_s"] == 3.0 and pooled["iqr_s"] == 2.0  # every statistic recomputed, none left stale
    assert pooled["calls_per_sample"] == 10 and pooled["forward_median_s"] == 2.0 and pooled["rounds"] == 2
    assert pool_rows([first, {**second, "correct": False}])["correct"] is False
