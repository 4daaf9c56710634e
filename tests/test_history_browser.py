"""The history page as a person sees it: loaded in headless Chromium, read, photographed.

RNNBENCH_SCREENSHOT_DIR=docs keeps the screenshot (docs/history.png is made this way)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from _chromium import Chromium, find_browser
from _history_root import CASES, case_id, commit, write_root

from bench.cli import main

BROWSER = find_browser()
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium or Chrome binary on this machine (.ci/run installs Debian's chromium)"
)


def test_history_page_shows_the_change_first_and_every_figure(tmp_path, capsys):
    root = tmp_path / "results"
    write_root(root, noisy=((2, 10),))
    assert main(["history", str(root), "--out", str(tmp_path / "page"), "--permutations", "199"]) == 0
    capsys.readouterr()
    with Chromium(BROWSER) as browser:
        log = browser.open(tmp_path / "page" / "index.html")
        assert log.console_errors == [] and log.dialogs == []
        widths = browser.evaluate("Array.from(document.images).map(img => img.complete ? img.naturalWidth : 0)")
        assert len(widths) == 5 and all(width > 300 for width in widths)
        rows = browser.evaluate(
            "Array.from(document.querySelectorAll('#changes tbody tr')).map(r => r.innerText.split('\\t'))"
        )
        assert len(rows) == 1 and rows[0][0] == case_id(*CASES[0][:3])
        assert rows[0][2:4] == [commit(24)[:12], commit(25)[:12]] and rows[0][5].startswith("+")
        assert browser.evaluate("document.querySelectorAll('#noisy tbody tr').length") == 1
        first_figure = browser.evaluate("document.querySelector('#plots figcaption').innerText")
        assert first_figure.startswith("lstm · inference")  # the family and mode with the change comes first
        shot = browser.screenshot(tmp_path / "history.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("RNNBENCH_SCREENSHOT_DIR"):
        target = Path(os.environ["RNNBENCH_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target / shot.name)
