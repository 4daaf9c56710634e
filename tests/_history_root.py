"""A results root of many runs over many commits, without running a sweep: for history and query tests.

Each run measures the same cases the way `rnnbench ci` does, in ROUNDS worker processes whose samples are
pooled; each process's median scatters around the case's level by PROCESS_NOISE, the spread this machine
shows between processes running identical code (13.6%, measured for the gate: docs/ci), so a run's median
scatters by about 4%. One case can step up from one commit on; its processes scatter by `step_noise`
(a quiet machine), so that the commit the step lands on is observable. `noisy` runs of a case have samples
spread thirty times wider (a run beside a heavy neighbour).
Runs are written in a shuffled order (a backfill), so only their commit times put them in order.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bench.analysis.stats import summarize

CASES = [
    ("lstm", "native", "inference", 2.0e-4),
    ("lstm", "native", "training", 9.0e-4),
    ("gru", "native", "inference", 1.6e-4),
    ("gru", "native", "training", 7.0e-4),
    ("lstm", "premul_loop", "inference", 6.0e-4),
    ("rnn_tanh", "native", "inference", 8.0e-5),
]
START = datetime(2026, 11, 1, tzinfo=UTC)
PROCESS_NOISE = 0.136
ROUNDS = 16
SAMPLES_PER_ROUND = 5


def commit(index: int) -> str:
    return hashlib.sha1(f"commit {index}".encode()).hexdigest()


def case_id(family: str, impl: str, mode: str) -> str:
    return f"{family}.{impl}|cpu|float32|{mode}|b4xt16xi32xh32xl1"


def _row(run_id: str, family: str, impl: str, mode: str, level: float, noise: float, spread: float, rng) -> dict:
    round_medians = level * rng.lognormal(0.0, noise, ROUNDS)
    samples = np.concatenate([m * rng.lognormal(0.0, spread, SAMPLES_PER_ROUND) for m in round_medians])
    stats = summarize(samples).as_dict()
    shape = {"batch": 4, "seq_len": 16, "input_size": 32, "hidden_size": 32, "num_layers": 1, "bidirectional": False}
    return {
        "run_id": run_id, "case_id": case_id(family, impl, mode), "key": f"{family}.{impl}", "family": family,
        "impl": impl, "device": "cpu", "dtype": "float32", "mode": mode, **shape, "status": "ok", **stats,
        "samples_s": samples.tolist(), "round_medians_s": [float(np.median(r)) for r in samples.reshape(ROUNDS, -1)],
        "rounds": ROUNDS,
    }  # fmt: skip


def write_root(
    root: Path, *, commits: int = 40, step_case: int = 0, step_at: int = 25, step: float = 0.10,
    noise: float = PROCESS_NOISE, step_noise: float = 0.02, noisy: tuple[tuple[int, int], ...] = (),
    host: str = "ci-runner-1", seed: int = 0,
) -> list[str]:  # fmt: skip
    """Write one run per commit under `root`; returns the commits in commit order. `noisy` lists
    (case number, commit index) pairs whose run is noisy."""
    rng = np.random.default_rng(seed)
    for index in rng.permutation(commits):
        when = START + timedelta(hours=int(index))
        run_id = f"run-{host}-{rng.integers(1 << 30):09d}"
        run_dir = root / run_id
        run_dir.mkdir(parents=True)
        rows = []
        for number, (family, impl, mode, level) in enumerate(CASES):
            factor = 1 + step if number == step_case and index >= step_at else 1.0
            scatter = step_noise if number == step_case else noise
            spread = 0.6 if (number, int(index)) in noisy else 0.02
            rows.append(_row(run_id, family, impl, mode, level * factor, scatter, spread, rng))
        pd.DataFrame(rows).to_parquet(run_dir / "measurements.parquet", index=False)
        environment = {
            "host": host, "torch": "2.13.0+cpu", "python": "3.11.7", "git_commit": commit(int(index)),
            "git_commit_time": when.isoformat(), "git_branch": "main",
        }  # fmt: skip
        meta = {
            "run_id": run_id, "status": "complete", "environment": environment,
            "started_at": (START + timedelta(days=60, minutes=int(rng.integers(10_000)))).isoformat(),
        }  # fmt: skip
        (run_dir / "run.json").write_text(json.dumps(meta))
    return [commit(i) for i in range(commits)]
