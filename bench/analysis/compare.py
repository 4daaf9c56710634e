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

import pandas as pd

from bench.analysis import counts
from bench.analysis.case_rows import by_case, references, rounds_count
from bench.analysis.case_verdict import DEFAULT_THRESHOLD, TOO_FEW, Rule, tail_verdict, verdict
from bench.analysis.run_checks import environment_warnings, paired_runs, samples_warning
from bench.analysis.tail import STATISTICS
from bench.errors import UsageError
from bench.results.schema import IDENTITY_COLUMNS

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
            decided, note = verdict(b, n, record, rule)
        else:
            decided, note = tail_verdict(b, n, record, rule, STATISTICS[statistic])
        record.update(verdict=decided, note=note)
        if record["unit"] == "samples" and (decided in DECIDED or note.startswith(TOO_FEW)):
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
