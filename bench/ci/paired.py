"""Rounds in which one process measures base and new side by side: `rnnbench ci`'s default.

Each round starts a fresh worker that loads the base tree's implementations beside this tree's
(bench/worker/side_by_side.py) and measures every case on both sides in alternating blocks. The two runs written
here keep each round's median in round order, so round i of base and round i of new come from the same
process; run.json's `pairing` says so, and `compare` then decides on the ratio of each pair
(bench.analysis.significance.compare_paired). Rows are appended as each case finishes, as a sweep does.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.analysis.summary import status_counts
from bench.errors import UsageError
from bench.plan import instructions
from bench.plan.cases import Case, describe_implementations, family_baselines
from bench.plan.spec import SweepSpec
from bench.results import store
from bench.run.pooling import pool_rows
from bench.run.runner import Runner, skipped_row
from bench.run.worker_process import WorkerCannotLoad
from bench.worker.environment import collect, default_threads
from bench.worker.side_by_side import SIDES


def _create_runs(
    spec: SweepSpec,
    out: Path,
    run_ids: dict[str, str],
    sources: dict[str, dict],
    plugins: dict,
    threads: int,
    implementations: dict,
) -> dict[str, Path]:
    environment = collect(threads)
    dirs = {}
    for side in SIDES:
        other = run_ids["new" if side == "base" else "base"]
        pairing = {"id": f"{run_ids['base']}+{run_ids['new']}", "side": side, "paired_with": other}
        meta = store.new_run_meta(
            spec.as_dict(),
            plugins[side],
            {"name": "local"},
            {**environment, **sources[side]},
            pairing=pairing,
            implementations=implementations,
            baselines=family_baselines(),
        )
        dirs[side] = store.create_run(out, run_ids[side], meta)
    return dirs


def run_pairs(
    spec: SweepSpec,
    cases: Sequence[tuple[Case, str | None]],
    base_tree: Path,
    out: Path,
    run_ids: dict[str, str],
    sources: dict[str, dict],
    plugins: Sequence[str] = (),
    rounds: int = 16,
    base_plugins: Sequence[str] = (),
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> dict[str, Path]:
    """Measure `cases` on both sides in `rounds` fresh processes; the base and new run directories.

    `sources` holds what run.json records of each side's code (its git commit). `plugins` load into the new
    side, `base_plugins` into the base.
    """
    threads = instructions.threads(spec.timing, default_threads())
    from implementations import registry

    plugin_lists = {"base": list(base_plugins), "new": list(plugins)}
    described = describe_implementations(registry.all(), cases)
    dirs = _create_runs(spec, out, run_ids, sources, plugin_lists, threads, described)
    worker_args = ("--base-tree", str(base_tree), *(flag for path in base_plugins for flag in ("--base-plugin", path)))
    runner = Runner(dirs["new"], run_ids["new"], spec.timing, threads, list(plugins), worker_args)
    try:
        _measure_rounds(runner, cases, rounds, dirs, run_ids, log)
    except BaseException as exc:
        for side in SIDES:
            store.update_meta(dirs[side], status="interrupted", finished_at=store.now())
        if isinstance(exc, WorkerCannotLoad):
            raise UsageError(f"{exc}; measure it with --separate instead") from None
        raise
    finally:
        runner.close()
        for side in SIDES:
            store.seal(dirs[side])
    for side in SIDES:
        frame = store.read_measurements(dirs[side])
        store.update_meta(dirs[side], status="complete", finished_at=store.now(), counts=status_counts(frame))
    return dirs


def _measure_rounds(
    runner: Runner,
    cases: Sequence[tuple[Case, str | None]],
    rounds: int,
    dirs: dict[str, Path],
    run_ids: dict[str, str],
    log: Callable[[str], None],
) -> None:
    """Round after round, a fresh process measures every case on both sides; each side's row is stored (the
    earlier rounds pooled in) as it comes."""
    rows: dict[str, dict[str, dict]] = {side: {} for side in SIDES}
    for number in range(1, rounds + 1):
        started = time.perf_counter()
        runner.start_round()
        for case, reason in cases:
            got = _round_of_case(runner, case, reason, number, rows)
            for side, row in got.items():
                row["run_id"] = run_ids[side]
                rows[side][case.case_id] = row
                store.append_rows(dirs[side], [row])
        seconds = time.perf_counter() - started
        log(f"round {number}/{rounds}: base and new side by side in one process ({seconds:.0f} s)")


def _round_of_case(runner: Runner, case: Case, reason: str | None, number: int, rows: dict) -> dict[str, dict]:
    """This round's row of the case per side, pooled with the earlier rounds; {} when there is nothing to do."""
    if reason is not None:
        return (
            {side: {**skipped_row(case, reason, runner.threads), "rounds": None} for side in SIDES}
            if number == 1
            else {}
        )
    first = SIDES[(number - 1) % 2]  # which side is built and timed first alternates from process to process
    if number == 1:
        got = runner.run_pair(case, None, first=first)
        for row in got.values():
            row["rounds"] = 1 if row.get("status") == "ok" else None
        return got
    previous = {side: rows[side].get(case.case_id) for side in SIDES}
    if not all(row is not None and row.get("status") == "ok" for row in previous.values()):
        return {}  # a side that failed in the first round is not measured again: there is no pair to make
    calls = int(previous["base"].get("calls_per_sample") or 0) or None  # both sides keep round 1's block size
    got = runner.run_pair(case, None, repeat=True, first=first, calls=calls)
    return {side: pool_rows([previous[side], got[side]]) for side in SIDES}
