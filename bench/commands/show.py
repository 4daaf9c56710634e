"""`rnnbench show RUN_DIR`: a run's summary in the terminal."""

from __future__ import annotations

import argparse

from bench.render.summary_text import render_summary
from bench.results.vocabulary import BASELINE_VARIANT

HELP = "summarize a run: fastest implementation per shape, speedup over native, failures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="results/<run_id>")
    parser.add_argument(
        "--baseline", default=BASELINE_VARIANT, help=f"variant speedups are measured against ({BASELINE_VARIANT})"
    )


def run(args: argparse.Namespace) -> int:
    print(render_summary(args.run_dir, args.baseline))
    return 0
