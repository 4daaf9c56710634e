"""`rnnbench ci --base REV`: measure a base revision and this tree in the same job, then gate like `compare`."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.analysis.significance import least_equal_count, least_pair_count
from bench.ci.separate import Side, run_rounds, write_pooled
from bench.commands import sweep as sweep_command
from bench.commands.compare import add_gate_arguments, gate
from bench.errors import UsageError
from bench.plan.spec import SweepSpec

HELP = "check out REV in a temporary worktree, measure it beside this tree, compare"
ROOT = Path(__file__).resolve().parents[2]
QUICK = ROOT / "bench" / "configs" / "quick.toml"
PAIRED_ROUNDS = 16  # processes, each measuring both sides: 16 ratios per case
ROUNDS = 4  # --separate: alternations of the two sides
SWEEP_ROUNDS = 4  # --separate: fresh worker processes per side and alternation: 4 x 4 = 16 round medians per side


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
        "process (slower to reach a verdict, see README); needed when the base cannot be loaded beside this tree",
    )
    parser.add_argument(
        "--sweep-rounds",
        type=int,
        default=SWEEP_ROUNDS,
        help="--separate: rounds inside each of those sweeps, each in a fresh worker process: the test counts "
        f"rounds x sweep-rounds medians per side ({SWEEP_ROUNDS})",
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
    if args.simultaneous and not args.separate:
        raise UsageError("--simultaneous needs --separate (side by side in one process is the default)")
    config = args.config.resolve()
    if not config.is_file():
        raise UsageError(f"no sweep spec at {args.config}")
    for path in [*args.new_plugin, *args.plugin]:
        if not Path(path).is_file():
            raise UsageError(f"plugin file not found: {path}")
    if args.separate:
        args.rounds = ROUNDS if args.rounds is None else args.rounds
        _check_separate_rounds(args)
    else:
        args.rounds = PAIRED_ROUNDS if args.rounds is None else args.rounds
        least = least_pair_count(args.alpha)
        if args.rounds < least:
            raise UsageError(
                f"--rounds {args.rounds} is too few: the gate tests one ratio per process, and {least} is the least "
                f"that can reach p < {args.alpha:g}"
            )
        spec, cases = paired_cases(config, args.sweep_args)
    commit = _resolve(args.base)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = (args.out or Path("results") / f"ci-{stamp}").resolve()
    with tempfile.TemporaryDirectory(prefix="rnnbench-base-") as scratch:
        tree = Path(scratch) / "base"
        added = _git("worktree", "add", "--detach", str(tree), commit)
        if added.returncode != 0:
            raise UsageError(f"git worktree add failed: {(added.stderr.strip().splitlines() or ['?'])[-1]}")
        try:
            print(f"base {args.base} ({commit[:12]}) checked out in {tree}", file=sys.stderr)
            if args.separate:
                base_dir, new_dir = _measure_separately(args, config, tree, out, stamp)
            else:
                base_dir, new_dir = _measure_side_by_side(args, spec, cases, tree, commit, out, stamp)
        finally:
            _git("worktree", "remove", "--force", str(tree))
            _git("worktree", "prune")
    return gate(base_dir, new_dir, args)


def _check_separate_rounds(args: argparse.Namespace) -> None:
    least = least_equal_count(args.alpha)
    if args.rounds < 1 or args.sweep_rounds < 1:
        raise UsageError(f"--rounds and --sweep-rounds must be positive, got {args.rounds} and {args.sweep_rounds}")
    if args.rounds * args.sweep_rounds < least:
        raise UsageError(
            f"--rounds {args.rounds} x --sweep-rounds {args.sweep_rounds} is too few: the gate tests one median per "
            f"process, and {least} vs {least} is the least that can reach p < {args.alpha:g}"
        )


class _SweepArgs(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"--sweep-args: {message}")


def paired_cases(config: Path, sweep_args: str) -> tuple[SweepSpec, list]:
    """The spec and cases `rnnbench sweep --config CONFIG SWEEP_ARGS` would measure, from this tree's registry."""
    from bench.plan.cases import expand
    from implementations import registry

    parser = _SweepArgs(prog="rnnbench ci --sweep-args")
    sweep_command.add_arguments(parser)
    try:
        words = shlex.split(sweep_args)
    except ValueError as exc:
        raise UsageError(f"--sweep-args: {exc}") from None
    spec = sweep_command.spec_from_args(parser.parse_args(["--config", str(config), *words]))
    for grid in spec.grids:
        registry.match(grid.impls)
    cases = expand(spec, registry.all())
    if not cases:
        raise UsageError("the spec selects no case")
    return spec, cases


def _measure_side_by_side(args, spec: SweepSpec, cases, tree: Path, commit: str, out: Path, stamp: str):
    from bench.ci.paired import run_pairs

    shared = [str(Path(path).resolve()) for path in args.plugin]  # both sides, as with --separate
    plugins = [*shared, *(str(Path(path).resolve()) for path in args.new_plugin)]
    print(f"{len(cases)} cases x {args.rounds} processes, base and new side by side in each", file=sys.stderr)
    dirs = run_pairs(
        spec,
        cases,
        tree,
        out,
        {"base": f"ci-{stamp}-base", "new": f"ci-{stamp}-new"},
        {"base": {"git_commit": commit, "git_dirty": False}, "new": {}},
        plugins,
        args.rounds,
        base_plugins=shared,
    )
    return dirs["base"], dirs["new"]


def _measure_separately(args, config: Path, tree: Path, out: Path, stamp: str) -> tuple[Path, Path]:
    plugins = [str(Path(path).resolve()) for path in args.plugin]
    sweep_args = ["--rounds", str(args.sweep_rounds), *shlex.split(args.sweep_args)]
    sweep_args += [flag for path in plugins for flag in ("--plugin", path)]
    new_args = [flag for path in args.new_plugin for flag in ("--plugin", str(Path(path).resolve()))]
    sides = [Side("base", tree), Side("new", ROOT, extra_args=tuple(new_args))]
    measured = run_rounds(sides, args.rounds, config, out / "rounds", sweep_args, simultaneous=args.simultaneous)
    return write_pooled(measured["base"], out, f"ci-{stamp}-base"), write_pooled(
        measured["new"], out, f"ci-{stamp}-new"
    )
