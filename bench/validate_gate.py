"""Measure how good the regression gate is on this machine: false alarms on A/A, detection of known slowdowns.

    python -m bench.validate_gate --reps 8 --rounds 3        (make validate-gate)

Each repetition is one CI job as `rnnbench ci` runs it: a base side and a new side from the same tree,
measured in alternating rounds. On the new side the slowdown plugin slows each family's implementations by a
known factor, rotated across repetitions so every family gets every factor: 0 (the A/A control: identical
code), 5%, 10% and 25%. Every compared case is then judged by three rules on the same samples:

- gate:  rnnbench compare (Mann-Whitney U p < 0.01 AND Hodges-Lehmann median change > 10%);
- plain: ratio of medians > 1.10 (pytest-benchmark's --benchmark-compare-fail=median:10%);
- asv:   Mann-Whitney U p < 0.002 AND ratio of medians > 1.1 (asv continuous' default factor and test);

each on the pooled rounds (what `rnnbench ci` compares) and on the first round alone (one sweep per side,
what a job that measures each side once would compare). A rule "flags" a case when it calls it a regression.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from bench import store
from bench.compare import compare_runs
from bench.rounds import Side, pool_rounds, run_rounds
from bench.significance import mann_whitney_p

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "bench" / "plugins" / "slowdown.py"
FAMILIES = ("lstm", "gru", "rnn_tanh", "rnn_relu")
FACTORS = (0.0, 0.05, 0.10, 0.25)
THRESHOLD, ALPHA, ASV_P, ASV_FACTOR = 0.10, 0.01, 0.002, 1.1


def factors_for(rep: int) -> dict[str, float]:
    """Family -> slowdown in repetition `rep`: a rotation, so each family meets each factor."""
    return {family: FACTORS[(i + rep) % len(FACTORS)] for i, family in enumerate(FAMILIES)}


def judge(base: pd.DataFrame, new: pd.DataFrame, factors: dict[str, float]) -> pd.DataFrame:
    """One row per compared case: its true factor and each rule's call. Pure."""
    gate = compare_runs(base, new, threshold=THRESHOLD, alpha=ALPHA).changes
    gate = gate[gate["ratio"].notna()]
    rows = []
    base_by_id = base.set_index("case_id")["samples_s"]
    new_by_id = new.set_index("case_id")["samples_s"]
    for _, change in gate.iterrows():
        p_value = mann_whitney_p(base_by_id[change["case_id"]], new_by_id[change["case_id"]])
        rows.append(
            {
                "case_id": change["case_id"],
                "family": change["family"],
                "mode": change["mode"],
                "factor": factors.get(change["family"], 0.0),
                "ratio": change["median_ratio"],
                "hodges_lehmann_ratio": change["ratio"],
                "p_value": p_value,
                "gate": change["verdict"] == "regression",
                "plain": change["median_ratio"] > 1 + THRESHOLD,
                "asv": p_value < ASV_P and change["median_ratio"] > ASV_FACTOR,
            }
        )
    return pd.DataFrame.from_records(rows)


def summarize(judged: pd.DataFrame) -> pd.DataFrame:
    """Flag rate per data variant, rule and factor, with the counts behind it."""
    rows = []
    for (variant, factor), group in judged.groupby(["variant", "factor"]):
        row = {"variant": variant, "factor": factor, "cases": len(group), "median_ratio": group["ratio"].median()}
        for rule in ("gate", "plain", "asv"):
            row[rule] = int(group[rule].sum())
        rows.append(row)
    return pd.DataFrame.from_records(rows)


def to_markdown(summary: pd.DataFrame, reps: int, rounds: int) -> str:
    lines = [
        f"{reps} repetitions x {rounds} alternating rounds per side; cases flagged as a regression / cases compared",
        "",
        "| data | true slowdown | rnnbench gate | plain 10% (pytest-benchmark) | asv-style | median measured ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    names = {"pooled": f"{rounds} rounds pooled", "single": "1 sweep per side"}
    for _, row in summary.iterrows():
        label = "none (A/A)" if row["factor"] == 0 else f"{row['factor']:.0%}"
        cells = [f"{row[rule]}/{row['cases']} ({row[rule] / row['cases']:.0%})" for rule in ("gate", "plain", "asv")]
        lines.append(f"| {names[row['variant']]} | {label} | " + " | ".join(cells) + f" | {row['median_ratio']:.3f} |")
    return "\n".join(lines) + "\n"


def _rep_index(path: Path) -> int:
    return int(path.name.removeprefix("rep"))


def judge_all(out: Path, rounds: int) -> pd.DataFrame:
    """Judge every complete repetition under `out` from its rounds' raw samples."""
    judged = []
    for rep_dir in sorted(out.glob("rep*"), key=_rep_index):
        runs = {side: [rep_dir / "rounds" / f"{side}-round{r + 1}" for r in range(rounds)] for side in ("base", "new")}
        if not all((d / store.MEASUREMENTS).is_file() for dirs in runs.values() for d in dirs):
            continue  # an unfinished repetition
        frames = {side: [store.read_measurements(d) for d in dirs] for side, dirs in runs.items()}
        factors = factors_for(_rep_index(rep_dir) - 1)
        pooled = {side: pool_rounds(f, side) for side, f in frames.items()}
        for variant, (base, new) in (
            ("pooled", (pooled["base"], pooled["new"])),
            ("single", (frames["base"][0], frames["new"][0])),
        ):
            judged.append(judge(base, new, factors).assign(rep=_rep_index(rep_dir), variant=variant))
    return pd.concat(judged, ignore_index=True) if judged else pd.DataFrame()


def report(out: Path, rounds: int) -> str:
    table = judge_all(out, rounds)
    if table.empty:
        return "no complete repetition yet\n"
    table.to_csv(out / "judged.csv", index=False)
    summary = summarize(table)
    markdown = to_markdown(summary, int(table["rep"].nunique()), rounds)
    (out / "summary.md").write_text(markdown)
    (out / "summary.json").write_text(json.dumps(summary.to_dict(orient="records"), indent=2))
    return markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.validate_gate", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--config", type=Path, default=ROOT / "bench" / "configs" / "quick.toml")
    parser.add_argument("--sweep-args", default="--impl *.native --no-check", help="extra sweep flags")
    parser.add_argument("--out", type=Path, default=Path("results") / f"validate-gate-{time.strftime('%Y%m%d-%H%M%S')}")
    parser.add_argument("--analyze", action="store_true", help="only judge the repetitions already under --out")
    parser.add_argument("--simultaneous", action="store_true", help="run both sides of a round at the same time")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    sweep_args = args.sweep_args.split() + ["--plugin", str(PLUGIN)]
    for rep in range(args.reps if not args.analyze else 0):
        rep_dir = out / f"rep{rep + 1}"
        if rep_dir.exists():
            continue  # measured by an earlier invocation: continue where it stopped
        factors = factors_for(rep)
        slowdown = ",".join(f"{family}.*={factor}" for family, factor in factors.items() if factor)
        sides = [Side("base", ROOT), Side("new", ROOT, {"RNNBENCH_SLOWDOWN": slowdown})]
        print(f"repetition {rep + 1}/{args.reps}: new side slowed by {slowdown}", file=sys.stderr)
        run_rounds(sides, args.rounds, args.config, rep_dir / "rounds", sweep_args, simultaneous=args.simultaneous)
        print(report(out, args.rounds), file=sys.stderr)
    print(report(out, args.rounds))
    print(out / "summary.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
