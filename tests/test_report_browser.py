"""The report as a person sees it: loaded in headless Chromium, looked at, clicked, photographed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from _chromium import Chromium, find_browser
from _synthetic_run import HOSTILE_KEY, hostile_report, scan_report, synthetic_report

ROOT = Path(__file__).resolve().parent.parent
BROWSER = find_browser()
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium or Chrome binary on this machine (.ci/run installs Debian's chromium)"
)


@pytest.fixture(scope="module")
def browser():
    with Chromium(BROWSER) as chromium:
        yield chromium


def _screenshot(browser: Chromium, tmp_path: Path, name: str) -> Path:
    """Full-page PNG under the test's folder, and in RNNBENCH_SCREENSHOT_DIR when a person asks for it."""
    shot = browser.screenshot(tmp_path / f"{name}.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("RNNBENCH_SCREENSHOT_DIR"):
        target = Path(os.environ["RNNBENCH_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target / shot.name)
    return shot


def _load(browser: Chromium, path: Path) -> list[int]:
    """Open the page; fail on any console error or dialog; return each image's decoded width."""
    log = browser.open(path)
    assert log.console_errors == []
    assert log.dialogs == []
    assert browser.evaluate("!!document.querySelector('#verdict h2') && !!document.querySelector('#correctness h2')")
    return browser.evaluate("Array.from(document.images).map(img => img.complete ? img.naturalWidth : 0)")


def _top(browser: Chromium, selector: str) -> float:
    return browser.evaluate(f"document.querySelector('{selector}').getBoundingClientRect().top + window.scrollY")


def test_synthetic_report_loads_clean_with_failures_on_top(browser, tmp_path_factory, tmp_path):
    path = synthetic_report(tmp_path_factory)
    widths = _load(browser, path)
    assert len(widths) == 8 and all(width > 300 for width in widths)  # the 8th: numeric drift over seq_len
    assert browser.evaluate("document.querySelectorAll('#verdict-table tbody tr').length") == 48
    # the failed case is above the verdict, the verdict above the plots, all within the first screens
    assert _top(browser, "#attention") < _top(browser, "#verdict") < _top(browser, "#plots")
    assert _top(browser, "#attention") < 900
    # clicking a header sorts its table by the raw value, not the formatted text ("2 ms" < "900 µs")
    median = browser.evaluate(
        "(() => { const t = document.querySelector('#measurements-table');"
        " const i = Array.from(t.tHead.rows[0].cells).findIndex(c => c.textContent === 'median');"
        " t.tHead.rows[0].cells[i].click();"
        " return Array.from(t.tBodies[0].rows).map(r => r.cells[i].dataset.v).filter(v => v !== '').map(Number); })()"
    )
    assert len(median) > 100 and median == sorted(median)
    _screenshot(browser, tmp_path, "report-synthetic")


def test_scan_report_shows_where_the_scan_starts_to_win_and_its_drift(browser, tmp_path_factory, tmp_path):
    path = scan_report(tmp_path_factory)
    widths = _load(browser, path)
    assert all(width > 300 for width in widths)
    rows = browser.evaluate(
        "Array.from(document.querySelectorAll('#crossover-table tbody tr')).map(r => r.innerText.split('\\t'))"
    )
    # synthetic: the loop costs 10 µs per step + its matmuls, the scan 1 ms + 0.2 µs per step and sequence, so
    # at b1 h64 the loop's 2.95 ms first exceed the scan's 1.05 ms at T=256; at b16 h256 the scan wins from T=16
    assert {(r[2], r[3], r[4], r[5]) for r in rows} == {
        ("b1 i64 h64", "scan", "loop", "256"), ("b1 i64 h256", "scan", "loop", "64"),
        ("b16 i64 h64", "scan", "loop", "64"), ("b16 i64 h256", "scan", "loop", "≤ 16 (every seq_len)"),
    }  # fmt: skip
    assert all(r[6].startswith("×") and r[7].startswith("×") and r[8] == "16, 64, 256, 1024" for r in rows)
    assert browser.evaluate("!!document.querySelector('#drift img')")
    assert "speedup vs baseline" in browser.evaluate("document.querySelector('#verdict-table thead').innerText")
    _screenshot(browser, tmp_path, "report-scan")


def test_hostile_names_are_shown_as_text_and_run_nothing(browser, tmp_path_factory, tmp_path, cli):
    path, result = hostile_report(tmp_path_factory, cli)
    assert result.returncode == 0, result.stderr
    _load(browser, path)  # no dialog opened, no console error (a blocked injected script would log one)
    assert browser.evaluate("document.scripts.length") == 1
    text = browser.evaluate("document.body.innerText")
    assert HOSTILE_KEY in text and "<img src=x onerror=alert(2)>" in text
    assert "RuntimeError: <script>alert(3)</script> & <b>bold</b>" in text


@pytest.mark.slow
def test_report_of_a_real_quick_sweep(browser, tmp_path, cli):
    config = ROOT / "bench" / "configs" / "quick.toml"
    result = cli(
        "sweep", "--config", str(config), "--impl", "lstm.native,lstm.premul_loop", "--rounds", "1",
        "--budget-s", "0.1", "--out", "results", "--run-id", "quick", "--progress", "plain", cwd=tmp_path, timeout=400,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "results" / "quick"
    assert (tmp_path / result.stdout.strip().splitlines()[-1]).resolve() == run_dir.resolve()
    page = tmp_path / "reports" / "quick" / "index.html"
    assert page.is_file()
    widths = _load(browser, page)
    assert len(widths) >= 5 and all(width > 0 for width in widths)  # two implementations: plots to compare
    meta = json.loads((run_dir / "run.json").read_text())
    text = browser.evaluate("document.body.innerText")
    assert meta["environment"]["torch"] in text and "lstm.native" in text
    rows = browser.evaluate("document.querySelectorAll('#measurements-table tbody tr').length")
    assert rows == len(pd.read_parquet(run_dir / "measurements.parquet")) == 4  # 2 implementations x 2 modes
    _screenshot(browser, tmp_path, "report-quick-sweep")


@pytest.mark.slow
def test_report_of_a_training_run(browser, tmp_path, cli):
    result = cli(
        "train", "--impl", "gru.premul_loop,rnn_tanh.grad_direction_1e-6", "--plugin",
        str(ROOT / "tests" / "plugins" / "perturbed_grad.py"), "--dtype", "float64", "--steps", "12", "--threads", "1",
        "--out", "results", "--run-id", "trained", cwd=tmp_path, timeout=400,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # the perturbed gradient's curve leaves rnn_tanh.native's
    page = tmp_path / "reports" / "trained" / "index.html"
    _load(browser, page)
    assert browser.evaluate("!!document.querySelector('nav a[href=\"#training\"]')")
    rows = browser.evaluate(
        "Array.from(document.querySelectorAll('#training tbody tr')).map(r => [r.cells[0].textContent,"
        " r.cells[7].textContent, r.className])"
    )
    assert sorted(rows) == [
        ["gru.native", "baseline", ""],
        ["gru.premul_loop", "ok", ""],
        ["rnn_tanh.grad_direction_1e-6", "incorrect", "bad-row"],
        ["rnn_tanh.native", "baseline", ""],
    ]
    widths = browser.evaluate("Array.from(document.querySelectorAll('#training img')).map(img => img.naturalWidth)")
    assert len(widths) == 2 and all(width > 600 for width in widths)  # loss per step and over wall time
    _screenshot(browser, tmp_path, "report-training")


def test_deployment_table_answers_which_engine_and_when_it_pays(browser, tmp_path):
    """Engines beside native: the page names the fastest engine, its ratio and its break-even calls."""
    from synthetic_runs import case, lognormal, row, write_run

    from bench.render.report import build_report

    rows = []
    for impl, median_s, first_s in (("native", 2e-3, 0.01), ("onnxruntime", 1e-3, 4.01), ("openvino", 1.5e-3, 3.0)):
        r = row(case("lstm", impl), "deploy", lognormal(median_s, 20, seed=len(rows)))
        rows.append(r | {"first_call_s": first_s})
    run_dir = write_run(tmp_path / "results", "deploy", rows)
    _load(browser, build_report(run_dir, tmp_path / "report"))
    cells = browser.evaluate(
        "Array.from(document.querySelectorAll('#deployment-table tbody tr td')).map(td => td.innerText.trim())"
    )
    assert cells[2] == "onnxruntime"
    assert cells[4].startswith("0.5")  # ~half native's median
    # (4.01 - 0.01) s / (2 ms - 1 ms) per call, within the samples' noise
    assert 3_000 < int(cells[7].replace(",", "")) < 5_500
    assert browser.evaluate("document.querySelector('nav a[href=\"#deployment\"]') !== null")
