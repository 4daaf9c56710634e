"""`rnnbench compare BASE NEW`: the regression gate between two runs."""

from __future__ import annotations

import argparse

from bench.ci.gate import gate
from bench.commands._gate_arguments import add_gate_arguments

HELP = "compare two runs case by case; exit 1 on a regression or a new failure"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", help="base run directory (or run id under results/)")
    parser.add_argument("new", help="new run directory (or run id under results/)")
    add_gate_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return gate(args.base, args.new, args)
