"""The report's streaming and variable-length figures: drawn from the rows that support them, seen in Chromium."""

from __future__ import annotations

import numpy as np
import pytest
from _chromium import Chromium, find_browser
from _synthetic_run import write_synthetic_run

from bench.render.report import build_report, data, input_plots
from bench.render.report.figure import palette

INPUT_FIGURES = {"streaming-cdf", "streaming-tail", "lengths"}


def _row(run_id: str, impl: str, mode: str, batch: int, dist: str, samples: np.ndarray, **extra) -> dict:
    case = f"lstm.{impl}|cpu|float32|{mode}|b{batch}|t32|i64|h64|l1|uni" + ("" if dist == "fixed" else f"|len={dist}")
    return {
        "run_id": run_id, "case_id": case, "key": f"lstm.{impl}", "family": "lstm", "impl": impl, "device": "cpu",
        "dtype": "float32", "mode": mode, "batch": batch, "seq_len": 32, "input_size": 64, "hidden_size": 64,
        "num_layers": 1, "bidirectional": False, "length_dist": dist, "status": "ok", "correct": True,
        "samples_s": [float(s) for s in samples], "median_s": float(np.median(samples)), "n_samples": len(samples),
        **extra,
    }  # fmt: skip


def input_rows(run_id: str) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for slowdown, impl in enumerate(("native", "premul_loop"), start=1):
        for batch in (1, 16):
            steps = rng.lognormal(np.log(slowdown * 1e-4), 0.4, 2000)
            tail = {f"step_p{n}_s": float(np.percentile(steps, q)) for n, q in (("50", 50), ("99", 99))}
            rows.append(_row(run_id, impl, "streaming", batch, "fixed", steps, tokens=batch, **tail))
        for dist, mean in (("fixed", 32.0), ("uniform:0.5", 24.5), ("uniform:0.1", 17.0)):
            blocks = rng.lognormal(np.log(slowdown * mean * 1e-4), 0.05, 12)
            rows.append(_row(run_id, impl, "inference", 16, dist, blocks, mean_length=mean, tokens=16 * mean))
    return rows


def _measured(rows) -> tuple:
    import pandas as pd

    df = data.prepare(pd.DataFrame(rows))
    measured = df[data.usable(df)].copy()
    measured["label"] = measured["impl"]
    return measured, palette(list(measured["impl"]))


def test_streaming_and_variable_length_rows_get_their_figures():
    measured, hue = _measured(input_rows("r"))
    found = {f.anchor: f for f in input_plots.figures(measured, hue)}
    assert set(found) == INPUT_FIGURES
    assert "2,000 steps" in found["streaming-cdf"].caption
    assert all(len(f.png_base64) > 5000 for f in found.values())


def test_a_run_without_them_gets_none():
    rows = [r for r in input_rows("r") if r["mode"] == "inference" and r["length_dist"] == "fixed"]
    assert input_plots.figures(*_measured(rows)) == []


def test_padding_share_is_one_minus_the_mean_length_over_seq_len():
    measured, _ = _measured(input_rows("r"))
    share = input_plots.padding_share(measured).round(4)
    assert set(share[measured["length_dist"].eq("uniform:0.1")]) == {round(1 - 17 / 32, 4)}
    assert set(share[measured["length_dist"].eq("fixed")]) == {0.0}


BROWSER = find_browser()


@pytest.mark.skipif(BROWSER is None, reason="no Chromium or Chrome binary on this machine")
def test_the_figures_show_in_the_page(tmp_path):
    run_dir = tmp_path / "results" / "inputs"
    write_synthetic_run(
        run_dir, families=("lstm",), impls=("native", "premul_loop"), modes=("inference",), batches=(16,),
        seq_lens=(32,), hidden_sizes=(64,), failures=False, extra_rows=input_rows("inputs"),
    )  # fmt: skip
    page = build_report(run_dir, tmp_path / "report")
    with Chromium(BROWSER) as browser:
        log = browser.open(page)
        assert log.console_errors == [] and log.dialogs == []
        widths = browser.evaluate(
            "Object.fromEntries(['streaming-cdf', 'streaming-tail', 'lengths'].map(id => {"
            " const img = document.getElementById(id)?.querySelector('img');"
            " return [id, img && img.complete ? img.naturalWidth : 0]; }))"
        )
    assert all(width > 300 for width in widths.values()), widths
