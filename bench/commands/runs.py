"""`rnnbench runs [ROOT]`: the runs under a results folder, newest first."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bench.errors import UsageError
from bench.render.terminal import format_frame
from bench.results import query

HELP = "list the runs under a results folder: id, commit, branch, host, status, cases"
SHOWN = ["run_id", "started_at", "git_commit", "git_branch", "host", "status", "cases"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", nargs="?", default="results", help="results folder (results)")
    parser.add_argument("--impl", action="append", metavar="GLOB", help="only runs with a case of a matching key")
    parser.add_argument("--since", metavar="DATE", help="only runs started on or after DATE (ISO 8601)")
    parser.add_argument("--out", metavar="FILE", help="write every column of the listing to FILE.csv or .parquet")


def since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r}: expected an ISO 8601 date, e.g. 2026-12-01 or 2026-12-01T18:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def impl_filter(globs: list[str] | None) -> tuple[str, list[str]]:
    """A SQL condition on `key` matching any of the globs, and its parameters."""
    if not globs:
        return "TRUE", []
    return "(" + " OR ".join("key GLOB ?" for _ in globs) + ")", list(globs)


def run(args: argparse.Namespace) -> int:
    con = query.connect(args.root)
    condition, parameters = impl_filter(args.impl)
    where = [f"run_id IN (SELECT DISTINCT run_id FROM measurements WHERE {condition})"] if args.impl else []
    if args.since:
        where.append("TRY_CAST(started_at AS TIMESTAMPTZ) >= ?")
        parameters.append(since(args.since))
    text = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
    listing = query.sql(con, text + " ORDER BY started_at DESC NULLS LAST, run_id", parameters)
    if args.out:
        print(f"{len(listing)} runs -> {query.write(listing, args.out)}")
        return 0
    shown = listing[SHOWN].copy()
    shown["git_commit"] = shown["git_commit"].str[:12]
    shown["cases"] = shown["cases"].astype("Int64")
    print(format_frame(shown))
    print(f"{len(listing)} runs under {args.root}")
    return 0
