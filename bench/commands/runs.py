"""`rnnbench runs [ROOT]`: the runs under a results folder, newest first."""

from __future__ import annotations

import argparse

from bench.render.terminal import format_frame
from bench.results import query

HELP = "list the runs under a results folder: id, commit, branch, host, status, cases"
SHOWN = ["run_id", "started_at", "git_commit", "git_branch", "host", "status", "cases"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", nargs="?", default="results", help="results folder (results)")
    parser.add_argument("--impl", action="append", metavar="GLOB", help="only runs with a case of a matching key")
    parser.add_argument("--since", metavar="DATE", help="only runs started on or after DATE (ISO 8601)")
    parser.add_argument("--out", metavar="FILE", help="write every column of the listing to FILE.csv or .parquet")


def run(args: argparse.Namespace) -> int:
    since = query.parse_since(args.since) if args.since else None
    listing = query.list_runs(query.connect(args.root), args.impl, since)
    if args.out:
        print(f"{len(listing)} runs -> {query.write(listing, args.out)}")
        return 0
    shown = listing[SHOWN].copy()
    shown["git_commit"] = shown["git_commit"].str[:12]
    shown["cases"] = shown["cases"].astype("Int64")
    print(format_frame(shown))
    print(f"{len(listing)} runs under {args.root}")
    return 0
