"""`rnnbench show RUN_DIR`: a run's summary in the terminal."""

from __future__ import annotations

import argparse

from bench.render.summary_text import render_summary

HELP = "summarize a run: fastest implementation per shape, speedup over each family's baseline, failures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="results/<run_id>")
    parser.add_argument(
        "--baseline",
        default=None,
        help="variant speedups are measured against (default: each family's own, as the run recorded it: "
        "native for nn.RNN/LSTM/GRU)",
    )


def run(args: argparse.Namespace) -> int:
    print(render_summary(args.run_dir, args.baseline))
    return 0
