"""`rnnbench ci --base REV`: measure a base revision and this tree in the same job, then gate like `compare`."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.ci.job import PAIRED_ROUNDS, ROOT, ROUNDS, SWEEP_ROUNDS, run_ci
from bench.commands._gate_arguments import add_gate_arguments

HELP = "check out REV in a temporary worktree, measure it beside this tree, compare"
QUICK = ROOT / "bench" / "configs" / "quick.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", required=True, metavar="REV", help="git revision to compare against")
    parser.add_argument("--config", type=Path, default=QUICK, help="sweep spec for both sides (quick.toml)")
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"processes, each timing base and new side by side ({PAIRED_ROUNDS}); with --separate, alternating "
        f"rounds in which each side's sweep runs once ({ROUNDS})",
    )
    parser.add_argument(
        "--separate",
        action="store_true",
        help="measure each side with its own tree's harness, in sweeps of its own, instead of side by side in one "
        "process (slower to reach a verdict, see docs/gate-validation.md); needed when the base cannot be loaded "
        "beside this tree",
    )
    parser.add_argument(
        "--sweep-rounds",
        type=int,
        default=SWEEP_ROUNDS,
        help="--separate: rounds inside each of those sweeps, each in a fresh worker process: the test counts "
        f"rounds x sweep-rounds medians per side ({SWEEP_ROUNDS})",
    )
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu", "instructions"],
        help="the config's clock unless given; instructions: both sides counted under Valgrind in one process, "
        "decided on --tolerance (see docs/instructions.md)",
    )
    parser.add_argument(
        "--simultaneous", action="store_true", help="--separate: run both sides of each round at the same time"
    )
    parser.add_argument(
        "--sweep-args",
        default="",
        metavar="ARGS",
        help="extra `rnnbench sweep` flags, quoted (e.g. \"--impl 'lstm.*'\")",
    )
    parser.add_argument("--out", type=Path, help="where the rounds and pooled runs go (results/ci-<time>)")
    parser.add_argument(
        "--new-plugin",
        action="append",
        default=[],
        metavar="FILE.py",
        help="a plugin loaded by the candidate's sweeps only (e.g. bench/experiments/slowdown.py, to test the gate)",
    )
    add_gate_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return run_ci(args)
