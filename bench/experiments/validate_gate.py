"""Measure how good the regression gate is on this machine: false alarms on A/A, detection of known slowdowns.

    python -m bench.experiments.validate_gate                                            (make validate-gate)
    python -m bench.experiments.validate_gate --separate --rounds 4 --sweep-rounds 4

Each repetition is one CI job as `rnnbench ci` runs it, base and new both from this tree: by default
`--rounds` processes that each time both sides side by side (bench/ci/paired.py); with `--separate`,
alternating rounds in which each side's sweep runs `--sweep-rounds` fresh worker processes. In a rotated
repetition the slowdown plugin slows each family's implementations on the new side by a known factor,
rotated so every family gets every factor: 0 (A/A: identical code), 5%, 10% and 25%; a control repetition
slows nothing. How many of each follows from `--aa-decisions` and `--per-factor` (bench/experiments/
gate_quality.py: 300 A/A case-decisions bound the false-alarm rate below 1% at 95% when none alarms), unless
`--reps` says; `--control-first` runs the control jobs first, enough of them for the A/A count alone, and the
rotated jobs after them rotate over the slowdowns only. Every
compared case is then judged by several rules on the same data, the rounds of each side pooled as
`rnnbench ci` pools them (RULES below; each rule's test and threshold in docs/gate-validation.md, "The rules
compared"). A rule "flags" a case when it calls it a regression; on A/A that is a false alarm. Every rate is
published with its exact binomial 95% interval, and the summary states how many cases one job tests and the
chance that such a job raises any false alarm.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.analysis.compare import DEFAULT_THRESHOLD, compare_runs
from bench.analysis.significance import mann_whitney_p
from bench.ci.separate import Side, pool_rounds, run_rounds
from bench.experiments import gate_quality
from bench.results import store

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "bench" / "experiments" / "slowdown.py"
ROTATION = ("lstm", "gru", "rnn_tanh", "rnn_relu")  # the order repetitions rotate the factors in (kept for --analyze)
FACTORS_FILE = "factors.json"  # each repetition's slowdown per family, written before it is measured
FACTORS = (0.0, 0.05, 0.10, 0.25)
SLOWDOWNS = FACTORS[1:]
ALPHA, ASV_P, ASV_FACTOR, PLAIN = 0.01, 0.002, 1.1, 0.10
RULES = {  # column -> heading
    "gate": "rnnbench gate (5%)",
    "gate_10": "gate at 10%",
    "unpaired": "rounds unpaired (U test, 5%)",
    "pooled": "earlier gate (pooled samples, 10%)",
    "plain": "plain 10% (pytest-benchmark)",
    "asv": "asv-style",
}


def gate_families() -> tuple[str, ...]:
    """The families the gate's sweep (--impl *.native) times: those whose baseline is their `native`."""
    from implementations import registry

    names = [f.name for f in registry.all_families() if registry.baseline(f.name) == f"{f.name}.native"]
    return tuple(sorted(names, key=lambda n: (ROTATION.index(n) if n in ROTATION else len(ROTATION), n)))


def factors_for(rep: int, rotated: int | None = None, control_first: int = 0) -> dict[str, float]:
    """Family -> slowdown in repetition `rep` (from 0): a rotation, so each family meets each factor; before
    `control_first` and from `control_first + rotated` on, control repetitions in which nothing is slowed.
    After control repetitions that hold the A/A decisions (`control_first`), the rotation is over the slowdowns
    alone: every case of a rotated repetition is then a detection decision."""
    rep -= control_first
    if rep < 0 or (rotated is not None and rep >= rotated):
        return dict.fromkeys(gate_families(), 0.0)
    factors, families = SLOWDOWNS if control_first else FACTORS, gate_families()
    return {family: factors[k] for family, k in zip(families, gate_quality.rotation(rep, len(families), len(factors)))}


def _factors_of(rep_dir: Path) -> dict[str, float]:
    path = rep_dir / FACTORS_FILE
    return json.loads(path.read_text()) if path.is_file() else factors_for(_rep_index(rep_dir) - 1)


PAIRED_RUNS = ({"pairing": {"id": "rep", "side": "base"}}, {"pairing": {"id": "rep", "side": "new"}})


def _changes(
    base: pd.DataFrame, new: pd.DataFrame, threshold: float, on_rounds: bool, paired: bool = False
) -> pd.DataFrame:
    if not on_rounds:  # as if the round medians had never been kept: the test counts samples
        base, new = (frame.drop(columns="round_medians_s", errors="ignore") for frame in (base, new))
    runs = PAIRED_RUNS if paired else ({}, {})
    return compare_runs(base, new, *runs, threshold=threshold, alpha=ALPHA).changes.set_index("case_id")


def judge(base: pd.DataFrame, new: pd.DataFrame, factors: dict[str, float], paired: bool = False) -> pd.DataFrame:
    """One row per compared case: its true factor and each rule's call, all on the same pooled rounds. Pure.

    `paired`: round i of both sides was measured in one process (the default `ci`)."""
    gate = _changes(base, new, DEFAULT_THRESHOLD, on_rounds=True, paired=paired)
    gate = gate[gate["ratio"].notna()]
    gate_10 = _changes(base, new, 0.10, on_rounds=True, paired=paired)
    unpaired = _changes(base, new, DEFAULT_THRESHOLD, on_rounds=True)
    pooled = _changes(base, new, 0.10, on_rounds=False)
    base_by_id, new_by_id = base.set_index("case_id"), new.set_index("case_id")
    rows = []
    for case_id, change in gate.iterrows():
        b, n = base_by_id.loc[case_id], new_by_id.loc[case_id]
        median_ratio = float(np.median(n["samples_s"]) / np.median(b["samples_s"]))
        p_pooled = mann_whitney_p(b["samples_s"], n["samples_s"])
        rows.append(
            {
                "case_id": case_id,
                "family": change["family"],
                "mode": change["mode"],
                "factor": factors.get(change["family"], 0.0),
                "unit": change["unit"],
                "rounds_base": int(change["n_base"]) if change["unit"] in ("rounds", "pairs") else 1,
                "rounds_new": int(change["n_new"]) if change["unit"] in ("rounds", "pairs") else 1,
                "ratio": change["ratio"],  # Hodges-Lehmann on round medians: what the gate sizes
                "p_value": change["p_value"],
                "pooled_ratio": pooled.loc[case_id, "ratio"],
                "pooled_p_value": p_pooled,
                "median_ratio": median_ratio,
                "gate": change["verdict"] == "regression",
                "gate_10": gate_10.loc[case_id, "verdict"] == "regression",
                "unpaired": unpaired.loc[case_id, "verdict"] == "regression",
                "unpaired_p_value": unpaired.loc[case_id, "p_value"],
                "pooled": pooled.loc[case_id, "verdict"] == "regression",
                "plain": median_ratio > 1 + PLAIN,
                "asv": p_pooled < ASV_P and median_ratio > ASV_FACTOR,
            }
        )
    return pd.DataFrame.from_records(rows)


def summarize(judged: pd.DataFrame) -> pd.DataFrame:
    """Flag rate per rule and factor, with the counts behind it."""
    rows = []
    for factor, group in judged.groupby("factor"):
        row = {
            "factor": factor,
            "cases": len(group),
            "median_ratio": group["ratio"].median(),
            "min_ratio": group["ratio"].min(),
            "max_ratio": group["ratio"].max(),
        }
        for rule in RULES:
            row[rule] = int(group[rule].sum())
        rows.append(row)
    return pd.DataFrame.from_records(rows)


def false_alarm_jobs(judged: pd.DataFrame) -> dict[str, int]:
    """Per rule, the jobs where some identical-code (A/A) case was flagged: what a CI user would live through."""
    control = judged[judged["factor"] == 0]
    return {rule: int(control.groupby("rep")[rule].any().sum()) for rule in RULES}


def _rep_index(path: Path) -> int:
    return int(path.name.removeprefix("rep"))


def judge_all(out: Path, rounds: int) -> pd.DataFrame:
    """Judge every complete repetition under `out` from its rounds' raw samples."""
    judged = []
    for rep_dir in sorted(out.glob("rep*"), key=_rep_index):
        factors = _factors_of(rep_dir)
        if (rep_dir / "base").is_dir():  # side by side: two run directories whose rounds pair
            if not all(store.read_meta(rep_dir / side).get("status") == "complete" for side in ("base", "new")):
                continue
            base, new = (store.read_measurements(rep_dir / side) for side in ("base", "new"))
            judged.append(judge(base, new, factors, paired=True).assign(rep=_rep_index(rep_dir)))
            continue
        runs = {side: [rep_dir / "rounds" / f"{side}-round{r + 1}" for r in range(rounds)] for side in ("base", "new")}
        if not all((d / store.MEASUREMENTS).is_file() for dirs in runs.values() for d in dirs):
            continue  # an unfinished repetition
        pooled = {side: pool_rounds([store.read_measurements(d) for d in dirs], side) for side, dirs in runs.items()}
        judged.append(judge(pooled["base"], pooled["new"], factors).assign(rep=_rep_index(rep_dir)))
    return pd.concat(judged, ignore_index=True) if judged else pd.DataFrame()


def report(out: Path, rounds: int) -> str:
    table = judge_all(out, rounds)
    if table.empty:
        return "no complete repetition yet\n"
    table.to_csv(out / "judged.csv", index=False)
    summary = summarize(table)
    alarms = control_alarms(table, out)
    paired = bool((table["unit"] == "pairs").any())
    jobs = {"cases_per_job": int(table.groupby("rep").size().max()), "control": _control_count(table, out)}
    markdown = gate_quality.to_markdown(summary, RULES, int(table["rep"].nunique()), rounds, alarms, paired, jobs)
    per_side = int(table["rounds_base"].median())
    if not paired:
        markdown = markdown.replace(" per side;", f" per side, {per_side} round medians per side;", 1)
    (out / "summary.md").write_text(markdown)
    document = {"rounds": rounds, "paired": paired, "rules": RULES, "control_jobs_with_alarm": alarms, **jobs}
    document["by_factor"] = summary.to_dict(orient="records")
    for entry in document["by_factor"]:
        entry["ci95"] = {rule: gate_quality.rate_interval(entry[rule], entry["cases"]) for rule in RULES}
    (out / "summary.json").write_text(json.dumps(document, indent=2))
    return markdown


def _is_control(rep_dir: Path) -> bool:
    return not any(_factors_of(rep_dir).values())


def _control_count(table: pd.DataFrame, out: Path) -> int:
    return sum(_is_control(out / f"rep{rep}") for rep in table["rep"].unique())


def control_alarms(table: pd.DataFrame, out: Path) -> dict[str, int]:
    """Per rule, the control jobs (nothing slowed) in which any case was flagged."""
    controls = [rep for rep in table["rep"].unique() if _is_control(out / f"rep{rep}")]
    return false_alarm_jobs(table[table["rep"].isin(controls)])


def plan_for(args: argparse.Namespace) -> gate_quality.Plan:
    """How many rotated and control jobs the requested decision counts need, from the cases one job tests."""
    from bench.ci.job import paired_cases

    _, cases = paired_cases(args.config.resolve(), args.sweep_args)
    per_family = {}
    for case, reason in cases:
        if reason is None:
            per_family[case.family] = per_family.get(case.family, 0) + 1
    if not per_family:
        raise SystemExit("validate_gate: the config and --sweep-args select no runnable case")
    per, families = min(per_family.values()), len(per_family)
    plan = gate_quality.plan(per, families, args.aa_decisions, args.per_factor, args.control_first, len(SLOWDOWNS))
    if args.reps is None:
        return plan
    # an explicit count: the first kind as planned, as many of the other as fit after
    if args.control_first:
        control = min(args.reps, plan.control)
        rotated = args.reps - control
        per_factor = min(gate_quality.rotation_counts(rotated, per, families, len(SLOWDOWNS)))
        return gate_quality.Plan(rotated, control, control * families * per, per_factor)
    rotated = min(args.reps, plan.rotated)
    control = args.reps - rotated
    return gate_quality.Plan(rotated, control, (rotated + control * families) * per, rotated * per)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.experiments.validate_gate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--reps", type=int, help="jobs to run (default: as many as the two counts below need)")
    parser.add_argument("--aa-decisions", type=int, default=gate_quality.AA_DECISIONS, help="A/A case-decisions")
    parser.add_argument("--per-factor", type=int, default=gate_quality.PER_FACTOR_DECISIONS, help="per slowdown")
    parser.add_argument(
        "--control-first", action="store_true", help="control jobs first, enough of them for --aa-decisions alone"
    )
    parser.add_argument("--rounds", type=int, default=16, help="as rnnbench ci --rounds (--separate: 4 is ci's)")
    parser.add_argument("--separate", action="store_true", help="as rnnbench ci --separate")
    parser.add_argument("--sweep-rounds", type=int, default=4, help="--separate: as ci --sweep-rounds")
    parser.add_argument("--config", type=Path, default=ROOT / "bench" / "configs" / "quick.toml")
    parser.add_argument("--sweep-args", default="--impl *.native --no-check", help="extra sweep flags")
    parser.add_argument(
        "--out", type=Path, default=Path("results") / "reference" / f"gate-validation-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    parser.add_argument("--analyze", action="store_true", help="only judge the repetitions already under --out")
    parser.add_argument("--simultaneous", action="store_true", help="run both sides of a round at the same time")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    out = args.out.resolve()
    sweep_args = ["--rounds", str(args.sweep_rounds), *args.sweep_args.split(), "--plugin", str(PLUGIN)]
    plan = plan_for(args) if not args.analyze else gate_quality.Plan(0, 0, 0, 0)
    if plan.jobs:
        print(f"{plan.jobs} jobs ({plan.rotated} rotated, {plan.control} control): {plan.aa_decisions} A/A "
              f"decisions, {plan.per_factor_decisions} per slowdown", file=sys.stderr)  # fmt: skip
    for rep in range(plan.jobs):
        rep_dir = out / f"rep{rep + 1}"
        try:  # claims the repetition, so that another invocation sharing --out goes on with the next one
            rep_dir.mkdir(parents=True)
        except FileExistsError:
            continue  # measured (or being measured) by another invocation: continue where it stopped
        factors = factors_for(rep, plan.rotated, plan.control if args.control_first else 0)
        (rep_dir / FACTORS_FILE).write_text(json.dumps(factors))
        slowdown = ",".join(f"{family}.*={factor}" for family, factor in factors.items() if factor)
        print(f"repetition {rep + 1}/{plan.jobs}: new side slowed by {slowdown or 'nothing'}", file=sys.stderr)
        if not args.separate:
            _side_by_side(args, rep_dir, slowdown)
        else:
            sides = [Side("base", ROOT), Side("new", ROOT, {"RNNBENCH_SLOWDOWN": slowdown})]
            run_rounds(sides, args.rounds, args.config, rep_dir / "rounds", sweep_args, simultaneous=args.simultaneous)
        print(report(out, args.rounds), file=sys.stderr)
    print(report(out, args.rounds))
    print(out / "summary.md")
    return 0


def _side_by_side(args: argparse.Namespace, rep_dir: Path, slowdown: str) -> None:
    """One job as `rnnbench ci` runs it by default; the base is a second copy of this tree's implementations."""
    import os

    from bench.ci.job import paired_cases
    from bench.ci.paired import run_pairs

    spec, cases = paired_cases(args.config.resolve(), args.sweep_args)
    os.environ["RNNBENCH_SLOWDOWN"] = slowdown  # read by the plugin in the worker, which loads it for new only
    try:
        run_pairs(spec, cases, ROOT, rep_dir, {"base": "base", "new": "new"}, {"base": {}, "new": {}}, [str(PLUGIN)],
                  args.rounds)  # fmt: skip
    finally:
        os.environ.pop("RNNBENCH_SLOWDOWN", None)


if __name__ == "__main__":
    raise SystemExit(main())
