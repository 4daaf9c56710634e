import math

import pandas as pd
import pytest

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


def test_break_even_calls():
    from bench.analysis.summary import break_even_calls, format_calls

    assert break_even_calls(first_s=4.01, median_s=1e-3, base_first_s=0.01, base_median_s=2e-3) == pytest.approx(4000)
    assert break_even_calls(0.001, 1e-3, 0.01, 2e-3) == 0  # no dearer first call and faster: pays at once
    assert break_even_calls(4.0, 3e-3, 0.01, 2e-3) == float("inf")  # slower per call: never
    assert [format_calls(c) for c in (4000.4, float("inf"), 0.0)] == ["4,000", "never", "0"]


def test_deployment_picks_the_fastest_correct_engine_and_shows_it_in_the_terminal(tmp_path):
    from synthetic_runs import case, row, write_run

    from bench.analysis.summary import deployment
    from bench.render.summary_text import render_summary as render

    rows = [
        row(case("gru", "native"), "d", [2e-3] * 5) | {"first_call_s": 0.01},
        row(case("gru", "onnxruntime"), "d", [1e-3] * 5) | {"first_call_s": 2.01},
        row(case("gru", "quantized_dynamic"), "d", [0.5e-3] * 5, correct=False) | {"first_call_s": 0.1},
        row(case("gru", "fused_loop"), "d", [0.1e-3] * 5) | {"first_call_s": 0.01},  # not an engine
    ]
    table = deployment(pd.DataFrame(rows))
    assert list(table["engine"]) == ["onnxruntime"]  # the incorrect int8 one never wins
    assert table["ratio"].iloc[0] == pytest.approx(0.5)
    text = render(write_run(tmp_path, "d", rows))
    line = next(x for x in text.splitlines() if "onnxruntime" in x)
    assert "0.50x" in line and "2.01 s" in line and line.rstrip().endswith("2,000")
