"""`rnnbench ci --separate`: measure two source trees in alternating rounds and pool each side's rounds.

(`rnnbench ci` by default measures both sides in the same processes instead: bench/ci/paired.py.)

On a shared runner the load changes over minutes; measuring base then candidate puts each on a different
machine in effect. Alternating rounds (base, new, new, base, base, ...) spread both over the same period.
Each round is a sweep of its own, a separate process, so a side's rounds are independent replicates: the
pooled row keeps each round's median (bench.run.pooling), and the gate tests those, not the pooled samples.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.errors import UsageError
from bench.results import store
from bench.run.pooling import pool_rows


@dataclass(frozen=True)
class Side:
    name: str  # "base" or "new": also the pooled run's suffix
    tree: Path  # the source tree whose `python -m bench sweep` measures this side
    env: dict[str, str] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()  # sweep flags for this side only


def round_order(sides: Sequence[Side], round_index: int) -> list[Side]:
    """ABBA: the side measured first alternates, so neither always gets the quieter start of a round."""
    return list(sides) if round_index % 2 == 0 else list(reversed(sides))


def _start(side: Side, config: Path, out: Path, run_id: str, sweep_args: Sequence[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(side.tree), **side.env)
    env.pop("FORCE_COLOR", None)
    command = [sys.executable, "-m", "bench", "sweep", "--config", str(config), "--out", str(out)]
    command += ["--run-id", run_id, "--no-report", "--progress", "none", *sweep_args, *side.extra_args]
    return subprocess.Popen(command, cwd=side.tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def _finish(side: Side, process: subprocess.Popen, run_dir: Path) -> Path:
    _, stderr = process.communicate()
    if process.returncode != 0 or not (run_dir / store.MEASUREMENTS).is_file():
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"the {side.name} sweep failed (exit {process.returncode}): {last}")
    return run_dir


def sweep(side: Side, config: Path, out: Path, run_id: str, sweep_args: Sequence[str] = ()) -> Path:
    """One `python -m bench sweep` from the side's own tree; returns its run directory."""
    return _finish(side, _start(side, config, out, run_id, sweep_args), out / run_id)


def run_rounds(
    sides: Sequence[Side],
    rounds: int,
    config: Path,
    out: Path,
    sweep_args: Sequence[str] = (),
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    simultaneous: bool = False,
) -> dict[str, list[Path]]:
    """Every side once per round, in alternating order (or all at once); the run directories per side.

    `simultaneous` starts both sides' sweeps together: a sweep spends a fixed time budget per case, so the
    two stay in step and each case of one side is measured in the same seconds as its twin on the other,
    under the same load. On a shared machine whose speed swings within a minute this cancels what
    alternating whole sweeps cannot.
    """
    measured: dict[str, list[Path]] = {side.name: [] for side in sides}
    for index in range(rounds):
        order = round_order(sides, index)
        if simultaneous:
            log(f"round {index + 1}/{rounds}: measuring {' and '.join(s.name for s in order)} at the same time")
            started = [(side, _start(side, config, out, f"{side.name}-round{index + 1}", sweep_args)) for side in order]
            for side, process in started:
                measured[side.name].append(_finish(side, process, out / f"{side.name}-round{index + 1}"))
            continue
        for side in order:
            run_id = f"{side.name}-round{index + 1}"
            log(f"round {index + 1}/{rounds}: measuring {side.name} ({side.tree})")
            measured[side.name].append(sweep(side, config, out, run_id, sweep_args))
    return measured


def pool_rounds(frames: Sequence[pd.DataFrame], run_id: str) -> pd.DataFrame:
    """One row per case from every round's table (bench.run.pooling's rule)."""
    every = pd.concat([frame for frame in frames if len(frame)], ignore_index=True)
    rows = [
        {**pool_rows(group.to_dict("records")), "run_id": run_id} for _, group in every.groupby("case_id", sort=True)
    ]
    return pd.DataFrame.from_records(rows)


def write_pooled(run_dirs: Sequence[Path], out: Path, run_id: str) -> Path:
    """A run directory holding the pooled rounds, readable by `rnnbench compare` like any other run."""
    metas = [store.read_meta(d) for d in run_dirs]
    frames = [store.read_measurements(d) for d in run_dirs]
    meta = {key: value for key, value in metas[0].items() if key != "run_id"}
    meta.update(
        rounds=[m["run_id"] for m in metas],
        started_at=min(str(m.get("started_at")) for m in metas),
        finished_at=max(str(m.get("finished_at")) for m in metas),
        status="complete" if all(m.get("status") == "complete" for m in metas) else "interrupted",
    )
    run_dir = store.create_run(out, run_id, meta)
    store.write_measurements(run_dir, pool_rounds(frames, run_id))
    return run_dir
