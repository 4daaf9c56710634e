"""Crossover along seq_len and numeric drift: pure functions on small frames, then as the report shows them."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bench.analysis.crossover import crossover, crossover_seq_len, drift


def _frame(latencies: dict[str, list[float]], seq_lens=(16, 64, 256), memory=None, errors=None) -> pd.DataFrame:
    rows = []
    for impl, values in latencies.items():
        for i, (seq_len, median) in enumerate(zip(seq_lens, values)):
            rows.append({
                "family": "mingru", "device": "cpu", "dtype": "float32", "mode": "inference", "batch": 4,
                "input_size": 8, "hidden_size": 16, "num_layers": 1, "bidirectional": False, "seq_len": seq_len,
                "impl": impl, "baseline": "loop", "status": "ok", "median_s": median, "correct": True,
                "peak_mem_bytes": (memory or {}).get(impl, [1000] * 3)[i],
                "rel_err": (errors or {}).get(impl, [1e-7] * 3)[i],
            })  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "faster, expected, verdict",
    [
        ([False, True, True], 64.0, "wins from T=64"),
        ([True, False, True], 256.0, "wins from T=256"),
        ([True, True, True], 16.0, "wins at every seq_len (from T=16)"),
        ([True, True, False], math.nan, "never wins up to T=256"),
    ],
)
def test_crossover_is_where_it_starts_to_win_for_good(faster, expected, verdict):
    at, text = crossover_seq_len([256, 16, 64], [faster[2], faster[0], faster[1]])  # order does not matter
    assert text == verdict and (at == expected or (math.isnan(at) and math.isnan(expected)))


def test_crossover_table_names_the_seq_len_speedup_and_memory():
    frame = _frame(
        {"loop": [1.0, 4.0, 16.0], "scan": [2.0, 3.0, 4.0], "chunked": [3.0, 5.0, 17.0]},
        memory={"loop": [100, 400, 1600], "scan": [300, 1200, 4800], "chunked": [100, 200, 200]},
    )
    table = crossover(frame).set_index("impl")
    assert list(table.index) == ["chunked", "scan"]  # the baseline is not compared with itself
    assert table.loc["scan", "crossover_seq_len"] == 64 and table.loc["scan", "verdict"] == "wins from T=64"
    assert table.loc["scan", "speedup_at_longest"] == pytest.approx(4.0)
    assert table.loc["scan", "memory_ratio"] == pytest.approx(3.0)  # at the crossover, T=64
    assert math.isnan(table.loc["chunked", "crossover_seq_len"])
    assert table.loc["chunked", "memory_ratio"] == pytest.approx(200 / 1600)  # never wins: at the longest
    assert table.loc["scan", "seq_lens"] == "16, 64, 256"


def test_crossover_leaves_out_wrong_results_and_single_points():
    frame = _frame({"loop": [1.0, 4.0, 16.0], "scan": [2.0, 3.0, 4.0]})
    frame.loc[frame["impl"].eq("scan") & frame["seq_len"].gt(16), "correct"] = False
    assert crossover(frame).empty  # one usable point left: no line, no crossover
    assert crossover(frame.drop(columns="baseline")).empty


def test_drift_keeps_the_worst_error_per_seq_len_and_needs_three_points():
    frame = _frame({"loop": [1.0] * 3, "scan": [1.0] * 3}, errors={"loop": [0.0] * 3, "scan": [1e-7, 1e-6, 1e-5]})
    worse = frame[frame["impl"].eq("scan")].assign(batch=8, rel_err=[2e-7, 5e-7, 3e-5])
    table = drift(pd.concat([frame, worse], ignore_index=True))
    scan = table[table["impl"].eq("scan")].set_index("seq_len")["rel_err"]
    assert scan.to_dict() == {16: 2e-7, 64: 1e-6, 256: 3e-5}
    assert drift(frame[frame["seq_len"].lt(256)]).empty
