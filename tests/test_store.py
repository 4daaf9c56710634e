import json

import pandas as pd
import pytest

from bench.errors import UsageError
from bench.results import store


def _row(case_id: str, median: float) -> dict:
    return {
        "run_id": "r",
        "case_id": case_id,
        "key": "lstm.native",
        "status": "ok",
        "median_s": median,
        "samples_s": [median, median * 1.1],
    }


def test_append_replaces_by_case_id_and_keeps_order(tmp_path):
    run = store.create_run(tmp_path, "r", {"status": "running"})
    store.append_rows(run, [_row("a", 1.0)])
    store.append_rows(run, [_row("b", 2.0)])
    store.append_rows(run, [_row("a", 3.0)])
    back = store.read_measurements(run)
    assert list(back["case_id"]) == ["b", "a"]
    assert back.set_index("case_id").loc["a", "median_s"] == 3.0
    assert back.set_index("case_id").loc["b", "samples_s"] == pytest.approx([2.0, 2.2])
    csv = pd.read_csv(run / "measurements.csv")
    assert json.loads(csv.set_index("case_id").loc["b", "samples_s"]) == pytest.approx([2.0, 2.2])
    assert store.finished_case_ids(run) == {"a", "b"}
    assert not list(run.glob(".*tmp"))  # no temporary file left behind


def test_existing_run_directory_is_not_overwritten(tmp_path):
    store.create_run(tmp_path, "r", {})
    with pytest.raises(UsageError, match="already exists"):
        store.create_run(tmp_path, "r", {})


def test_unwritable_parent_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UsageError, match="cannot write results"):
        store.create_run(blocker, "r", {})


def test_corrupt_files_are_usage_errors(tmp_path):
    run = store.create_run(tmp_path, "r", {})
    (run / store.MEASUREMENTS).write_bytes(b"not parquet")
    with pytest.raises(UsageError, match="corrupt"):
        store.read_measurements(run)
    (run / store.RUN_JSON).write_text("{")
    with pytest.raises(UsageError, match="corrupt"):
        store.read_meta(run)
    with pytest.raises(UsageError, match="not a run directory"):
        store.read_meta(tmp_path / "nothing")


def test_update_meta_keeps_other_fields(tmp_path):
    run = store.create_run(tmp_path, "r", {"a": 1})
    store.update_meta(run, b=2)
    assert store.read_meta(run) == {"run_id": "r", "a": 1, "b": 2}
