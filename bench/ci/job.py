"""`rnnbench ci`'s job: check out the base revision in a temporary worktree, measure it and this tree, gate.

By default both sides are measured side by side in the same worker processes (bench/ci/paired.py); with
`--separate` each side runs sweeps of its own (bench/ci/separate.py). The verdict is bench/ci/gate.py's.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.analysis.significance import least_equal_count, least_pair_count
from bench.ci.gate import gate
from bench.ci.separate import Side, run_rounds, write_pooled
from bench.commands._sweep_arguments import add_arguments, spec_from_args
from bench.errors import UsageError
from bench.plan.spec import SweepSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]
PAIRED_ROUNDS = 16  # processes, each measuring both sides: 16 ratios per case
ROUNDS = 4  # --separate: alternations of the two sides
SWEEP_ROUNDS = 4  # --separate: fresh worker processes per side and alternation: 4 x 4 = 16 round medians per side


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def _resolve(rev: str) -> str:
    if _git("rev-parse", "--show-toplevel").returncode != 0:
        raise UsageError(f"{ROOT} is not a git checkout; `ci` needs one to check out the base revision")
    found = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if found.returncode != 0:
        raise UsageError(f"unknown git revision {rev!r}")
    return found.stdout.strip()


def run_ci(args: argparse.Namespace) -> int:
    """Check out args.base, measure it and this tree (side by side, or --separate), gate; the exit status."""
    config = _check_options(args)
    spec, cases = _plan(args, config)
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


def _check_options(args: argparse.Namespace) -> Path:
    """Bad options and missing files, said in one line before anything runs; the sweep spec's path."""
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
    return config


def _plan(args: argparse.Namespace, config: Path) -> tuple:
    """The rounds settled and checked; the spec and cases measured side by side ((None, None) with --separate)."""
    if args.clock:
        args.sweep_args = f"--clock {args.clock} {args.sweep_args}"
    if (args.clock or load_spec(config).timing.clock) == "instructions":
        _check_instructions(args)
        spec, cases = paired_cases(config, args.sweep_args)
    elif args.separate:
        args.rounds = ROUNDS if args.rounds is None else args.rounds
        _check_separate_rounds(args)
        return None, None
    else:
        args.rounds = PAIRED_ROUNDS if args.rounds is None else args.rounds
        least = least_pair_count(args.alpha)
        if args.rounds < least:
            raise UsageError(
                f"--rounds {args.rounds} is too few: the gate tests one ratio per process, and {least} is the least "
                f"that can reach p < {args.alpha:g}"
            )
        spec, cases = paired_cases(config, args.sweep_args)
    return spec, cases


def _check_instructions(args: argparse.Namespace) -> None:
    """Counts repeat across processes: one process measures both sides (bench/plan/instructions.py)."""
    from bench.run.callgrind import check_available

    if args.separate or args.simultaneous:
        raise UsageError("--clock instructions measures both sides in one process; drop --separate/--simultaneous")
    if args.rounds not in (None, 1):
        raise UsageError(f"--clock instructions needs one process (counts repeat), got --rounds {args.rounds}")
    args.rounds = 1
    check_available()


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
    add_arguments(parser)
    try:
        words = shlex.split(sweep_args)
    except ValueError as exc:
        raise UsageError(f"--sweep-args: {exc}") from None
    spec = spec_from_args(parser.parse_args(["--config", str(config), *words]))
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
