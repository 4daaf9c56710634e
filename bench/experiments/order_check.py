"""Does case order change the results? The same sweep with its case list forward, then reversed.

    python -m bench.experiments.order_check [--config bench/configs/default.toml] [--sweep-args "..."] [--pairs N]

With isolation working, a case measures the same whatever ran before it: each case's medians agree
within noise (rnnbench compare's verdict on the two orders is never a regression or an improvement), and a
compiled case's first call (a cold start in its own process and compile cache) agrees within 20%.

One pair of runs cannot tell order from what any two processes of the same code differ by. With `--pairs N`
the two orders alternate N times (forward-1, reversed-1, forward-2, ...) and each order's runs are pooled as
rounds, as `rnnbench ci --separate` pools them: from 5 runs a side, compare tests the runs' medians (U test),
so only a shift larger than the spread between processes is called one; first calls are compared by their
median over the runs. Writes order.csv and order.md beside the runs.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from bench.analysis.compare import compare_runs
from bench.ci.separate import pool_rounds
from bench.results import store

FIRST_CALL_TOLERANCE = 0.20
SHIFTED = ("regression", "improvement")


def pool_order(frames: list[pd.DataFrame], run_id: str) -> pd.DataFrame:
    """One order's runs as one run of rounds (each run a round); `first_call_s` their median. Pure."""
    if len(frames) == 1:
        return frames[0]
    pooled = pool_rounds(frames, run_id).set_index("case_id")
    every = pd.concat(frames, ignore_index=True)
    ok = every[every["status"] == "ok"]
    pooled["first_call_s"] = ok.groupby("case_id")["first_call_s"].median().reindex(pooled.index)
    return pooled.reset_index()


def order_table(forward: pd.DataFrame, reversed_: pd.DataFrame) -> pd.DataFrame:
    """Per case measured ok in both: median ratio, compare's verdict, first-call ratio and whether it holds."""
    changes = compare_runs(forward, reversed_).changes.set_index("case_id")
    f, r = (frame[frame["status"] == "ok"].set_index("case_id") for frame in (forward, reversed_))
    rows = []
    for case_id in sorted(set(f.index) & set(r.index)):
        first_ratio = float(r.loc[case_id, "first_call_s"]) / float(f.loc[case_id, "first_call_s"])
        compiled = f.loc[case_id].get("isolation") == "process"
        verdict = changes.loc[case_id, "verdict"]
        rows.append(
            {
                "case_id": case_id,
                "isolation": f.loc[case_id].get("isolation"),
                "median_ratio": float(r.loc[case_id, "median_s"]) / float(f.loc[case_id, "median_s"]),
                "verdict": verdict,
                "first_call_ratio": first_ratio,
                "holds": verdict not in SHIFTED and (not compiled or abs(first_ratio - 1) <= FIRST_CALL_TOLERANCE),
            }
        )
    return pd.DataFrame.from_records(rows)


def to_markdown(table: pd.DataFrame, pairs: int = 1) -> str:
    process = table[table["isolation"] == "process"]
    runs = "once each" if pairs == 1 else f"in {pairs} alternating runs of each order, pooled"
    lines = [
        f"{len(table)} cases measured forward and reversed {runs}; {int(table['holds'].sum())} hold "
        f"(medians within noise; compiled cases' first call within {FIRST_CALL_TOLERANCE:.0%}).",
        f"Median ratio reversed/forward: median {table['median_ratio'].median():.3f}, range "
        f"{table['median_ratio'].min():.3f}-{table['median_ratio'].max():.3f}; verdicts: "
        + ", ".join(f"{v} {n}" for v, n in table["verdict"].value_counts().items()),
    ]
    if len(process):
        lines.append(
            f"First call of the {len(process)} process-isolated cases, reversed/forward: range "
            f"{process['first_call_ratio'].min():.3f}-{process['first_call_ratio'].max():.3f}"
        )
    lines += [
        "",
        "| case | isolation | median ratio | verdict | first-call ratio | holds |",
        "|---|---|---:|---|---:|---|",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.case_id} | {row.isolation} | {row.median_ratio:.3f} | {row.verdict} | "
            f"{row.first_call_ratio:.3f} | {'yes' if row.holds else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def _sweep(config: Path, sweep_args: str, out: Path, run_id: str, reverse: bool) -> Path:
    """Measure one run, or finish it where an earlier invocation stopped (`rnnbench sweep --resume`)."""
    run_dir = out / run_id
    command = [sys.executable, "-m", "bench", "sweep", "--no-report", "--progress", "plain"]
    if (run_dir / store.RUN_JSON).exists():
        if store.read_meta(run_dir).get("status") == "complete":
            return run_dir
        command += ["--resume", str(run_dir)]
    else:
        command += ["--config", str(config), "--out", str(out), "--run-id", run_id, *shlex.split(sweep_args)]
        command += ["--reverse"] if reverse else []
    subprocess.run(command, check=True)
    return run_dir


def run_ids(pairs: int) -> list[tuple[str, bool]]:
    """The runs in the order they are measured, (run id, reversed): the orders alternate."""
    if pairs == 1:
        return [("forward", False), ("reversed", True)]
    return [(f"{name}-{i}", name == "reversed") for i in range(1, pairs + 1) for name in ("forward", "reversed")]


def read_orders(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Both orders' runs under `out`, each pooled; and how many runs each has."""
    found = {}
    for name in ("forward", "reversed"):
        dirs = [d for d in sorted(out.glob(f"{name}*")) if (d / store.RUN_JSON).exists()]
        found[name] = [store.read_measurements(d) for d in dirs]
    if not found["forward"] or len(found["forward"]) != len(found["reversed"]):
        raise SystemExit(f"order_check: {out} holds {len(found['forward'])} forward and "
                         f"{len(found['reversed'])} reversed runs; expected the same number, at least one")  # fmt: skip
    return pool_order(found["forward"], "forward"), pool_order(found["reversed"], "reversed"), len(found["forward"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.experiments.order_check", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "configs" / "default.toml")
    parser.add_argument("--sweep-args", default="", help="extra sweep flags, quoted")
    parser.add_argument("--out", type=Path, default=Path("results") / f"order-check-{time.strftime('%Y%m%d-%H%M%S')}")
    parser.add_argument("--pairs", type=int, default=1, help="runs of each order, alternating (5 or more: U test)")
    parser.add_argument("--analyze", action="store_true", help="only compare the runs already under --out")
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    if not args.analyze:
        for run_id, reverse in run_ids(args.pairs):
            _sweep(args.config, args.sweep_args, args.out, run_id, reverse=reverse)
    forward, reversed_, pairs = read_orders(args.out)
    table = order_table(forward, reversed_)
    table.to_csv(args.out / "order.csv", index=False)
    text = to_markdown(table, pairs)
    (args.out / "order.md").write_text(text)
    print(text)
    return 0 if table["holds"].all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
