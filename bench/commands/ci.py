"""`rnnbench ci --base REV`: measure a base revision and this tree in the same job, then gate like `compare`."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.commands.compare import add_gate_arguments, gate
from bench.errors import UsageError
from bench.rounds import Side, run_rounds, write_pooled
from bench.significance import least_equal_count

HELP = "check out REV in a temporary worktree, measure it and this tree in alternating rounds, compare"
ROOT = Path(__file__).resolve().parents[2]
QUICK = ROOT / "bench" / "configs" / "quick.toml"
ROUNDS = 4  # alternations of the two sides
SWEEP_ROUNDS = 4  # fresh worker processes per side and alternation: 4 x 4 = 16 round medians per side


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", required=True, metavar="REV", help="git revision to compare against")
    parser.add_argument("--config", type=Path, default=QUICK, help="sweep spec for both sides (quick.toml)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=ROUNDS,
        help=f"alternating rounds: each side's sweep runs once per round, base and new taking turns ({ROUNDS})",
    )
    parser.add_argument(
        "--sweep-rounds",
        type=int,
        default=SWEEP_ROUNDS,
        help="rounds inside each of those sweeps, each in a fresh worker process: the test counts "
        f"rounds x sweep-rounds medians per side ({SWEEP_ROUNDS})",
    )
    parser.add_argument(
        "--simultaneous", action="store_true", help="run both sides of each round at the same time (see README)"
    )
    parser.add_argument("--sweep-args", default="", metavar="ARGS", help="extra `rnnbench sweep` flags, quoted")
    parser.add_argument("--out", type=Path, help="where the rounds and pooled runs go (results/ci-<time>)")
    parser.add_argument(
        "--new-plugin",
        action="append",
        default=[],
        metavar="FILE.py",
        help="a plugin loaded by the candidate's sweeps only (e.g. bench/plugins/slowdown.py, to test the gate)",
    )
    add_gate_arguments(parser)


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def _resolve(rev: str) -> str:
    if _git("rev-parse", "--show-toplevel").returncode != 0:
        raise UsageError(f"{ROOT} is not a git checkout; `ci` needs one to check out the base revision")
    found = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if found.returncode != 0:
        raise UsageError(f"unknown git revision {rev!r}")
    return found.stdout.strip()


def run(args: argparse.Namespace) -> int:
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha must be between 0 and 1, got {args.alpha}")
    least = least_equal_count(args.alpha)
    if args.rounds < 1 or args.sweep_rounds < 1:
        raise UsageError(f"--rounds and --sweep-rounds must be positive, got {args.rounds} and {args.sweep_rounds}")
    if args.rounds * args.sweep_rounds < least:
        raise UsageError(
            f"--rounds {args.rounds} x --sweep-rounds {args.sweep_rounds} is too few: the gate tests one median per "
            f"process, and {least} vs {least} is the least that can reach p < {args.alpha:g}"
        )
    config = args.config.resolve()
    if not config.is_file():
        raise UsageError(f"no sweep spec at {args.config}")
    commit = _resolve(args.base)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = (args.out or Path("results") / f"ci-{stamp}").resolve()
    plugins = [str(Path(path).resolve()) for path in args.plugin]
    sweep_args = ["--rounds", str(args.sweep_rounds), *shlex.split(args.sweep_args)]
    sweep_args += [flag for path in plugins for flag in ("--plugin", path)]
    for path in args.new_plugin:
        if not Path(path).is_file():
            raise UsageError(f"plugin file not found: {path}")
    new_args = [flag for path in args.new_plugin for flag in ("--plugin", str(Path(path).resolve()))]
    with tempfile.TemporaryDirectory(prefix="rnnbench-base-") as scratch:
        tree = Path(scratch) / "base"
        added = _git("worktree", "add", "--detach", str(tree), commit)
        if added.returncode != 0:
            raise UsageError(f"git worktree add failed: {(added.stderr.strip().splitlines() or ['?'])[-1]}")
        try:
            print(f"base {args.base} ({commit[:12]}) checked out in {tree}", file=sys.stderr)
            sides = [Side("base", tree), Side("new", ROOT, extra_args=tuple(new_args))]
            measured = run_rounds(
                sides, args.rounds, config, out / "rounds", sweep_args, simultaneous=args.simultaneous
            )
        finally:
            _git("worktree", "remove", "--force", str(tree))
            _git("worktree", "prune")
    base_dir = write_pooled(measured["base"], out, f"ci-{stamp}-base")
    new_dir = write_pooled(measured["new"], out, f"ci-{stamp}-new")
    return gate(base_dir, new_dir, args)
