"""The docs site as a reader sees it: built with `mkdocs build --strict`, opened in headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _chromium import Chromium, find_browser
from test_docs import nav_pages

ROOT = Path(__file__).resolve().parent.parent
BROWSER = find_browser()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built the way `make docs` builds it, into a folder of the test's own."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", "docs/mkdocs.yml", "-d", str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_strict_build_writes_every_nav_page(site):
    config = yaml.safe_load((ROOT / "docs" / "mkdocs.yml").read_text())
    for page in nav_pages(config["nav"]):
        html = site / ("index.html" if page == "index.md" else page.removesuffix(".md") + "/index.html")
        assert html.is_file(), f"{page} was not built"
    assert not (site / "mkdocs.yml").exists() and not list(site.glob("*.py")), "build inputs copied into the site"


@pytest.mark.skipif(BROWSER is None, reason="no Chromium or Chrome binary on this machine (.ci/run installs it)")
def test_pages_open_clean_with_navigation_and_images(site):
    with Chromium(BROWSER) as browser:
        log = browser.open(site / "index.html")
        assert log.console_errors == [] and log.dialogs == []
        titles = browser.evaluate(
            "Array.from(document.querySelectorAll('nav.md-nav--primary a')).map(a => a.textContent.trim())"
        )
        for title in ("Sweeps and specs", "The CI gate", "Gate validation", "Plugins and families", "GPUs"):
            assert title in titles
        log = browser.open(site / "reports" / "index.html")
        assert log.console_errors == []
        widths = browser.evaluate("Array.from(document.images).map(img => img.complete ? img.naturalWidth : 0)")
        assert widths and all(width > 300 for width in widths), widths
        assert browser.evaluate("document.title") == "Reports - rnnbench"
