"""The regression gate on two run directories: compare, print, write Markdown/JSON/HTML, return the exit status."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.analysis.compare import compare_runs
from bench.errors import UsageError
from bench.render.compare_html import write_html
from bench.render.compare_render import to_json, to_markdown, to_terminal
from bench.render.terminal import use_color
from bench.results.run_files import read_run, resolve_run


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc


def gate(base_dir: Path, new_dir: Path, args: argparse.Namespace) -> int:
    """Compare two run directories, print and write every output, return the exit status."""
    if resolve_run(base_dir).resolve() == resolve_run(new_dir).resolve():
        raise UsageError(f"comparing a run with itself ({base_dir})")
    base, base_run = read_run(base_dir)
    new, new_run = read_run(new_dir)
    if base_run["run_id"] == new_run["run_id"]:
        raise UsageError(f"comparing a run with itself (both are {base_run['run_id']})")
    comparison = compare_runs(
        base,
        new,
        base_run,
        new_run,
        threshold=args.threshold,
        alpha=args.alpha,
        relative_to=args.relative_to,
        statistic=getattr(args, "statistic", "median"),
        tolerance=args.tolerance,
    )
    print(to_terminal(comparison, use_color=use_color(sys.stdout)))
    if args.markdown:
        _write(args.markdown, to_markdown(comparison))
    if args.json:
        _write(args.json, to_json(comparison))
    if not args.no_html:
        html = args.html or Path("reports") / comparison.new_run_id / f"compare-{comparison.base_run_id}.html"
        try:
            write_html(comparison, html)
        except OSError as exc:
            raise UsageError(f"cannot write {html}: {exc.strerror}") from exc
        print(f"html: {html}")
    return 1 if comparison.failed else 0
