"""The arithmetic behind the gate's published quality: binomial intervals, family-wise chance, trial plans."""

import numpy as np
import pandas as pd
import pytest

from bench.experiments import gate_quality


def test_zero_alarms_bound_the_rate_only_as_far_as_the_trials_go():
    assert gate_quality.rate_interval(0, 16)[1] == pytest.approx(1 - 0.025 ** (1 / 16))  # ~21%
    assert gate_quality.rate_interval(0, 300)[1] < 0.0125 and gate_quality.rate_interval(0, 299)[0] == 0
    low, high = gate_quality.rate_interval(50, 100)
    assert low < 0.5 < high and high - low == pytest.approx(0.2, abs=0.02)
    assert gate_quality.format_rate(3, 300).startswith("3/300 (1.0%, 95% CI 0.2%-2.9%)")


def test_many_cases_per_job_multiply_the_chance_of_a_false_alarm():
    assert gate_quality.any_alarm_chance(0.01, 1) == pytest.approx(0.01)
    assert gate_quality.any_alarm_chance(0.01, 16) == pytest.approx(1 - 0.99**16)
    assert gate_quality.any_alarm_chance(0.0, 50) == 0.0


def test_plan_reaches_both_counts_with_the_fewest_jobs():
    plan = gate_quality.plan(cases_per_family=2, families=4)  # the quick config's natives, both modes
    assert (plan.rotated, plan.control) == (50, 25)
    assert plan.per_factor_decisions >= 100 and plan.aa_decisions >= 300
    assert gate_quality.plan(2, 4, aa_decisions=300, per_factor=100).jobs == 75
    assert (gate_quality.plan(300, 4).rotated, gate_quality.plan(300, 4).control) == (1, 0)  # A/A from rotation
    alone = gate_quality.plan(2, 4, control_alone=True)  # control jobs alone reach 300 A/A: 38 x 8 cases
    assert (alone.rotated, alone.control, alone.aa_decisions) == (38, 38, 304)  # rotated: slowdowns only
    assert alone.per_factor_decisions == 100
    assert gate_quality.rotation_counts(38, 2, 4, 3) == [102, 102, 100]  # 4 families over 3 slowdowns
    assert min(gate_quality.rotation_counts(37, 2, 4, 3)) < 100  # 38 is the fewest


def test_rotation_counts_give_each_factor_its_share():
    assert gate_quality.rotation_counts(1, 2, 4, 4) == [2, 2, 2, 2]
    assert gate_quality.rotation_counts(1, 2, 4, 3) == [4, 2, 2]  # one factor falls on two families
    assert gate_quality.rotation_counts(3, 1, 4, 3) == [4, 4, 4]  # three jobs even it out
    assert gate_quality.rotated_jobs(10, 1, 4, 3) == (8, 10)


def test_validation_plans_the_quick_config_and_can_run_its_control_jobs_first():
    from bench.experiments import validate_gate

    families = validate_gate.gate_families()
    plan = validate_gate.plan_for(validate_gate.parse_arguments([]))
    assert (plan.rotated, plan.control) == (50, 25)  # 4 natives x 2 modes
    first = validate_gate.plan_for(validate_gate.parse_arguments(["--control-first"]))
    assert (first.rotated, first.control) == (38, 38)
    reps = [validate_gate.factors_for(rep, first.rotated, first.control) for rep in range(first.jobs)]
    assert all(not any(f.values()) for f in reps[:38]) and all(all(f.values()) for f in reps[38:])
    assert set(reps[38].values()) == set(validate_gate.SLOWDOWNS) and len(reps[38]) == len(families)
    by_factor = pd.Series([f for rep in reps[38:] for f in rep.values()]).value_counts()
    assert by_factor.min() * 2 >= 100 and set(by_factor.index) == set(validate_gate.SLOWDOWNS)  # 2 modes a family
    for family in families:  # every family meets every slowdown
        assert {rep[family] for rep in reps[38:]} == set(validate_gate.SLOWDOWNS)
    partial = validate_gate.plan_for(validate_gate.parse_arguments(["--control-first", "--reps", "40"]))
    assert (partial.control, partial.rotated, partial.per_factor_decisions) == (38, 2, 4)


def test_summary_states_cases_per_job_and_the_familywise_chance():
    summary = pd.DataFrame({"factor": [0.0, 0.05], "cases": [300, 100], "gate": [0, 80], "median_ratio": [1.0, 1.05],
                            "min_ratio": [0.98, 1.0], "max_ratio": [1.02, 1.1]})  # fmt: skip
    text = gate_quality.to_markdown(summary, {"gate": "gate"}, 75, 16, {"gate": 0}, True,
                                    {"cases_per_job": 8, "control": 25})  # fmt: skip
    assert "0/300 (0.0%, 95% CI 0.0%-1.2%)" in text and "80/100 (80.0%" in text
    assert "0/25" in text and "One job tests 8 cases" in text and "up to 9." in text


def test_order_check_holds_within_noise_and_flags_a_cold_start_that_moved():
    from bench.experiments.order_check import order_table

    def rows(first_call_s, scale=1.0):
        out = []
        for impl, isolation, first in (("native", "shared", 0.01), ("compile", "process", first_call_s)):
            samples = [scale * 1e-3 * (1 + 0.01 * (i % 5)) for i in range(30)]
            out.append({"case_id": impl, "key": f"lstm.{impl}", "impl": impl, "family": "lstm", "status": "ok",
                        "samples_s": samples, "median_s": sorted(samples)[15], "first_call_s": first,
                        "isolation": isolation, "device": "cpu", "dtype": "float32", "mode": "inference"})  # fmt: skip
        return pd.DataFrame(out)

    table = order_table(rows(10.0), rows(11.0)).set_index("case_id")
    assert table["holds"].all() and table.loc["compile", "first_call_ratio"] == pytest.approx(1.1)
    table = order_table(rows(10.0), rows(13.0)).set_index("case_id")  # a first call 30% slower reversed
    assert table.loc["native", "holds"] and not table.loc["compile", "holds"]


def test_order_check_pools_alternating_runs_and_tests_their_medians_not_one_pair():
    from bench.experiments.order_check import order_table, pool_order, run_ids

    assert run_ids(1) == [("forward", False), ("reversed", True)]
    assert [r for r, _ in run_ids(2)] == ["forward-1", "reversed-1", "forward-2", "reversed-2"]

    def run(scale, first_call_s, seed):
        rng = np.random.default_rng(seed)
        samples = list(scale * 1e-3 * (1 + 0.01 * rng.standard_normal(30)))
        return pd.DataFrame([{"case_id": "c", "key": "lstm.compile", "impl": "compile", "family": "lstm",
                              "status": "ok", "samples_s": samples, "median_s": float(np.median(samples)),
                              "round_medians_s": [float(np.median(samples))], "first_call_s": first_call_s,
                              "isolation": "process", "device": "cpu", "dtype": "float32",
                              "mode": "inference"}])  # fmt: skip

    # each process 8% off the other at random, both orders alike: one pair would call it, 5 pooled do not
    scales = [1.0, 1.08, 0.95, 1.05, 0.97, 1.09, 1.0, 0.94, 1.04, 1.01]
    forward = pool_order([run(scales[i], 10.0 + i % 3, i) for i in range(0, 10, 2)], "forward")
    reversed_ = pool_order([run(scales[i], 10.5 + i % 3, i) for i in range(1, 10, 2)], "reversed")
    assert forward.loc[0, "rounds"] == 5 and len(forward.loc[0, "round_medians_s"]) == 5
    assert forward.loc[0, "first_call_s"] == 11.0  # the median of 10, 12, 11, 10, 12
    assert order_table(run(1.0, 10, 0), run(1.08, 10, 1)).loc[0, "verdict"] == "regression"
    table = order_table(forward, reversed_)
    assert table.loc[0, "verdict"] == "unchanged" and table.loc[0, "holds"]
    # an order effect: each reversed run 25% slower than its forward one (beyond the spread), its first call 40%
    slow = pool_order([run(1.25 * scales[i - 1], 14.0, i) for i in range(1, 10, 2)], "reversed")
    table = order_table(pool_order([run(scales[i], 10.0, i) for i in range(0, 10, 2)], "forward"), slow)
    assert table.loc[0, "verdict"] == "regression" and not table.loc[0, "holds"]
    assert table.loc[0, "first_call_ratio"] == pytest.approx(1.4)
