"""The decision and output flags of the regression gate, shared by `rnnbench compare` and `rnnbench ci`."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.analysis import counts
from bench.analysis.compare import DEFAULT_THRESHOLD


def add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    """The decision and output flags, shared with `rnnbench ci`."""
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"smallest real median change that fails the gate ({DEFAULT_THRESHOLD:g})",
    )
    parser.add_argument("--alpha", type=float, default=0.01, help="significance level of the U test (0.01)")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=counts.DEFAULT_TOLERANCE,
        help="runs under --clock instructions: smallest change of the instruction count per call that fails the "
        f"gate ({counts.DEFAULT_TOLERANCE:g}; see docs/instructions.md)",
    )
    parser.add_argument("--relative-to", metavar="IMPL", help="divide each case by this implementation, same run")
    parser.add_argument(
        "--statistic",
        choices=["median", "p99"],
        default="median",
        help="gate on the median (U test) or on the p99 of the raw samples (bootstrap; streaming: one per step)",
    )
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write a Markdown summary here")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the changes as JSON here")
    parser.add_argument(
        "--html", type=Path, metavar="FILE", help="HTML page (default reports/<new>/compare-<base>.html)"
    )
    parser.add_argument("--no-html", action="store_true", help="do not write the HTML page")
