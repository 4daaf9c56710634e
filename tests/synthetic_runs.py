"""Synthetic measurements tables and run directories, laid out as the sweep writes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.plan.cases import Case

ENVIRONMENT = {
    "host": "ci-runner-1",
    "platform": "Linux-6.1-x86_64",
    "python": "3.11.9",
    "torch": "2.13.0+cpu",
    "cuda": None,
    "cudnn": None,
    "onednn": "3.5",
    "cpu_model": "Example CPU",
    "cpu_count": 2,
    "threads": 1,
    "gpus": [],
    "git_commit": "0" * 40,
    "git_dirty": False,
}


def case(family: str = "lstm", impl: str = "native", batch: int = 4, seq_len: int = 16, mode: str = "inference"):
    return Case(f"{family}.{impl}", family, impl, "cpu", "float32", mode, batch, seq_len, 32, 64)


def row(
    c: Case, run_id: str, samples, status: str = "ok", correct: bool | None = True, error: str = "", rounds=None
) -> dict:
    """A measured row; `rounds` (a list of per-round sample lists) pools them as a sweep's rounds do."""
    if rounds is not None:
        samples = [float(s) for r in rounds for s in r]
    samples = None if samples is None else [float(s) for s in samples]
    extra = {} if rounds is None else {"round_medians_s": [float(np.median(r)) for r in rounds], "rounds": len(rounds)}
    return extra | {
        "run_id": run_id,
        "case_id": c.case_id,
        **c.identity(),
        "threads": 1,
        "status": status,
        "error": error or None,
        "median_s": float(np.median(samples)) if samples else np.nan,
        "n_samples": len(samples) if samples else 0,
        "samples_s": samples,
        "correct": correct,
    }


def lognormal(median_s: float, n: int, seed: int, spread: float = 0.03) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(np.log(median_s), spread, n)


def run_json(run_id: str, **environment) -> dict:
    return {
        "run_id": run_id,
        "command": ["rnnbench", "sweep"],
        "spec": {},
        "environment": {**ENVIRONMENT, **environment},
        "started_at": "2026-01-01T00:00:00",
        "finished_at": "2026-01-01T00:01:00",
        "status": "complete",
        "peak_flops_per_s": {"cpu/float32": 1e11},
        "counts": {},
    }


def write_run(root: Path, run_id: str, rows: list[dict], **environment) -> Path:
    path = Path(root) / run_id
    path.mkdir(parents=True)
    pd.DataFrame.from_records(rows).to_parquet(path / "measurements.parquet")
    (path / "run.json").write_text(json.dumps(run_json(run_id, **environment)))
    return path


def process_rounds(
    median_s: float, rounds: int, rng: np.random.Generator, per_round: int = 20, process_sd: float = 0.08, sd=0.03
) -> list[np.ndarray]:
    """Samples of `rounds` processes: each has its own lognormal offset (layout, allocator, neighbours), then
    lognormal noise per sample. The offset is what pooled samples hide and per-round medians expose."""
    offsets = rng.lognormal(0.0, process_sd, rounds)
    return [median_s * offset * rng.lognormal(0.0, sd, per_round) for offset in offsets]
