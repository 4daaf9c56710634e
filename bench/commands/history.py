"""`rnnbench history ROOT`: every case's median over commits, with change points, as a page and a summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.analysis import changepoints
from bench.errors import UsageError
from bench.render.history_report import HistoryRequest, write_history
from bench.render.terminal import format_table

HELP = "each case's median over commits: change points (E-Divisive), noisy runs, an HTML page, a Markdown summary"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", nargs="?", default="results", help="results folder (results)")
    parser.add_argument("--impl", action="append", metavar="GLOB", help="only cases of matching keys (repeatable)")
    parser.add_argument("--where", metavar="SQL", help="only rows matching this condition on `measurements`")
    parser.add_argument("--out", default="reports/history", help="folder of the HTML page (reports/history)")
    parser.add_argument("--markdown", metavar="FILE", help="write the summary as Markdown (e.g. $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--json", metavar="FILE", help="write change points, series and noisy runs as JSON")
    parser.add_argument("--alpha", type=float, default=changepoints.ALPHA, help="p-value below which a split is kept")
    parser.add_argument("--min-step", type=float, default=0.05, help="smallest step reported (0.05: 5%%)")
    parser.add_argument("--permutations", type=int, default=changepoints.PERMUTATIONS)


def _check(args: argparse.Namespace) -> None:
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha {args.alpha}: expected a probability between 0 and 1")
    if args.min_step < 0:
        raise UsageError(f"--min-step {args.min_step}: expected 0 or more")
    if 1 / (args.permutations + 1) >= args.alpha:
        raise UsageError(
            f"--permutations {args.permutations}: too few for --alpha {args.alpha} "
            f"(a permutation p-value is at least 1/(permutations + 1))"
        )


def run(args: argparse.Namespace) -> int:
    _check(args)
    request = HistoryRequest(
        str(args.root), Path(args.out), tuple(args.impl or ()), args.where, args.markdown, args.json,
        args.alpha, args.min_step, args.permutations,
    )  # fmt: skip
    result = write_history(request)
    if not result.points:
        print(f"rnnbench history: note: no ok measurement under {args.root} (every case failed or was skipped)")
    print(result.markdown.split("\n")[2])
    if result.changes:
        rows = [
            [r["case"], r["series"], f"{r['before']} → {r['after']}", r["step"], r["p_value"]]
            for r in result.change_rows
        ]
        print(format_table(["case", "series", "commit", "step (95% CI)", "p"], rows))
    print(f"page: {result.page}")
    return 0
