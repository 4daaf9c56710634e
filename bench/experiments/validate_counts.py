"""How the instructions lane (`rnnbench ci --clock instructions`) detects small changes and how far identical code
differs: the figures in docs/instructions.md.

    python -m bench.experiments.validate_counts --jobs 5 --out results/validate-counts
    python -m bench.experiments.validate_counts --analyze --out results/validate-counts

Each job is one `rnnbench ci --base HEAD --clock instructions` over the quick config (without the correctness
check, which does not change a count) in which the candidate gets the extra-work plugin
(bench/experiments/extra_work.py) at FACTORS on three implementations and nothing on the fourth: per job and
mode, one case per factor and one A/A case (the same code from two checkouts, in one process). A/A across
processes: every pair of jobs' base runs, and of their candidate runs, compared with the gate's own rule.
Results: OUT/summary.md and OUT/judged.csv (one row per decision).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from bench.analysis.compare import DECIDED, compare_runs
from bench.analysis.counts import DEFAULT_TOLERANCE, spread
from bench.results.run_files import read_run

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "bench" / "experiments" / "extra_work.py"
FACTORS = {"lstm.native": 0.01, "gru.native": 0.02, "lstm.premul_loop": 0.05}  # rnn_tanh.scratch_loop: none


def run_job(out: Path, number: int) -> float:
    """One ci job into OUT/job-N; its wall time in seconds."""
    job = out / f"job-{number}"
    command = [sys.executable, "-m", "bench", "ci", "--base", "HEAD", "--clock", "instructions", "--no-html"]
    command += ["--sweep-args=--no-check", "--new-plugin", str(PLUGIN), "--out", str(job)]
    command += ["--json", str(job / "changes.json")]
    env = dict(os.environ, RNNBENCH_EXTRA_WORK=",".join(f"{k}={v}" for k, v in FACTORS.items()))
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"job {number} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    (job / "seconds.json").write_text(json.dumps({"seconds": seconds}))
    return seconds


def _sides(job: Path) -> tuple[Path, Path]:
    runs = sorted(p for p in job.iterdir() if p.is_dir() and p.name.startswith("ci-"))
    return next(p for p in runs if p.name.endswith("-base")), next(p for p in runs if p.name.endswith("-new"))


def _measured(job: Path) -> bool:
    """A job with rows on both sides; one stopped part-way counts with the cases it finished."""
    runs = [p for p in job.glob("ci-*") if p.is_dir()]
    return len(runs) == 2 and all((p / "measurements.parquet").is_file() for p in runs)


def _decisions(base: Path, new: Path, kind: str, label: str, factors: dict[str, float]) -> list[dict]:
    (b, b_run), (n, n_run) = read_run(base), read_run(new)
    changes = compare_runs(b, n, b_run, n_run).changes
    return [
        {
            "comparison": label,
            "kind": kind,
            "key": row["key"],
            "mode": row["mode"],
            "factor": factors.get(row["key"], 0.0),
            "ratio": row["ratio"],
            "verdict": row["verdict"],
        }
        for _, row in changes.iterrows()
        if row["verdict"] in DECIDED  # a case one side has not measured (yet) is no decision
    ]


def judge(out: Path) -> pd.DataFrame:
    jobs = sorted((p for p in out.glob("job-*") if _measured(p)), key=lambda p: int(p.name[4:]))
    rows = []
    for job in jobs:
        rows += _decisions(*_sides(job), "in one job (two checkouts, one process)", job.name, FACTORS)
    for first, second in itertools.combinations(jobs, 2):
        for side in (0, 1):
            which = ("base", "candidate")[side]
            pair = f"{first.name}/{second.name} {which}"
            rows += _decisions(_sides(first)[side], _sides(second)[side], "across processes (two jobs)", pair, {})
    return pd.DataFrame(rows)


def repeat_spreads(out: Path) -> pd.DataFrame:
    """Each counted row's spread over its own repeats (largest over smallest, less one)."""
    rows = []
    for path in sorted(out.glob("job-*/ci-*/measurements.parquet")):
        frame = pd.read_parquet(path)
        for _, row in frame[frame["status"].eq("ok")].iterrows():
            rows.append({"key": row["key"], "mode": row["mode"], "spread": spread(row.to_dict())})
    return pd.DataFrame(rows)


def summary(judged: pd.DataFrame, seconds: list[float], spreads: pd.DataFrame) -> str:
    flagged = judged["verdict"].eq("regression")
    jobs = judged.loc[judged["kind"].str.startswith("in one job"), "comparison"].nunique()
    finished = f"{sum(seconds) / max(len(seconds), 1) / 60:.1f} minutes per finished job (mean of {len(seconds)})"
    lines = [f"{jobs} jobs ({finished if seconds else 'none finished'}), tolerance {DEFAULT_TOLERANCE:.1%}", "",
             "| change | decisions | flagged | measured ratio: median [range] |", "|---:|---:|---:|---:|"]  # fmt: skip
    for factor, part in judged.groupby("factor"):
        hits = int(flagged[part.index].sum())
        ratios = part["ratio"]
        what = "none (A/A)" if factor == 0 else f"+{factor:.0%}"
        lines.append(
            f"| {what} | {len(part)} | {hits} | {ratios.median():.4f} [{ratios.min():.4f}-{ratios.max():.4f}] |"
        )
    aa = judged[judged["factor"].eq(0)].assign(off=lambda d: (d["ratio"] - 1).abs())
    lines += ["", "A/A: largest |ratio - 1| per case and kind of pair", "", "| case | kind | decisions | largest |",
              "|---|---|---:|---:|"]  # fmt: skip
    for (key, mode, kind), part in aa.groupby(["key", "mode", "kind"]):
        lines.append(f"| {key} {mode} | {kind} | {len(part)} | {part['off'].max():.4%} |")
    for (key, mode), part in spreads.groupby(["key", "mode"]):
        largest = part["spread"].max()
        lines.append(f"| {key} {mode} | repeats in one process (max/min - 1) | {len(part)} | {largest:.4%} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.experiments.validate_counts")
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("results") / "validate-counts")
    parser.add_argument("--analyze", action="store_true", help="judge the jobs already under --out again")
    parser.add_argument("--start", type=int, help="number of the first job (default: after those under --out)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not args.analyze:
        start = len(list(out.glob("job-*"))) + 1 if args.start is None else args.start
        for number in range(start, start + args.jobs):
            print(f"job {number}: {run_job(out, number):.0f} s", file=sys.stderr, flush=True)
    timed = [p / "seconds.json" for p in out.glob("job-*") if (p / "seconds.json").is_file()]
    seconds = [json.loads(path.read_text())["seconds"] for path in timed]
    judged = judge(out)
    judged.to_csv(out / "judged.csv", index=False)
    text = summary(judged, seconds, repeat_spreads(out))
    (out / "summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
