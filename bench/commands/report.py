"""`rnnbench report`: the self-contained HTML page of a run directory."""

from __future__ import annotations

import argparse

HELP = "write the HTML report of a run (plots embedded; opens offline) and print its path"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. results/<run_id>")
    parser.add_argument("--out", metavar="DIR", help="folder for index.html (default: reports/<run_id>)")


def run(args: argparse.Namespace) -> int:
    from bench.render.report import build_report  # plotting libraries load only for this command

    print(build_report(args.run_dir, args.out))
    return 0
