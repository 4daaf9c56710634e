"""A comparison as text: a coloured terminal table, a Markdown summary for CI, JSON for machines."""

from __future__ import annotations

import json
import math

import pandas as pd

from bench.analysis.compare import TOO_FEW, Comparison
from bench.analysis.counts import UNIT
from bench.render.terminal import color, format_table
from bench.results.vocabulary import MISSING, format_instructions, format_seconds, shape_label
from bench.results.vocabulary import missing as _missing

VERDICT_COLORS = {
    "regression": "red",
    "failure": "red",
    "improvement": "green",
    "fixed": "green",
    "still_failing": "yellow",
    "incomparable": "yellow",
    "unchanged": "dim",
}
VERDICT_LABELS = {
    "regression": "regression",
    "failure": "new failure",
    "improvement": "improvement",
    "fixed": "fixed",
    "still_failing": "still failing",
    "unchanged": "unchanged",
    "incomparable": "incomparable",
    "only_base": "only in base",
    "only_new": "only in new",
}
COMPARED = ("regression", "failure", "improvement", "fixed", "still_failing", "unchanged", "incomparable")


def case_label(row: pd.Series) -> str:
    """Short, readable identity: `lstm.native inference b32 t128 i64 h256 l1 uni float32 cpu`."""
    return " ".join([str(row["key"]), str(row["mode"]), shape_label(row), str(row["dtype"]), str(row["device"])])


def format_value(row: pd.Series, side: str) -> str:
    """A side's figure: its median time, or its instruction count per call where the case was decided on counts."""
    if row.get("unit") == UNIT:
        return format_instructions(row.get(f"{side}_instructions_per_call", math.nan))
    return format_seconds(row[f"{side}_median_s"])


def format_change(ratio: float) -> str:
    return MISSING if _missing(ratio) else f"{(ratio - 1) * 100:+.1f}%"


def format_interval(low: float, high: float) -> str:
    """The interval of the factor; (0, inf) is what too few samples give: no interval, said in words."""
    if _missing(low) or _missing(high):
        return MISSING
    if low <= 0 and math.isinf(high):
        return TOO_FEW
    high_text = "inf" if math.isinf(high) else f"{(high - 1) * 100:+.1f}%"
    return f"[{(low - 1) * 100:+.1f}%, {high_text}]"


def format_p(p: float) -> str:
    return MISSING if _missing(p) else f"{p:.3g}"  # 0.0104 must not read as 0.01 beside alpha 0.01


def format_basis(row: pd.Series) -> str:
    """What the verdict rests on: `16 pairs` (ratios of rounds measured side by side), `8 vs 8 rounds`
    (per-round medians) or `24 vs 31 samples`."""
    unit = row.get("unit")
    if _missing(unit) or not unit:
        return MISSING
    if unit == "pairs":
        return f"{int(row['n_new'])} pairs"
    return f"{int(row['n_base'])} vs {int(row['n_new'])} {unit}"


def _plural(label: str, count: int) -> str:
    return label + "s" if count > 1 and label in ("regression", "new failure", "improvement") else label


def headline(comparison: Comparison) -> str:
    counts = comparison.counts
    parts = [f"{counts[v]} {_plural(VERDICT_LABELS[v], counts[v])}" for v in COMPARED if counts[v]]
    verdict = "FAIL" if comparison.failed else "PASS"
    return f"{verdict}: " + (", ".join(parts) if parts else "nothing compared")


def _parameters(comparison: Comparison) -> str:
    text = f"threshold {comparison.threshold:.0%}, alpha {comparison.alpha:g}"
    if comparison.tolerance is not None:
        text += f", instruction counts: tolerance {comparison.tolerance:.2%}"
    if comparison.relative_to:
        text += f", each case relative to {comparison.relative_to} in its own run"
    if comparison.statistic != "median":
        text += f", on the {comparison.statistic} of the raw samples (bootstrap interval)"
    return text


def _figures(row: pd.Series) -> list[str]:
    """The cells every table of changes shows, in order: base and new median, change, interval, p, basis."""
    return [
        format_value(row, "base"),
        format_value(row, "new"),
        format_change(row["ratio"]),
        format_interval(row["ratio_low"], row["ratio_high"]),
        format_p(row["p_value"]),
        format_basis(row),
    ]


def to_terminal(comparison: Comparison, use_color: bool = False) -> str:
    changes = comparison.changes
    rows = []
    for _, row in changes[changes["verdict"].isin(COMPARED)].iterrows():
        verdict = row["verdict"]
        rows.append(
            [
                color(VERDICT_LABELS[verdict], VERDICT_COLORS.get(verdict, "dim"), use_color),
                case_label(row),
                *_figures(row),
                row["note"] or "",
            ]
        )
    stat = comparison.statistic
    headers = ["verdict", "case", f"base {stat}", f"new {stat}", "change", "interval", "p", "decided on", "note"]
    lines = [f"{comparison.base_run_id} -> {comparison.new_run_id} ({_parameters(comparison)})", ""]
    lines.append(format_table(headers, rows, align_right=(2, 3, 4, 6)))
    for verdict in ("only_base", "only_new"):
        apart = changes[changes["verdict"] == verdict]
        if len(apart):
            lines += ["", f"{VERDICT_LABELS[verdict]} ({len(apart)}):"]
            lines += [f"  {case_label(row)}" for _, row in apart.iterrows()]
    for warning in comparison.warnings:
        lines += ["", color(f"warning: {warning}", "yellow", use_color)]
    lines += ["", color(headline(comparison), "red" if comparison.failed else "green", use_color)]
    return "\n".join(lines)


def _md_table(frame: pd.DataFrame, stat: str = "median") -> list[str]:
    lines = [
        f"| case | base {stat} | new {stat} | change | interval | p | decided on | note |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for _, row in frame.iterrows():
        cells = [
            f"`{case_label(row)}`",
            *_figures(row),
            str(row["note"] or "").replace("|", "\\|"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def to_markdown(comparison: Comparison) -> str:
    """A summary for a CI job summary or a pull-request comment: the verdict first, details folded."""
    changes = comparison.changes
    mark = ":x:" if comparison.failed else ":white_check_mark:"
    lines = [f"## {mark} Benchmark gate: {headline(comparison)}", ""]
    lines.append(f"`{comparison.base_run_id}` (base) vs `{comparison.new_run_id}` (new); {_parameters(comparison)}.")
    lines.append(
        "A case changed when the test gives p < alpha and the change new/base is beyond the threshold. "
        "*Decided on* says over what: pairs (each process timed both sides: Wilcoxon signed-rank on the "
        "ratios), rounds (one median per process: Mann-Whitney U) or raw samples (too few rounds: U)."
        + (
            " Instruction counts (counts) need no test: a case changed when its count per call moved beyond the "
            "tolerance; the interval spans its repeats."
            if comparison.tolerance is not None
            else ""
        )
    )
    for warning in comparison.warnings:
        lines += ["", f"> **Warning:** {warning}"]
    for verdict in ("regression", "failure", "improvement", "fixed", "still_failing"):
        part = changes[changes["verdict"] == verdict]
        if len(part):
            lines += ["", f"### {VERDICT_LABELS[verdict].capitalize()} ({len(part)})", ""] + _md_table(
                part, comparison.statistic
            )
    for verdict in ("unchanged", "incomparable", "only_base", "only_new"):
        part = changes[changes["verdict"] == verdict]
        if len(part):
            lines += ["", f"<details><summary>{VERDICT_LABELS[verdict].capitalize()} ({len(part)})</summary>", ""]
            lines += _md_table(part, comparison.statistic) + ["", "</details>"]
    return "\n".join(lines) + "\n"


def _jsonable(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return value


def to_json(comparison: Comparison) -> str:
    records = [
        {key: _jsonable(value) for key, value in record.items()}
        for record in comparison.changes.to_dict(orient="records")
    ]
    document = {
        "base_run_id": comparison.base_run_id,
        "new_run_id": comparison.new_run_id,
        "threshold": comparison.threshold,
        "alpha": comparison.alpha,
        "tolerance": comparison.tolerance,
        "relative_to": comparison.relative_to,
        "failed": comparison.failed,
        "counts": comparison.counts,
        "warnings": list(comparison.warnings),
        "changes": records,
    }
    return json.dumps(document, indent=2)
