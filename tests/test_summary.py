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


def test_fastest_per_shape_measures_each_family_against_its_own_baseline():
    rows = [("mingru", "loop", 4.0), ("mingru", "scan", 1.0), ("lstm", "native", 2.0), ("lstm", "fused_loop", 1.0)]
    frame = pd.DataFrame(
        [{**SHAPE, "family": f, "key": f"{f}.{i}", "case_id": f"{f}.{i}", "impl": i, "status": "ok",
          "median_s": m, "correct": True} for f, i, m in rows]
    )  # fmt: skip
    best = fastest_per_shape(frame, {"mingru": "loop"}).set_index("family")
    assert best.loc["mingru", "speedup"] == 4.0 and best.loc["lstm", "speedup"] == 2.0  # lstm: "native"
