"""The README stays a short page and every docs page is reachable; `make docs` (mkdocs --strict) checks the rest."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import yaml

from bench.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
MAX_README_LINES = 260
LINK = re.compile(r"\]\(([^)\s]+)\)")


def nav_pages(nav) -> list[str]:
    """Every page named in an mkdocs nav, however deeply nested."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in nav_pages(value)]
    return []


def github_anchors(markdown: str) -> set[str]:
    """Heading anchors as GitHub makes them: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (match := re.match(r"#{1,6} (.+)", line)):
            text = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def test_readme_stays_short():
    lines = README.read_text().count("\n")
    assert lines < MAX_README_LINES, f"README.md has {lines} lines; reference material belongs in docs/"


def test_every_docs_page_is_in_the_nav_and_every_nav_entry_exists():
    config = yaml.safe_load((DOCS / "mkdocs.yml").read_text())
    listed = nav_pages(config["nav"])
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert sorted(set(pages) - set(listed)) == [], "pages missing from the nav of docs/mkdocs.yml"
    assert sorted(set(listed) - set(pages)) == [], "nav entries without a page"
    assert len(listed) == len(set(listed)), "a page listed twice in the nav"


def test_readme_links_into_docs_resolve_on_github():
    links = [link for link in LINK.findall(README.read_text()) if not re.match(r"[a-z]+:", link)]
    assert any(link.startswith("docs/") for link in links)
    for link in links:
        path, _, anchor = link.partition("#")
        target = ROOT / path
        assert target.exists(), f"README links to {link}, which does not exist"
        if anchor:
            assert anchor in github_anchors(target.read_text()), f"README links to {link}: no such heading"


def test_readme_command_table_lists_every_subcommand_and_flag():
    """One row per `rnnbench` subcommand, naming each of its long flags (--plugin and --help are said once)."""
    rows = {}
    for line in README.read_text().splitlines():
        if match := re.match(r"\| `rnnbench ([a-z-]+)", line):
            rows[match.group(1)] = line
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(rows) == sorted(subparsers.choices), "README's command table vs the subcommands"
    for name, parser in subparsers.choices.items():
        flags = {flag for action in parser._actions for flag in action.option_strings if flag.startswith("--")}
        named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", rows[name]))
        missing = sorted(flags - {"--help", "--plugin"} - named)
        assert missing == [], f"README's row for rnnbench {name} does not mention {missing}"


def test_anchor_helper_matches_github_slugs():
    text = "# Reading `show`\n## Threads: one per core but one\n```\n# not a heading\n```\n"
    assert github_anchors(text) == {"reading-show", "threads-one-per-core-but-one"}


def test_gate_validation_page_quotes_the_committed_summary():
    """The figures on the Gate validation page are the committed validation's own summary, line for line."""
    summary = (ROOT / "results" / "reference" / "gate-validation" / "summary.md").read_text()
    page = (DOCS / "gate-validation.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| ")]
    assert len(rows) >= 5 and all(row in page for row in rows)
    counts = re.search(r"(\d+) repetitions", summary)
    assert counts and f"{counts.group(1)} jobs" in page
