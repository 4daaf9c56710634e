from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY_SHAPE
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.errors import UsageError
from bench.plan.cases import expand
from bench.plan.shard import assign_shards, estimated_cost, parse_shard, select_shard
from bench.plan.spec import spec_from_dict
from bench.results import store
from bench.results.merge import merge_runs
from implementations import registry

grids = st.fixed_dictionaries(
    {
        "impls": st.sampled_from([["lstm.*"], ["gru.native", "rnn_tanh.*"], ["*"]]),
        "modes": st.sampled_from([["inference"], ["inference", "training"]]),
        "batch": st.lists(st.integers(1, 64), min_size=1, max_size=3, unique=True),
        "seq_len": st.lists(st.integers(1, 256), min_size=1, max_size=3, unique=True),
        "hidden_size": st.lists(st.integers(1, 1024), min_size=1, max_size=2, unique=True),
    }
)


@settings(max_examples=40, deadline=None)
@given(grid=grids, count=st.integers(1, 9))
def test_every_case_in_exactly_one_shard_and_loads_balanced(grid, count):
    cases = expand(spec_from_dict(grid), registry.all())
    shards = [select_shard(cases, k, count) for k in range(1, count + 1)]
    ids = [c.case_id for shard in shards for c, _ in shard]
    assert sorted(ids) == sorted(c.case_id for c, _ in cases)  # coverage, no duplicates
    loads = [sum(estimated_cost(c, r is not None) for c, r in shard) for shard in shards]
    biggest = max(estimated_cost(c, r is not None) for c, r in cases)
    # longest-processing-time-first: no shard exceeds the mean load by more than the largest single case
    assert max(loads) <= sum(loads) / count + biggest + 1e-6
    assert assign_shards(cases, count) == assign_shards(list(cases), count)  # deterministic


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0", ""])
def test_bad_shard_specs(text):
    with pytest.raises(UsageError):
        parse_shard(text)
    assert parse_shard(" 2 / 5 ") == (2, 5)


def _part(run_id, case_ids, spec=None, shard=(1, 2)):
    meta = {
        "run_id": run_id,
        "spec": spec or {"name": "s"},
        "status": "complete",
        "shard": {"index": shard[0], "count": shard[1]},
        "environment": {"host": run_id},
    }
    return meta, pd.DataFrame({"case_id": case_ids, "run_id": run_id, "status": "ok"})


def test_merge_refuses_overlap_and_different_specs():
    with pytest.raises(UsageError, match="shards overlap"):
        merge_runs([_part("a", ["x", "y"]), _part("b", ["y"], shard=(2, 2))], "m")
    with pytest.raises(UsageError, match="different sweep specs"):
        merge_runs([_part("a", ["x"]), _part("b", ["y"], spec={"name": "other"}, shard=(2, 2))], "m")
    meta, frame = merge_runs([_part("a", ["x"]), _part("b", ["y"], shard=(2, 2))], "m")
    assert sorted(frame["case_id"]) == ["x", "y"] and set(frame["run_id"]) == {"m"}
    assert meta["status"] == "complete" and meta["hosts"] == ["a", "b"]
    meta, _ = merge_runs([_part("a", ["x"], shard=(1, 3))], "m")
    assert meta["status"] == "incomplete" and meta["missing_shards"] == [2, 3]


@pytest.mark.slow
def test_sharded_sweep_merges_into_the_unsharded_case_set(cli, tmp_path):
    common = [
        "--impl",
        "gru.native,rnn_tanh.native,lstm.native",
        "--mode",
        "inference",
        "--batch",
        "1,4",
        *TINY_SHAPE,
        "--budget-s",
        "0.05",
        "--no-check",
        "--no-report",
        "--progress",
        "none",
        "--out",
        str(tmp_path),
        "--run-id",
        "nightly",
    ]
    for k in (1, 2):
        result = cli("sweep", *common, "--shard", f"{k}/2")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1].endswith(f"nightly-shard-{k}-of-2")
    shards = sorted(tmp_path.glob("nightly-shard-*"))
    merged = cli("merge", *map(str, shards), "--out", str(tmp_path / "nightly"))
    assert merged.returncode == 0, merged.stderr
    frame = store.read_measurements(Path(merged.stdout.strip().splitlines()[-1]))
    spec = spec_from_dict(store.read_meta(shards[0])["spec"])
    assert sorted(frame["case_id"]) == sorted(c.case_id for c, _ in expand(spec, registry.all()))
    again = cli("merge", str(shards[0]), str(shards[0]), "--out", str(tmp_path / "twice"))
    assert again.returncode == 2 and "shards overlap" in again.stderr
