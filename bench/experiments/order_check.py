"""Does case order change the results? The same sweep with its case list forward, then reversed.

    python -m bench.experiments.order_check [--config bench/configs/default.toml] [--sweep-args "..."]

With isolation working, a case measures the same whatever ran before it: each case's medians agree
within noise (rnnbench compare's verdict on the two runs is never a regression or an improvement), and a
compiled case's first call (a cold start in its own process and compile cache) agrees within 20%.
Writes order.csv and order.md beside the two runs.
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
from bench.results import store

FIRST_CALL_TOLERANCE = 0.20
SHIFTED = ("regression", "improvement")


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


def to_markdown(table: pd.DataFrame) -> str:
    process = table[table["isolation"] == "process"]
    lines = [
        f"{len(table)} cases measured forward and reversed; {int(table['holds'].sum())} hold (medians within noise; "
        f"compiled cases' first call within {FIRST_CALL_TOLERANCE:.0%}).",
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
    command = [sys.executable, "-m", "bench", "sweep", "--config", str(config), "--out", str(out)]
    command += ["--run-id", run_id, "--no-report", "--progress", "plain", *shlex.split(sweep_args)]
    command += ["--reverse"] if reverse else []
    subprocess.run(command, check=True)
    return out / run_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.experiments.order_check", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "configs" / "default.toml")
    parser.add_argument("--sweep-args", default="", help="extra sweep flags, quoted")
    parser.add_argument("--out", type=Path, default=Path("results") / f"order-check-{time.strftime('%Y%m%d-%H%M%S')}")
    parser.add_argument("--analyze", action="store_true", help="only compare the two runs already under --out")
    args = parser.parse_args(argv)
    if not args.analyze:
        _sweep(args.config, args.sweep_args, args.out, "forward", reverse=False)
        _sweep(args.config, args.sweep_args, args.out, "reversed", reverse=True)
    table = order_table(*(store.read_measurements(args.out / name) for name in ("forward", "reversed")))
    table.to_csv(args.out / "order.csv", index=False)
    text = to_markdown(table)
    (args.out / "order.md").write_text(text)
    print(text)
    return 0 if table["holds"].all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
