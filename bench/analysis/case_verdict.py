"""How the gate decides one case from its row in each run: on the median (Mann-Whitney U over rounds or samples,
Wilcoxon over paired rounds, optionally relative to a reference implementation), on a high quantile, or on
instruction counts; the pure core of bench.analysis.compare."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bench.analysis import counts
from bench.analysis.case_rows import SHAPE_COLUMNS, failed, per_round, round_medians, samples
from bench.analysis.significance import compare_paired, compare_samples, min_p_value, min_p_value_paired
from bench.analysis.tail import compare_quantile, least_samples

DEFAULT_THRESHOLD = 0.05
TOO_FEW, NO_SAMPLES = "too few samples", "no timing samples"


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


def verdict(b, n, record: dict, rule: Rule) -> tuple[str, str]:
    """A case's verdict and note on its median (b, n: the case's row in each run, None where absent); fills
    `record`'s figures."""
    if n is None:
        return "only_base", "not measured in the new run"
    if b is None:
        return "only_new", "not measured in the base run"
    base_x, new_x = samples(b), samples(n)
    base_r, new_r = round_medians(b), round_medians(n)
    _describe(record, _unit(base_r, new_r, rule.alpha, rule.paired), base_x, new_x, base_r, new_r)
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
        decided, figures, note = counts.decide(b, n, rule.tolerance)
        record.update(figures)
        return decided, note
    if rule.relative_to:
        relative = _relative(n, record, rule, base_x, new_x, base_r, new_r)
        if isinstance(relative, str):
            return "incomparable", relative
        base_x, new_x, base_r, new_r = relative
    on_rounds = record["unit"] in ("rounds", "pairs")
    decided, stats, note = _decide(
        base_r if on_rounds else base_x,
        new_r if on_rounds else new_x,
        rule.threshold,
        rule.alpha,
        record["unit"] == "pairs",
    )
    record.update(stats)
    return decided, note


def _relative(n, record: dict, rule: Rule, base_x, new_x, base_r, new_r):
    """Each side's samples and rounds over its own --relative-to reference at the case's shape, or why the case
    cannot be compared so (a note)."""
    relative_to = rule.relative_to
    if n.get("impl") == relative_to:
        return f"the reference of --relative-to {relative_to}"
    shape = tuple(n.get(c) for c in SHAPE_COLUMNS)
    if shape not in rule.base_refs or shape not in rule.new_refs:
        return f"no ok {relative_to} case at this shape in both runs"
    base_ref, new_ref = rule.base_refs[shape], rule.new_refs[shape]
    base_r, new_r = per_round(base_r, base_ref), per_round(new_r, new_ref)
    if (
        record["unit"] != "samples" and _unit(base_r, new_r, rule.alpha) == "samples"
    ):  # rounds unpaired with the reference's
        _describe(record, "samples", base_x, new_x, None, None)
    return base_x / base_ref.median_s, new_x / new_ref.median_s, base_r, new_r


def tail_verdict(b, n, record: dict, rule: Rule, quantile: float) -> tuple[str, str]:
    """The verdict on a high quantile of the raw samples (streaming: one per step), see bench/analysis/tail.py."""
    if n is None or b is None:
        return verdict(b, n, record, Rule(rule.threshold, rule.alpha))
    base_failure, new_failure = failed(b), failed(n)
    if base_failure or new_failure or b.get("status") != "ok" or n.get("status") != "ok":
        return verdict(b, n, record, Rule(rule.threshold, rule.alpha))
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
