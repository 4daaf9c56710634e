import numpy as np
import pandas as pd
import pytest
from synthetic_runs import case, lognormal, process_rounds, row, run_json

from bench.analysis.compare import compare_runs
from bench.errors import UsageError


def frame(rows):
    return pd.DataFrame.from_records(rows)


def verdicts(comparison):
    return dict(
        zip(comparison.changes["key"] + "|" + comparison.changes["batch"].astype(str), comparison.changes["verdict"])
    )


def test_verdicts_for_every_kind_of_change():
    slow, fast, same = case("lstm", batch=1), case("gru", batch=1), case("rnn_tanh", batch=1)
    broken, gone, added = case("rnn_relu", batch=1), case("lstm", batch=2), case("lstm", batch=3)
    base = frame(
        [
            row(slow, "a", lognormal(1e-3, 20, 1)),
            row(fast, "a", lognormal(1e-3, 20, 2)),
            row(same, "a", lognormal(1e-3, 20, 3)),
            row(broken, "a", lognormal(1e-3, 20, 4)),
            row(gone, "a", lognormal(1e-3, 20, 5)),
        ]
    )
    new = frame(
        [
            row(slow, "b", lognormal(1.3e-3, 20, 11)),
            row(fast, "b", lognormal(0.7e-3, 20, 12)),
            row(same, "b", lognormal(1e-3, 20, 13)),
            row(broken, "b", lognormal(1e-3, 20, 14), correct=False),
            row(added, "b", lognormal(1e-3, 20, 15)),
        ]
    )
    result = compare_runs(base, new, run_json("a"), run_json("b"))
    assert verdicts(result) == {
        "lstm.native|1": "regression",
        "gru.native|1": "improvement",
        "rnn_tanh.native|1": "unchanged",
        "rnn_relu.native|1": "failure",
        "lstm.native|2": "only_base",
        "lstm.native|3": "only_new",
    }
    assert result.failed
    assert result.changes.iloc[0]["verdict"] == "regression"  # worst first
    regression = result.changes[result.changes["verdict"] == "regression"].iloc[0]
    assert regression["ratio_low"] < 1.3 < regression["ratio_high"]
    assert regression["p_value"] < 0.01
    assert (result.base_run_id, result.new_run_id) == ("a", "b")


def test_small_noisy_shift_below_threshold_is_unchanged_and_gate_passes():
    c = case()
    base = frame([row(c, "a", lognormal(1e-3, 200, 1, spread=0.01))])
    new = frame([row(c, "b", lognormal(1.04e-3, 200, 2, spread=0.01))])
    result = compare_runs(base, new, threshold=0.10, alpha=0.01)
    only = result.changes.iloc[0]
    assert only["p_value"] < 1e-10  # the test alone would flag a 4% drift
    assert only["verdict"] == "unchanged"
    assert not result.failed
    # with a 2% threshold the same data is a regression
    assert compare_runs(base, new, threshold=0.02).changes.iloc[0]["verdict"] == "regression"


def test_a_big_median_change_on_too_few_samples_is_incomparable_not_a_regression():
    c = case()
    result = compare_runs(frame([row(c, "a", [1e-3, 1.1e-3])]), frame([row(c, "b", [2e-3, 2.1e-3])]))
    assert result.changes.iloc[0]["verdict"] == "incomparable"
    assert "too few samples" in result.changes.iloc[0]["note"]
    assert not result.failed
    from bench.render.compare_render import to_markdown

    shown = [line for line in to_markdown(result).splitlines() if "| lstm" in line or "lstm." in line]
    assert shown and all("inf]" not in line for line in shown)  # no (0, inf) shown as if it were an interval
    assert any("too few samples |" in line for line in shown)


def test_failures_fixed_and_skipped():
    crashed, fixed, still, skipped = case(batch=1), case(batch=2), case(batch=3), case(batch=4)
    base = frame(
        [
            row(crashed, "a", lognormal(1e-3, 10, 1)),
            row(fixed, "a", None, status="timeout", error="over 60 s"),
            row(still, "a", lognormal(1e-3, 10, 2), correct=False),
            row(skipped, "a", None, status="skipped", error="lstm.x is unidirectional only"),
        ]
    )
    new = frame(
        [
            row(crashed, "b", None, status="crashed", error="signal 6"),
            row(fixed, "b", lognormal(1e-3, 10, 3)),
            row(still, "b", lognormal(1e-3, 10, 4), correct=False),
            row(skipped, "b", None, status="skipped", error="lstm.x is unidirectional only"),
        ]
    )
    result = compare_runs(base, new)
    by_batch = dict(zip(result.changes["batch"], zip(result.changes["verdict"], result.changes["note"])))
    assert by_batch[1] == ("failure", "crashed: signal 6")
    assert by_batch[2][0] == "fixed"
    assert by_batch[3] == ("still_failing", "incorrect result")
    assert by_batch[4] == ("incomparable", "lstm.x is unidirectional only")
    assert result.failed  # the crash is new


def test_relative_to_native_cancels_machine_drift():
    # the new machine is 30% slower on everything; only premul really regressed (by 20% relative to native)
    rows_a, rows_b = [], []
    for seed, (family, impl, factor) in enumerate(
        [("lstm", "native", 1.0), ("lstm", "premul", 1.2), ("gru", "native", 1.0), ("gru", "premul", 1.0)]
    ):
        c = case(family, impl)
        rows_a.append(row(c, "a", lognormal(1e-3, 30, seed)))
        rows_b.append(row(c, "b", lognormal(1.3e-3 * factor, 30, 100 + seed)))
    base, new = frame(rows_a), frame(rows_b)
    raw = compare_runs(base, new)
    assert set(raw.changes["verdict"]) == {"regression"}
    relative = compare_runs(base, new, relative_to="native")
    got = dict(zip(relative.changes["key"], relative.changes["verdict"]))
    assert got == {
        "lstm.premul": "regression",
        "gru.premul": "unchanged",
        "lstm.native": "incomparable",
        "gru.native": "incomparable",
    }
    lstm = relative.changes[relative.changes["key"] == "lstm.premul"].iloc[0]
    assert lstm["ratio"] == pytest.approx(1.2, rel=0.05)


def test_relative_to_without_reference_case_is_incomparable():
    premul, native = case("lstm", "premul"), case("gru", "native")
    base = frame([row(premul, "a", lognormal(1e-3, 20, 1)), row(native, "a", lognormal(1e-3, 20, 3))])
    new = frame([row(premul, "b", lognormal(2e-3, 20, 2)), row(native, "b", lognormal(1e-3, 20, 4))])
    result = compare_runs(base, new, relative_to="native")
    premul_row = result.changes[result.changes["key"] == "lstm.premul"].iloc[0]
    assert premul_row["verdict"] == "incomparable"
    assert "no ok native case" in premul_row["note"]
    with pytest.raises(UsageError, match="no successful nothere case"):
        compare_runs(base, new, relative_to="nothere")


def test_environment_differences_are_warned():
    c, rng = case(), np.random.default_rng(3)
    base = frame([row(c, "a", None, rounds=process_rounds(1e-3, 6, rng))])
    new = frame([row(c, "b", None, rounds=process_rounds(1e-3, 6, rng))])
    result = compare_runs(base, new, run_json("a"), run_json("b", host="other", torch="2.14.0"))
    assert any("machine: ci-runner-1 (base) vs other (new)" in w for w in result.warnings)
    assert any("torch: 2.13.0+cpu (base) vs 2.14.0 (new)" in w for w in result.warnings)
    assert compare_runs(base, new, run_json("a"), run_json("b")).warnings == ()


def test_no_common_cases_and_bad_parameters_are_usage_errors():
    a = frame([row(case(batch=1), "a", [1e-3] * 5)])
    b = frame([row(case(batch=2), "b", [1e-3] * 5)])
    with pytest.raises(UsageError, match="no cases in common"):
        compare_runs(a, b)
    with pytest.raises(UsageError, match="alpha"):
        compare_runs(a, a, alpha=1.5)


def test_zero_variance_and_missing_samples():
    same, moved, empty = case(batch=1), case(batch=2), case(batch=3)
    base = frame([row(same, "a", [1e-3] * 8), row(moved, "a", [1e-3] * 8), row(empty, "a", [1e-3] * 8)])
    new = frame([row(same, "b", [1e-3] * 8), row(moved, "b", [1.5e-3] * 8), row(empty, "b", [])])
    got = dict(zip(compare_runs(base, new).changes["batch"], compare_runs(base, new).changes["verdict"]))
    assert got == {1: "unchanged", 2: "regression", 3: "incomparable"}
    assert np.isnan(compare_runs(base, new).changes.set_index("batch").loc[3, "ratio"])


def _jobs(factor: float, jobs: int, rng) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`jobs` simulated CI jobs (one case each), 8 vs 8 rounds, every round a process with its own offset."""
    cases = [case(batch=job + 1) for job in range(jobs)]
    base = frame([row(c, "a", None, rounds=process_rounds(1e-3, 8, rng)) for c in cases])
    new = frame([row(c, "b", None, rounds=process_rounds(1e-3 * factor, 8, rng)) for c in cases])
    return base, new


def test_rounds_are_the_replicates_pooled_samples_are_overconfident():
    """Each process runs the same code a few percent faster or slower (sd 8%), on top of sample noise (3%).
    Pooled, 160 samples per side look like overwhelming evidence of a change that is only the luck of 8
    processes; a test over the 8 round medians knows how many replicates it has."""
    rng = np.random.default_rng(2024)
    base, new = _jobs(1.0, 200, rng)
    on_rounds = compare_runs(base, new).changes
    pooled = compare_runs(base.drop(columns="round_medians_s"), new.drop(columns="round_medians_s")).changes
    assert set(on_rounds["unit"]) == {"rounds"} and set(pooled["unit"]) == {"samples"}
    false_on_rounds = on_rounds["verdict"].isin(["regression", "improvement"]).mean()
    false_pooled = pooled["verdict"].isin(["regression", "improvement"]).mean()
    assert false_on_rounds <= 0.02
    assert false_pooled >= 0.15  # same data, same threshold: only the unit differs
    assert (pooled["p_value"] < 0.01).mean() >= 0.4  # identical code "significant" in half the jobs

    base, new = _jobs(1.25, 200, rng)
    caught = compare_runs(base, new).changes["verdict"].eq("regression").mean()
    assert caught >= 0.95


def test_the_unit_is_rounds_where_they_can_reach_alpha_else_samples_with_one_warning():
    rng = np.random.default_rng(5)
    eight, three, old = case(batch=1), case(batch=2), case(batch=3)
    base = frame(
        [
            row(eight, "a", None, rounds=process_rounds(1e-3, 8, rng)),
            row(three, "a", None, rounds=process_rounds(1e-3, 3, rng)),
            row(old, "a", lognormal(1e-3, 20, 1)),  # written before round medians were recorded
        ]
    )
    new = frame(
        [
            row(eight, "b", None, rounds=process_rounds(1e-3, 7, rng)),
            row(three, "b", None, rounds=process_rounds(1e-3, 3, rng)),
            row(old, "b", lognormal(1e-3, 20, 2)),
        ]
    )
    result = compare_runs(base, new, run_json("a"), run_json("b"))
    got = result.changes.set_index("batch")
    assert (got.loc[1, "unit"], got.loc[1, "n_base"], got.loc[1, "n_new"]) == ("rounds", 8, 7)
    assert got.loc[1, "base_median_s"] == pytest.approx(np.median(base.iloc[0]["round_medians_s"]))
    assert (got.loc[2, "unit"], got.loc[2, "n_base"], got.loc[2, "n_new"]) == ("samples", 60, 60)
    assert (got.loc[3, "unit"], got.loc[3, "n_base"]) == ("samples", 20)
    assert result.warnings == (
        "2 cases decided on raw samples of too few rounds per side (at most 3), which understate run-to-run "
        "variation; measure with --rounds 5 or more (rnnbench ci does) for a trustworthy gate",
    )
    single = compare_runs(base.iloc[[2]], new.iloc[[2]], alpha=0.05)
    assert single.warnings == (
        "1 case decided on raw samples of one process per side, which understate run-to-run variation; "
        "measure with --rounds 4 or more (rnnbench ci does) for a trustworthy gate",
    )
    assert compare_runs(base.iloc[[0]], new.iloc[[0]]).warnings == ()  # decided on rounds: nothing to warn of
    pooled_before = compare_runs(base.iloc[[2]].assign(rounds=3), new.iloc[[2]].assign(rounds=3))
    assert "decided on raw samples of too few rounds per side (at most 3)" in pooled_before.warnings[0]


def test_relative_to_divides_each_round_by_the_reference_of_the_same_round():
    # every round runs on a machine of its own speed (sd 30%), which both implementations share within
    # the round; premul is 20% slower than native on the new side and as fast on the base side
    rng = np.random.default_rng(11)

    def side(run_id: str, premul_factor: float) -> list[dict]:
        speed = rng.lognormal(0.0, 0.3, 8)
        native = [1e-3 * s * rng.lognormal(0, 0.01, 20) for s in speed]
        premul = [1e-3 * premul_factor * s * rng.lognormal(0, 0.01, 20) for s in speed]
        return [row(case("lstm", "native"), run_id, None, rounds=native),
                row(case("lstm", "premul"), run_id, None, rounds=premul)]  # fmt: skip

    base, new = frame(side("a", 1.0)), frame(side("b", 1.2))
    raw = compare_runs(base, new).changes.set_index("key").loc["lstm.premul"]
    assert raw["verdict"] == "unchanged" and raw["unit"] == "rounds"  # the machine's swings drown the change
    relative = compare_runs(base, new, relative_to="native").changes.set_index("key").loc["lstm.premul"]
    assert (relative["verdict"], relative["unit"], relative["n_base"]) == ("regression", "rounds", 8)
    assert relative["ratio"] == pytest.approx(1.2, rel=0.02)
    assert relative["ratio_high"] / relative["ratio_low"] < 1.05  # round by round, the swings cancel
    assert relative["base_median_s"] == pytest.approx(np.median(base.iloc[1]["round_medians_s"]))  # seconds

    # rounds that do not pair with the reference's (a round missing on one side) fall back to samples
    new.at[0, "round_medians_s"] = new.at[0, "round_medians_s"][:7]
    unpaired = compare_runs(base, new, relative_to="native").changes.set_index("key").loc["lstm.premul"]
    assert unpaired["unit"] == "samples" and unpaired["n_new"] == 160


def _pairing(run_id: str, side: str) -> dict:
    return run_json(run_id) | {"pairing": {"id": "a+b", "side": side, "paired_with": "b" if side == "base" else "a"}}


def test_runs_measured_side_by_side_are_decided_on_the_ratio_of_each_pair():
    """16 processes whose speeds spread by 15%, each timing both sides: a 10% slowdown the rounds hide
    (U test over two sets of widely spread medians) and the pairs show (each process's own ratio)."""
    rng = np.random.default_rng(11)
    offsets = rng.lognormal(0.0, 0.15, 16)
    c = case("gru")
    base_rounds = [1e-3 * o * rng.lognormal(0, 0.02, 20) for o in offsets]
    new_rounds = [1.1e-3 * o * rng.lognormal(0, 0.02, 20) for o in offsets]
    base, new = frame([row(c, "a", None, rounds=base_rounds)]), frame([row(c, "b", None, rounds=new_rounds)])

    unpaired = compare_runs(base, new, run_json("a"), run_json("b")).changes.iloc[0]
    assert (unpaired["unit"], unpaired["verdict"]) == ("rounds", "unchanged")
    paired = compare_runs(base, new, _pairing("a", "base"), _pairing("b", "new"))
    got = paired.changes.iloc[0]
    assert (got["unit"], got["n_base"], got["n_new"], got["verdict"]) == ("pairs", 16, 16, "regression")
    assert got["ratio_low"] < 1.1 < got["ratio_high"] and got["p_value"] < 0.001
    assert paired.warnings == ()
    # the pairing must be mutual: a base run compared with some other new run is not paired with it
    other = compare_runs(base, new, _pairing("a", "base"), run_json("c")).changes.iloc[0]
    assert other["unit"] == "rounds"
    # a case whose sides lost a round apart does not pair; too few pairs fall back to the rounds rule
    shorter = frame([row(c, "b", None, rounds=new_rounds[:15])])
    assert compare_runs(base, shorter, _pairing("a", "base"), _pairing("b", "new")).changes.iloc[0]["unit"] == "rounds"
    few = compare_runs(
        frame([row(c, "a", None, rounds=base_rounds[:6])]),
        frame([row(c, "b", None, rounds=new_rounds[:6])]),
        _pairing("a", "base"),
        _pairing("b", "new"),
    ).changes.iloc[0]
    assert few["unit"] == "rounds"  # 6 pairs cannot reach p < 0.01; 6 vs 6 rounds can
