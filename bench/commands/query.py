"""`rnnbench query ROOT "SQL"`: SQL over every run under a results root (DuckDB over the runs' parquet)."""

from __future__ import annotations

import argparse

from bench.render.terminal import format_frame
from bench.results import query

HELP = "run SQL over every run under a results folder: tables `runs` and `measurements` (DuckDB)"
EPILOG = """tables:
  runs          one row per run: run_id, git_commit, git_commit_time, git_branch, started_at, status,
                host, torch, python, cpu_model, cases, ...
  measurements  every row of every run (the columns of measurements.parquet) with its run's columns:
                run_id, git_commit, git_commit_time, git_branch, torch, ..., run_started_at, run_host
example:
  rnnbench query results "SELECT git_commit, median_s FROM measurements
                          WHERE key = 'lstm.native' AND mode = 'training' ORDER BY git_commit_time"
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("root", help="results folder (every run.json under it is a run)")
    parser.add_argument("sql", help="the query")
    parser.add_argument("--out", metavar="FILE", help="write the whole answer to FILE.csv or FILE.parquet")
    parser.add_argument("--limit", type=int, default=200, help="rows printed to the terminal (200)")


def run(args: argparse.Namespace) -> int:
    con = query.connect(args.root)
    answer = query.sql(con, args.sql)
    if args.out:
        print(f"{len(answer)} rows -> {query.write(answer, args.out)}")
    else:
        print(format_frame(answer, args.limit))
    return 0
