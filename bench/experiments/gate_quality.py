"""How many trials a claim about the gate rests on, and what they bound. Pure: scipy and pandas only.

- A rate measured as k of n trials gets its exact (Clopper-Pearson) binomial confidence interval: 0 false
  alarms in 16 trials bounds the rate only below 19% (95%), 0 in 300 below 1%.
- A CI job tests many cases at once: with a per-case false-alarm rate p, a job of m cases raises at least
  one false alarm with probability 1 - (1 - p)**m (cases taken as independent).
- `plan` sizes a validation: enough A/A case-decisions and enough decisions per slowdown size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy.stats import binomtest

CONFIDENCE = 0.95
AA_DECISIONS = 300  # 0 alarms in 300 bounds the false-alarm rate below 1% at 95%
PER_FACTOR_DECISIONS = 100


def rate_interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Clopper-Pearson interval of a rate seen k times in n trials; (nan, nan) without trials."""
    if n <= 0:
        return math.nan, math.nan
    interval = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return float(interval.low), float(interval.high)


def format_rate(k: int, n: int, confidence: float = CONFIDENCE) -> str:
    """'3/300 (1.0%, 95% CI 0.2-2.9%)'."""
    if n <= 0:
        return "-"
    low, high = rate_interval(k, n, confidence)
    return f"{k}/{n} ({k / n:.1%}, {confidence:.0%} CI {low:.1%}-{high:.1%})"


def any_alarm_chance(per_case_rate: float, cases_per_job: int) -> float:
    """The chance that a job of `cases_per_job` independent A/A cases raises at least one false alarm."""
    return 1.0 - (1.0 - per_case_rate) ** cases_per_job


@dataclass(frozen=True)
class Plan:
    """Repetitions (CI jobs) of a validation: `rotated` ones slow each family by a factor in turn, `control`
    ones slow nothing (every case an A/A decision, and a direct count of jobs with any false alarm)."""

    rotated: int
    control: int
    aa_decisions: int
    per_factor_decisions: int

    @property
    def jobs(self) -> int:
        return self.rotated + self.control


def plan(
    cases_per_family: int,
    families: int,
    aa_decisions: int = AA_DECISIONS,
    per_factor: int = PER_FACTOR_DECISIONS,
    control_alone: bool = False,
    slowdowns: int = 3,
) -> Plan:
    """The fewest jobs that reach `per_factor` decisions per slowdown and `aa_decisions` A/A decisions.

    In a rotated job each factor (0 included) falls on one family's `cases_per_family` cases; a control job
    gives `cases_per_family * families` A/A decisions. `control_alone`: the control jobs reach `aa_decisions`
    by themselves (for a validation that runs them first, so that a partial run already bounds false alarms),
    and the rotated jobs spend every case on one of the `slowdowns` factors (0 left out: the controls hold
    the A/A decisions), so fewer of them reach `per_factor`."""
    if cases_per_family < 1 or families < 1:
        raise ValueError("a job must test at least one case")
    if control_alone:
        rotated, reached = rotated_jobs(per_factor, cases_per_family, families, slowdowns)
        control = math.ceil(aa_decisions / (cases_per_family * families))
        return Plan(rotated, control, control * cases_per_family * families, reached)
    rotated = math.ceil(per_factor / cases_per_family)
    missing = max(0, aa_decisions - rotated * cases_per_family)
    control = math.ceil(missing / (cases_per_family * families))
    aa = rotated * cases_per_family + control * cases_per_family * families
    return Plan(rotated, control, aa, rotated * cases_per_family)


def rotation(job: int, families: int, factors: int) -> list[int]:
    """The factor (an index) each family meets in rotated job `job`: family i meets (i + job) % factors."""
    return [(family + job) % factors for family in range(families)]


def rotation_counts(jobs: int, cases_per_family: int, families: int, factors: int) -> list[int]:
    """Decisions per factor after `jobs` rotated jobs."""
    counts = [0] * factors
    for job in range(jobs):
        for factor in rotation(job, families, factors):
            counts[factor] += cases_per_family
    return counts


def rotated_jobs(per_factor: int, cases_per_family: int, families: int, factors: int) -> tuple[int, int]:
    """The fewest rotated jobs that give every factor `per_factor` decisions, and the least count reached."""
    counts, jobs = [0] * factors, 0
    while min(counts) < per_factor:
        for factor in rotation(jobs, families, factors):
            counts[factor] += cases_per_family
        jobs += 1
    return jobs, min(counts)


def to_markdown(
    summary: pd.DataFrame, rules: dict[str, str], reps: int, rounds: int, alarms: dict[str, int] | None = None,
    paired: bool = False, jobs: dict | None = None,
) -> str:  # fmt: skip
    """The table of flag rates, each with its exact binomial 95% interval, and what one job means."""
    how = "processes, each timing both sides" if paired else "alternating rounds per side"
    lines = [
        f"{reps} repetitions x {rounds} {how}; cases flagged as a regression / cases compared "
        "(rate, exact binomial 95% interval)",
        "",
        "| true slowdown | " + " | ".join(rules.values()) + " | gate's measured ratio: median [range] |",
        "|---:|" + "---:|" * len(rules) + "---:|",
    ]
    for _, row in summary.iterrows():
        label = "none (A/A)" if row["factor"] == 0 else f"{row['factor']:.0%}"
        cells = [format_rate(int(row[rule]), int(row["cases"])) for rule in rules]
        spread = f"{row['median_ratio']:.3f} [{row['min_ratio']:.2f}-{row['max_ratio']:.2f}]"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {spread} |")
    if alarms is not None and jobs:
        cells = [format_rate(alarms[rule], jobs["control"]) for rule in rules]
        lines.append("| control jobs (nothing slowed) with any false alarm | " + " | ".join(cells) + " | |")
    if jobs:
        lines += ["", familywise_sentence(summary, jobs["cases_per_job"])]
    return "\n".join(lines) + "\n"


def familywise_sentence(summary: pd.DataFrame, cases_per_job: int) -> str:
    """How many cases one job tests and the chance, at the gate's measured A/A rate, of any false alarm."""
    control = summary[summary["factor"] == 0]
    if control.empty:
        return f"One job tests {cases_per_job} cases; no A/A decision was measured."
    k, n = int(control["gate"].iloc[0]), int(control["cases"].iloc[0])
    low, high = rate_interval(k, n)
    at_high = any_alarm_chance(high, cases_per_job)
    return (
        f"One job tests {cases_per_job} cases. The gate's per-case false-alarm rate is {k}/{n} "
        f"(95% CI {low:.1%}-{high:.1%}); at the interval's upper end, a job of {cases_per_job} cases raises at least "
        f"one false alarm with probability up to {at_high:.1%} (1 - (1 - p)^{cases_per_job}, cases independent)."
    )
