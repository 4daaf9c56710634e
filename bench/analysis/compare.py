"""Compare two runs case by case: the regression gate's decision, as a pure function of two tables.

A case changed only when both hold: the Mann-Whitney U test says the two sides differ (p < alpha) AND the
median change (the Hodges-Lehmann median of the pairwise ratios new/base, see bench.analysis.significance) is
beyond `threshold`. The test decides whether a change is real; the threshold only says how small a real
change is still worth failing a build for. The test alone flags every 1% drift of a long run on a quiet
machine; the threshold alone (pytest-benchmark's `--benchmark-compare-fail`, TorchBench's 7% rule) flags
every noisy sample on a busy one and cannot tell 20 samples from 2.

What the test counts matters as much. Samples from one process are not independent replicates: two
processes running the same code differ systematically (memory layout, allocator state, the neighbours'
load that minute), so a test over pooled samples is overconfident and flags identical code. The replicate
is the round (one process per round, see bench/run/pooling.py). When the two runs were measured side by side
(`rnnbench ci`: round i of both in one process, run.json's `pairing`), the verdict is decided on each
round's ratio new/base (`unit` "pairs", Wilcoxon signed-rank), which cancels what the process and the
moment did to both; else, where both sides have enough rounds for the test to reach p < alpha, on the
per-round medians (`unit` "rounds", Mann-Whitney U); otherwise on the raw samples (`unit` "samples"),
with a warning that says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.analysis import counts
from bench.analysis.case_rows import (
    SHAPE_COLUMNS,
    by_case,
    failed,
    per_round,
    references,
    round_medians,
    rounds_count,
    samples,
)
from bench.analysis.run_checks import environment_warnings, paired_runs, samples_warning
from bench.analysis.significance import (
    compare_paired,
    compare_samples,
    min_p_value,
    min_p_value_paired,
)
from bench.analysis.tail import STATISTICS, compare_quantile, least_samples
from bench.errors import UsageError
from bench.results.schema import IDENTITY_COLUMNS

DEFAULT_THRESHOLD = 0.05
# verdicts that fail the gate, and the order the renderers list verdicts in
GATE_FAILING = ("regression", "failure")
VERDICTS = (
    "regression",
    "failure",
    "improvement",
    "fixed",
    "still_failing",
    "unchanged",
    "incomparable",
    "only_base",
    "only_new",
)
DECIDED = ("regression", "improvement", "unchanged")  # verdicts the statistics gave
TOO_FEW, NO_SAMPLES = "too few samples", "no timing samples"


@dataclass(frozen=True)
class Comparison:
    base_run_id: str
    new_run_id: str
    threshold: float
    alpha: float
    relative_to: str | None
    changes: pd.DataFrame = field(repr=False)
    warnings: tuple[str, ...] = ()
    statistic: str = "median"  # what base_median_s / new_median_s and the ratio are: median or p99 (tail.py)
    tolerance: float | None = None  # where cases were decided on instruction counts (bench/analysis/counts.py)

    @property
    def counts(self) -> dict[str, int]:
        found = self.changes["verdict"].value_counts().to_dict() if len(self.changes) else {}
        return {verdict: int(found.get(verdict, 0)) for verdict in VERDICTS}

    @property
    def failed(self) -> bool:
        """The gate's answer: a regression or a new failure anywhere."""
        return any(self.counts[v] for v in GATE_FAILING)


def _decide(
    base_x: np.ndarray, new_x: np.ndarray, threshold: float, alpha: float, paired: bool = False
) -> tuple[str, dict[str, float], str]:
    if base_x.size == 0 or new_x.size == 0:
        return "incomparable", {}, NO_SAMPLES
    shift = (compare_paired if paired else compare_samples)(base_x, new_x, confidence=1.0 - alpha)
    stats = {
        "ratio": shift.ratio,
        "median_ratio": shift.median_ratio,
        "ratio_low": shift.ratio_low,
        "ratio_high": shift.ratio_high,
        "p_value": shift.p_value,
    }
    if shift.min_p_value >= alpha:
        note = f"{TOO_FEW} to reach p < {alpha:g} ({shift.n_base} vs {shift.n_new})"
        return "incomparable", stats, note
    significant = shift.p_value < alpha
    if significant and shift.ratio - 1.0 > threshold:
        return "regression", stats, ""
    if significant and 1.0 - shift.ratio > threshold:
        return "improvement", stats, ""
    return "unchanged", stats, ""


def _unit(base_rounds: np.ndarray | None, new_rounds: np.ndarray | None, alpha: float, paired: bool = False) -> str:
    """What the test counts: paired rounds when the runs were measured side by side (round i of both in one
    process) and there are enough pairs to reach p < alpha; else rounds when both sides have enough of them;
    else samples."""
    if base_rounds is None or new_rounds is None:
        return "samples"
    if paired and base_rounds.size == new_rounds.size and min_p_value_paired(base_rounds.size) < alpha:
        return "pairs"
    return "rounds" if min_p_value(base_rounds.size, new_rounds.size) < alpha else "samples"


@dataclass(frozen=True)
class Rule:
    """How each case is decided: the gate's settings, and each run's --relative-to reference medians."""

    threshold: float = DEFAULT_THRESHOLD
    alpha: float = 0.01
    relative_to: str | None = None
    statistic: str = "median"
    tolerance: float = counts.DEFAULT_TOLERANCE
    paired: bool = False
    base_refs: dict = field(default_factory=dict)
    new_refs: dict = field(default_factory=dict)


def _check_settings(threshold: float, alpha: float, relative_to, statistic: str, tolerance: float) -> None:
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1, got {alpha}")
    if threshold < 0:
        raise UsageError(f"threshold must be non-negative, got {threshold}")
    if statistic not in STATISTICS:
        raise UsageError(f"unknown statistic {statistic!r}; known: {', '.join(STATISTICS)}")
    if statistic != "median" and relative_to:
        raise UsageError(f"--relative-to needs --statistic median (a {statistic} of ratios is not defined here)")
    if not 0 <= tolerance < 1:
        raise UsageError(f"tolerance must be between 0 and 1, got {tolerance}")


def _rule(base, new, base_run: dict, new_run: dict, **settings) -> Rule:
    relative_to = settings.get("relative_to")
    base_refs = references(base, relative_to) if relative_to else {}
    new_refs = references(new, relative_to) if relative_to else {}
    if relative_to and not (base_refs and new_refs):
        raise UsageError(f"--relative-to {relative_to}: no successful {relative_to} case in both runs")
    return Rule(**settings, paired=paired_runs(base_run, new_run), base_refs=base_refs, new_refs=new_refs)


def _blank_record(case_id: str, b, n) -> dict:
    """A case's row of the comparison before it is decided: identity, statuses, every figure missing."""
    some = n if n is not None else b
    record = {"case_id": case_id, **{c: some.get(c) for c in IDENTITY_COLUMNS}}
    record.update(base_status=None if b is None else b.get("status"), new_status=None if n is None else n.get("status"))
    record.update(dict.fromkeys(_FIGURES, math.nan), unit=None, n_base=0, n_new=0)
    return record


_FIGURES = ("base_median_s", "new_median_s", "ratio", "median_ratio", "ratio_low", "ratio_high", "p_value")
_FIGURES += ("base_instructions_per_call", "new_instructions_per_call")


def _ordered(changes: pd.DataFrame) -> pd.DataFrame:
    """Verdicts in VERDICTS order, the largest slowdowns first within each."""
    order = {v: i for i, v in enumerate(VERDICTS)}
    return changes.sort_values(
        by=["verdict", "ratio", "case_id"],
        key=lambda s: s.map(order) if s.name == "verdict" else (-s if s.name == "ratio" else s),
        na_position="last",
    ).reset_index(drop=True)


def compare_runs(
    base: pd.DataFrame,
    new: pd.DataFrame,
    base_run: dict | None = None,
    new_run: dict | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = 0.01,
    relative_to: str | None = None,
    statistic: str = "median",
    tolerance: float = counts.DEFAULT_TOLERANCE,
) -> Comparison:
    """One row per case found in either run, with its verdict; see VERDICTS."""
    _check_settings(threshold, alpha, relative_to, statistic, tolerance)
    base_run, new_run = base_run or {}, new_run or {}
    base_rows, new_rows = by_case(base), by_case(new)
    if not set(base_rows) & set(new_rows):
        raise UsageError("the two runs have no cases in common")
    settings = dict(threshold=threshold, alpha=alpha, relative_to=relative_to, statistic=statistic, tolerance=tolerance)
    rule = _rule(base, new, base_run, new_run, **settings)
    records, decided_on_samples = [], []
    for case_id in sorted(set(base_rows) | set(new_rows)):
        b, n = base_rows.get(case_id), new_rows.get(case_id)
        record = _blank_record(case_id, b, n)
        if statistic == "median":
            verdict, note = _verdict(b, n, record, rule)
        else:
            verdict, note = _tail_verdict(b, n, record, rule, STATISTICS[statistic])
        record.update(verdict=verdict, note=note)
        if record["unit"] == "samples" and (verdict in DECIDED or note.startswith(TOO_FEW)):
            decided_on_samples.append((rounds_count(b), rounds_count(n)))
        records.append(record)
    changes = _ordered(pd.DataFrame.from_records(records))
    return Comparison(
        base_run_id=str(base_run.get("run_id") or _first(base, "run_id") or "base"),
        new_run_id=str(new_run.get("run_id") or _first(new, "run_id") or "new"),
        threshold=threshold,
        alpha=alpha,
        relative_to=relative_to,
        changes=changes,
        warnings=tuple(environment_warnings(base_run, new_run))
        + tuple(w for w in [samples_warning(decided_on_samples, alpha)] if w and statistic == "median"),
        statistic=statistic,
        tolerance=tolerance if (changes["unit"] == counts.UNIT).any() else None,
    )


def _first(table: pd.DataFrame, column: str):
    return table[column].iloc[0] if column in table.columns and len(table) else None


def _verdict(b, n, record: dict, rule: Rule) -> tuple[str, str]:
    """A case's verdict and note; fills `record`'s figures."""
    threshold, alpha, relative_to = rule.threshold, rule.alpha, rule.relative_to
    if n is None:
        return "only_base", "not measured in the new run"
    if b is None:
        return "only_new", "not measured in the base run"
    base_x, new_x = samples(b), samples(n)
    base_r, new_r = round_medians(b), round_medians(n)
    _describe(record, _unit(base_r, new_r, alpha, rule.paired), base_x, new_x, base_r, new_r)
    base_failure, new_failure = failed(b), failed(n)
    if new_failure and base_failure:
        return "still_failing", new_failure
    if new_failure:
        return "failure", new_failure
    if base_failure:
        return "fixed", f"was {base_failure}"
    if b.get("status") != "ok" or n.get("status") != "ok":
        return "incomparable", (n.get("error") if n.get("status") != "ok" else b.get("error")) or "not measured"
    if counts.counted(b) or counts.counted(n):  # the instructions clock: a tolerance, no test
        verdict, figures, note = counts.decide(b, n, rule.tolerance)
        record.update(figures)
        return verdict, note
    if relative_to:
        if n.get("impl") == relative_to:
            return "incomparable", f"the reference of --relative-to {relative_to}"
        shape = tuple(n.get(c) for c in SHAPE_COLUMNS)
        if shape not in rule.base_refs or shape not in rule.new_refs:
            return "incomparable", f"no ok {relative_to} case at this shape in both runs"
        base_ref, new_ref = rule.base_refs[shape], rule.new_refs[shape]
        base_r, new_r = per_round(base_r, base_ref), per_round(new_r, new_ref)
        if (
            record["unit"] != "samples" and _unit(base_r, new_r, alpha) == "samples"
        ):  # rounds unpaired with the reference's
            _describe(record, "samples", base_x, new_x, None, None)
        base_x, new_x = base_x / base_ref.median_s, new_x / new_ref.median_s
    on_rounds = record["unit"] in ("rounds", "pairs")
    verdict, stats, note = _decide(
        base_r if on_rounds else base_x, new_r if on_rounds else new_x, threshold, alpha, record["unit"] == "pairs"
    )
    record.update(stats)
    return verdict, note


def _tail_verdict(b, n, record: dict, rule: Rule, quantile: float) -> tuple[str, str]:
    """The verdict on a high quantile of the raw samples (streaming: one per step), see bench/analysis/tail.py."""
    if n is None or b is None:
        return _verdict(b, n, record, Rule(rule.threshold, rule.alpha))
    base_failure, new_failure = failed(b), failed(n)
    if base_failure or new_failure or b.get("status") != "ok" or n.get("status") != "ok":
        return _verdict(b, n, record, Rule(rule.threshold, rule.alpha))
    base_x, new_x = samples(b), samples(n)
    record.update(unit="samples", n_base=int(base_x.size), n_new=int(new_x.size))
    if min(base_x.size, new_x.size) < least_samples(quantile):
        return "incomparable", f"{TOO_FEW} for a p{quantile * 100:g} (at least {least_samples(quantile)} per side)"
    shift = compare_quantile(base_x, new_x, quantile, confidence=1.0 - rule.alpha)
    threshold = rule.threshold
    record.update(
        base_median_s=shift.base_s, new_median_s=shift.new_s, ratio=shift.ratio, median_ratio=shift.ratio,
        ratio_low=shift.ratio_low, ratio_high=shift.ratio_high, p_value=shift.p_value,
    )  # fmt: skip
    outside = shift.ratio_low > 1.0 or shift.ratio_high < 1.0  # the interval excludes no change
    if outside and shift.ratio - 1.0 > threshold:
        return "regression", ""
    if outside and 1.0 - shift.ratio > threshold:
        return "improvement", ""
    return "unchanged", ""


def _describe(record: dict, unit: str, base_x, new_x, base_r, new_r) -> None:
    """The unit the case is decided on, its count per side and each side's median, in seconds."""
    base_values, new_values = (base_r, new_r) if unit in ("rounds", "pairs") else (base_x, new_x)
    record.update(
        unit=unit,
        base_median_s=float(np.median(base_values)) if base_values.size else math.nan,
        new_median_s=float(np.median(new_values)) if new_values.size else math.nan,
        n_base=int(base_values.size),
        n_new=int(new_values.size),
    )
