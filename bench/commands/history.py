"""`rnnbench history ROOT`: every case's median over commits, with change points, as a page and a summary."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.analysis import changepoints, history
from bench.commands.runs import impl_filter
from bench.errors import UsageError
from bench.render import history as page
from bench.render.terminal import format_table
from bench.results import query

HELP = "each case's median over commits: change points (E-Divisive), noisy runs, an HTML page, a Markdown summary"
COLUMNS = [
    "case_id", "key", "family", "impl", "mode", "status", "median_s", "iqr_s", "ci_low_s", "ci_high_s",
    "run_id", "git_commit", "git_commit_time", "run_started_at", "run_host", "torch", "python",
]  # fmt: skip


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


def _points(args: argparse.Namespace):
    con = query.connect(args.root)
    condition, parameters = impl_filter(args.impl)
    where = f"{condition} AND ({args.where})" if args.where else condition
    rows = query.sql(con, f"SELECT {', '.join(COLUMNS)} FROM measurements WHERE {where}", parameters)
    if args.impl and not len(rows):
        raise UsageError(f"--impl {' '.join(args.impl)} matches no case under {args.root}")
    return history.series(rows)


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    _check(args)
    points = _points(args)
    found = history.changes(points, min_step=args.min_step, alpha=args.alpha, permutations=args.permutations)
    summary = history.summary(points, found)
    noisy = history.noisy_runs(points)
    drawn = page.figures(points, found) if len(points) else []
    families = points.groupby(["family", "mode"]).ngroups if len(points) else 0
    context = {
        "root": str(args.root), "summary": summary, "changes": page.change_rows(found), "figures": drawn,
        "hidden_figures": families - len(drawn), "noisy": noisy.to_dict("records"), "alpha": args.alpha,
        "min_step_pct": f"{args.min_step:.0%}", "noisy_pct": f"{history.NOISY_RELATIVE_IQR:.0%}",
    }  # fmt: skip
    try:
        path = page.write_page(Path(args.out), context)
    except OSError as exc:
        raise UsageError(f"cannot write the page under {args.out}: {exc.strerror or exc}") from None
    markdown = page.markdown(summary, found, str(args.root))
    if args.markdown:
        _write(args.markdown, markdown)
    if args.json:
        document = {"summary": summary, "changes": [c.as_dict() for c in found], "noisy": noisy.to_dict("records")}
        _write(args.json, json.dumps(document, indent=2, default=str) + "\n")
    if not len(points):
        print(f"rnnbench history: note: no ok measurement under {args.root} (every case failed or was skipped)")
    print(markdown.split("\n")[2])
    if found:
        table = context["changes"]
        rows = [[r["case"], r["series"], f"{r['before']} → {r['after']}", r["step"], r["p_value"]] for r in table]
        print(format_table(["case", "series", "commit", "step (95% CI)", "p"], rows))
    print(f"page: {path}")
    return 0
