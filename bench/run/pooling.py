"""One row from several rounds of the same case: the rule the sweep's rounds and `rnnbench ci` share.

Pure: rows in, row out. Every ok round's samples are pooled and every statistic is recomputed from them;
a round that failed makes the case failed (a crash in any round is a finding), keeping the samples of the
rounds that worked; a case incorrect in any round is incorrect.

The pooled samples describe the case; they are not independent replicates of it. Two processes running the
same code differ systematically (memory layout, allocator state, what the neighbours did that minute), so
each round's median is kept too, in round order (`round_medians_s`): the regression gate tests those.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.analysis.stats import summarize
from bench.plan.flops import throughput_fields
from bench.results.vocabulary import FAILED_STATUSES


def _rounds(row: dict) -> int:
    value = row.get("rounds")
    return int(value) if value is not None and value == value else 1


def round_medians(row: dict) -> list[float]:
    """The row's per-round medians; a row written before they were recorded counts as one round."""
    value, samples = row.get("round_medians_s"), row.get("samples_s")
    if isinstance(value, list | tuple | np.ndarray) and len(value):
        return [float(v) for v in value]
    if isinstance(samples, list | tuple | np.ndarray) and len(samples):
        return [float(np.median(np.asarray(samples, dtype=float)))]
    return []


def pool_rows(rows: Sequence[dict]) -> dict:
    row = dict(rows[0])
    failed = [r for r in rows if r.get("status") in FAILED_STATUSES]
    if failed:
        row.update(status=failed[0]["status"], error=failed[0].get("error"))
    ok = [r for r in rows if r.get("status") == "ok" and r.get("samples_s") is not None]
    samples = [float(s) for r in ok for s in r["samples_s"]]
    if samples:
        row.update(summarize(samples).as_dict(), samples_s=samples)
        row["round_medians_s"] = [median for r in ok for median in round_medians(r)]
        counts = [_rounds(r) for r in ok]
        row["rounds"] = sum(counts)
        for key in ("forward_median_s", "backward_median_s"):  # their samples are not kept: weighted mean
            known = [(r[key], n) for r, n in zip(ok, counts) if r.get(key) is not None and r[key] == r[key]]
            if known:
                row[key] = sum(v * n for v, n in known) / sum(n for _, n in known)
        row["calls_per_sample"] = max(int(r.get("calls_per_sample") or 1) for r in ok)
        elapsed = [float(s) for r in ok for s in (r.get("elapsed_samples_s") or [])]
        if elapsed:
            row["elapsed_samples_s"] = elapsed
        row["elapsed_median_s"] = float(np.median(elapsed)) if elapsed else row["median_s"]
        if row.get("flops"):
            row.update(throughput_fields(row["flops"], row["elapsed_median_s"], row.get("peak_flops_per_s")))
    correct = [r.get("correct") for r in rows if r.get("correct") is not None and r.get("correct") == r.get("correct")]
    row["correct"] = all(bool(c) for c in correct) if correct else None
    row["wall_s"] = sum(float(r.get("wall_s") or 0.0) for r in rows)
    return row
