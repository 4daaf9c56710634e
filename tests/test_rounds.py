"""Interleaved rounds: the order cases run in, pooling, and resuming part-way through the rounds."""

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.plan.cases import Case
from bench.plan.spec import Timing
from bench.results import store
from bench.run.pooling import pool_rows
from bench.run.runner import Runner, run_cases
from bench.worker.protocol import STARTED


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

    def start_round(self):
        self.calls.append("new process")

    def run_case(self, case, peak, repeat=False, calls=None):
        self.calls.append((case.batch, repeat))
        assert calls == (7 if repeat else None)  # a later round keeps the first round's block size
        value = float(len([c for c in self.calls if c != "new process"]))
        return {
            "case_id": case.case_id,
            **case.identity(),
            "status": "ok",
            "samples_s": [value, value],
            "median_s": value,
            "round_medians_s": [value],
            "calls_per_sample": 7,
            "flops": 10,
            "peak_flops_per_s": 100.0,
            "wall_s": 1.0,
        }


def test_rounds_interleave_cases_and_pool_samples(tmp_path):
    run_dir = store.create_run(tmp_path, "r", {})
    runner = FakeRunner(run_dir, Timing(rounds=3))
    cases = [(_case(1), None), (_case(2), None), (_case(3), "skipped for a reason")]
    run_cases(runner, cases, {})
    # round after round over the whole list, never one case three times in a row, each round a new process
    assert runner.calls == [(1, False), (2, False), "new process", (1, True), (2, True), "new process", (1, True),
                            (2, True)]  # fmt: skip
    frame = store.read_measurements(run_dir).set_index("batch")
    assert frame.loc[1, "samples_s"] == [1.0, 1.0, 3.0, 3.0, 5.0, 5.0]
    assert frame.loc[1, "round_medians_s"] == [1.0, 3.0, 5.0] and frame.loc[2, "round_medians_s"] == [2.0, 4.0, 6.0]
    assert frame.loc[1, "median_s"] == 3.0 and frame.loc[1, "rounds"] == 3
    assert frame.loc[1, "efficiency"] == pytest.approx(10 / 3.0 / 100.0)
    assert frame.loc[3, "status"] == "skipped"


def test_resume_continues_the_rounds_without_repeating_any(tmp_path):
    run_dir = store.create_run(tmp_path, "r", {})
    cases = [(_case(1), None), (_case(2), None)]
    run_cases(FakeRunner(run_dir, Timing(rounds=1)), cases, {})  # as if stopped after round 1
    runner = FakeRunner(run_dir, Timing(rounds=2))
    run_cases(runner, cases, {})
    assert runner.calls == ["new process", (1, True), (2, True)]
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


def test_round_medians_pool_in_round_order_and_older_rows_count_as_one_round():
    first = {"status": "ok", "samples_s": [1.0, 2.0, 9.0], "round_medians_s": [2.0]}
    old = {"status": "ok", "samples_s": [4.0, 5.0, 6.0, 7.0], "rounds": 3}  # pooled before medians were kept
    later = {"status": "ok", "samples_s": [3.0], "round_medians_s": [3.0]}
    pooled = pool_rows([first, old, later])
    assert pooled["round_medians_s"] == [2.0, 5.5, 3.0] and pooled["rounds"] == 5
    assert pooled["samples_s"] == [1.0, 2.0, 9.0, 4.0, 5.0, 6.0, 7.0, 3.0]  # the samples stay pooled
    failed = pool_rows([first, {"status": "crashed", "error": "signal 11"}, later])
    assert failed["status"] == "crashed" and failed["round_medians_s"] == [2.0, 3.0]


@pytest.mark.slow
def test_each_round_of_a_sweep_runs_in_a_fresh_worker_process(tmp_path):
    run_dir = store.create_run(tmp_path, "r", {})
    timing = Timing(rounds=2, budget_s=0.05, min_time_s=0.05, min_samples=3, check=False, memory=False)
    runner = Runner(run_dir, "r", timing, threads=1, plugins=[])
    try:
        run_cases(runner, [(_case(1), None)], {})
    finally:
        runner.close()
    log = (run_dir / "logs" / "worker.log").read_text()
    pids = [line.split()[-1] for line in log.splitlines() if line.startswith(STARTED)]
    assert len(pids) == 2 and pids[0] != pids[1]
    row = store.read_measurements(run_dir).iloc[0]
    assert row["rounds"] == 2 and len(row["round_medians_s"]) == 2
    assert all(min(row["samples_s"]) <= m <= max(row["samples_s"]) for m in row["round_medians_s"])
