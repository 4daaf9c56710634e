from pathlib import Path

import pytest

from bench.errors import UsageError
from bench.plan.cases import Case, expand
from bench.plan.spec import Grid, SweepSpec, isolation_for, load_spec, spec_from_dict, with_overrides
from implementations import registry


def test_grids_union_and_defaults_inherited():
    spec = spec_from_dict({"impls": ["lstm.native"], "batch": [2], "grid": [{"seq_len": [4, 8]}, {"batch": [3]}]})
    assert [g.seq_len for g in spec.grids] == [(4, 8), (32,)]
    assert [g.batch for g in spec.grids] == [(2,), (3,)]
    assert all(g.impls == ("lstm.native",) for g in spec.grids)


def test_overrides_replace_axis_in_every_grid():
    spec = spec_from_dict({"grid": [{"batch": [1]}, {"batch": [2]}]})
    new = with_overrides(spec, batch=[7, 8], seq_len=None)
    assert [g.batch for g in new.grids] == [(7, 8), (7, 8)]
    assert new.grids[0].seq_len == spec.grids[0].seq_len


@pytest.mark.parametrize(
    "data, message",
    [
        ({"batch": [0]}, "batch must be positive"),
        ({"hidden_size": [-4]}, "hidden_size must be positive"),
        ({"seq_len": [1.5]}, "seq_len must be positive"),
        ({"dtypes": ["float8"]}, "unknown dtype 'float8'"),
        ({"modes": ["train"]}, "unknown mode 'train'"),
        ({"devices": ["tpu"]}, "unknown device 'tpu'"),
        ({"bogus": 1}, "unknown key(s) bogus"),
        ({"timing": {"budget_s": -1}}, "timing.budget_s must be a positive number"),
        ({"timing": {"nope": 1}}, "unknown [timing] key(s) nope"),
        ({"bidirectional": ["yes"]}, "bidirectional must be true/false"),
        ({"timing": {"clock": "sundial"}}, "timing.clock must be one of wall, cpu"),
        ({"devices": ["cuda"], "timing": {"clock": "cpu", "threads": 1}}, "cannot time CUDA work"),
        ({"timing": {"clock": "cpu", "threads": 2}}, "timing.clock = 'cpu' needs timing.threads = 1, got 2"),
        ({"timing": {"clock": "cpu"}}, "needs timing.threads = 1, got 0 (one per core)"),
        ({"timing": {"min_samples": 0}}, "timing.min_samples must be a positive integer, got 0"),
        ({"timing": {"min_samples": 2.5}}, "timing.min_samples must be a positive integer"),
        ({"timing": {"warmup_calls": -1}}, "timing.warmup_calls must be a non-negative integer"),
        ({"timing": {"threads": -2}}, "timing.threads must be a non-negative integer"),
        ({"timing": {"target_rel_iqr": 0}}, "timing.target_rel_iqr must be a positive number"),
        ({"timing": {"timeout_s": "10"}}, "timing.timeout_s must be a positive number"),
        ({"timing": {"min_time_s": float("inf"), "budget_s": float("inf")}}, "timing.min_time_s must be a positive"),
        ({"timing": {"isolation": "thread"}}, "timing.isolation must be one of auto, process, shared, got 'thread'"),
        ({"timing": {"cache": "lukewarm"}}, "timing.cache must be one of warm, cold, got 'lukewarm'"),
    ],
)
def test_bad_specs_are_usage_errors(data, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        spec_from_dict(data)


def test_cpu_clock_with_one_thread_and_the_settings_in_range_are_accepted():
    spec = spec_from_dict({"timing": {"clock": "cpu", "threads": 1, "isolation": "process", "cache": "cold"}})
    assert (spec.timing.clock, spec.timing.isolation, spec.timing.cache) == ("cpu", "process", "cold")
    assert load_spec(Path(__file__).parents[1] / "bench" / "configs" / "quick.toml").timing.threads == 1


def test_auto_isolation_gives_compiled_variants_a_process_of_their_own():
    assert [isolation_for(impl, "auto") for impl in ("compile_step", "script_premul", "native", "premul_loop")] == [
        "process", "process", "shared", "shared"
    ]  # fmt: skip
    assert isolation_for("compile", "shared") == "shared" and isolation_for("native", "process") == "process"


def test_malformed_toml_is_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("batch = [1,\n")
    with pytest.raises(UsageError, match="malformed TOML") as info:
        load_spec(path)
    assert "\n" not in str(info.value).strip() or str(info.value).count("\n") <= 1
    with pytest.raises(UsageError, match="not found"):
        load_spec(tmp_path / "missing.toml")


@pytest.mark.parametrize("name", ["default", "quick", "gpu"])
def test_shipped_configs_parse_and_expand(name):
    from bench.commands.sweep import DEFAULT_CONFIG

    spec = load_spec(DEFAULT_CONFIG.parent / f"{name}.toml")
    cases = expand(spec, registry.all())
    assert cases
    for grid in spec.grids:
        registry.match(grid.impls)


def test_expand_keeps_unsupported_cases_with_reason():
    spec = SweepSpec(grids=(Grid(impls=("lstm.native*",), modes=("inference",), dtypes=("float32", "tf32")),))
    cases = dict((c.case_id, reason) for c, reason in expand(spec, registry.all()))
    nocudnn = [reason for cid, reason in cases.items() if cid.startswith("lstm.native_nocudnn|")]
    assert nocudnn and all("runs on cuda" in r for r in nocudnn)
    tf32 = [reason for cid, reason in cases.items() if cid.startswith("lstm.native|cpu|tf32")]
    assert tf32 == ["tf32 is a CUDA matmul mode"]
    assert cases["lstm.native|cpu|float32|inference|b16|t32|i128|h128|l1|uni"] is None


def test_expand_deduplicates_overlapping_grids():
    spec = spec_from_dict(
        {"impls": ["gru.native"], "modes": ["inference"], "grid": [{"batch": [1, 2]}, {"batch": [2, 3]}]}
    )
    ids = [c.case_id for c, _ in expand(spec, registry.all())]
    assert len(ids) == len(set(ids)) == 3


def test_case_id_is_stable_and_complete():
    case = Case("lstm.native", "lstm", "native", "cpu", "float32", "training", 2, 3, 4, 5, 2, True)
    assert case.case_id == "lstm.native|cpu|float32|training|b2|t3|i4|h5|l2|bi"
    assert "|" not in case.slug


def test_spec_round_trips_through_its_dict_form():
    spec = spec_from_dict({"impls": ["gru.*"], "grid": [{"batch": [1]}, {"seq_len": [3]}], "timing": {"budget_s": 3}})
    assert spec_from_dict(spec.as_dict()) == spec
