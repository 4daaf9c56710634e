"""The shared vocabulary: one shape label, one way to write seconds and bytes, one failed set."""

from dataclasses import dataclass

import pandas as pd

from bench.results.vocabulary import (
    FAILED_STATUSES,
    STATUSES,
    baseline_key,
    format_bytes,
    format_seconds,
    is_failed,
    shape_label,
)


def test_format_seconds_picks_a_readable_unit():
    assert format_seconds(0.00123) == "1.23 ms"
    assert format_seconds(2.5) == "2.5 s"
    assert format_seconds(4.2e-6) == "4.2 µs"
    assert format_seconds(3e-9) == "3 ns"
    assert format_seconds(1234.0) == "1,234 s"
    assert format_seconds(float("nan")) == "—"
    assert format_seconds(None) == "—"
    assert format_seconds(pd.NA) == "—"


def test_format_bytes_uses_binary_units():
    assert format_bytes(3 * 2**20) == "3 MiB"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(float("nan")) == "—"


@dataclass(frozen=True)
class _Shape:
    batch: int
    seq_len: int
    input_size: int
    hidden_size: int
    num_layers: int
    bidirectional: bool


def test_shape_label_is_the_same_for_a_row_a_mapping_and_a_dataclass():
    fields = dict(batch=4, seq_len=1, input_size=6, hidden_size=10, num_layers=1, bidirectional=True)
    row = pd.DataFrame([fields]).iloc[0]
    labels = {shape_label(fields), shape_label(row), shape_label(_Shape(**fields))}
    assert labels == {"b4 t1 i6 h10 l1 bi"}
    assert shape_label({**fields, "num_layers": 2, "bidirectional": False}) == "b4 t1 i6 h10 l2 uni"


def test_statuses_and_baseline():
    assert set(FAILED_STATUSES) == set(STATUSES) - {"ok", "skipped"}
    assert is_failed("crashed") and not is_failed("skipped") and not is_failed("ok")
    assert baseline_key("lstm") == "lstm.native"
