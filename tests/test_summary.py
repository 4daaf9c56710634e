import math

import pandas as pd

from bench.analysis.summary import fastest_per_shape, problems, status_counts

SHAPE = dict(
    family="lstm",
    device="cpu",
    dtype="float32",
    mode="inference",
    batch=1,
    seq_len=8,
    input_size=4,
    hidden_size=4,
    num_layers=1,
    bidirectional=False,
)


def _frame(rows):
    return pd.DataFrame([{**SHAPE, "case_id": r[0], "impl": r[0], **r[1]} for r in rows])


def test_fastest_correct_wins_and_speedup_is_over_native():
    frame = _frame(
        [
            ("native", {"status": "ok", "median_s": 2.0, "correct": True}),
            ("premul_loop", {"status": "ok", "median_s": 1.0, "correct": True}),
            ("broken", {"status": "ok", "median_s": 0.1, "correct": False}),
            ("crashy", {"status": "crashed", "median_s": None, "correct": None, "error": "worker killed by SIGABRT"}),
        ]
    )
    best = fastest_per_shape(frame)
    assert best["fastest"].tolist() == ["premul_loop"]
    assert best["speedup"].tolist() == [2.0]
    assert set(problems(frame)["problem"]) == {"incorrect", "crashed"}
    assert status_counts(frame) == {"ok": 3, "crashed": 1}


def test_no_baseline_gives_nan_speedup_and_empty_runs_are_fine():
    best = fastest_per_shape(_frame([("premul_loop", {"status": "ok", "median_s": 1.0, "correct": True})]))
    assert math.isnan(best["speedup"].iloc[0])
    assert fastest_per_shape(_frame([("x", {"status": "error", "median_s": None, "correct": None})])).empty
