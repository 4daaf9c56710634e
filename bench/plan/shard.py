"""Split a sweep's cases into N shards of about equal cost, and merge shard runs back into one run.

Pure functions: sharding depends only on the cases (never on the machine or the clock), so every
job of an array computes the same split and every case lands in exactly one shard.
"""

from __future__ import annotations

import heapq
import re

import pandas as pd

from bench.errors import UsageError
from bench.plan.cases import Case
from bench.plan.flops import case_flops

SHARD_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """'3/8' -> (3, 8); shards are numbered from 1."""
    match = SHARD_PATTERN.match(text or "")
    if not match:
        raise UsageError(f"--shard takes K/N (e.g. 3/8), got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise UsageError(f"--shard {text}: K must be between 1 and N")
    return index, count


def estimated_cost(case: Case, skipped: bool) -> float:
    """FLOPs stand in for time; a skipped case costs nothing but still belongs to one shard."""
    return 0.0 if skipped else float(case_flops(case))


def assign_shards(cases: list[tuple[Case, str | None]], count: int) -> list[int]:
    """Shard number (1..count) of each case: longest-processing-time-first onto the least loaded shard.

    Ties break on case_id and shard number, so the result is the same wherever it is computed.
    """
    order = sorted(
        range(len(cases)), key=lambda i: (-estimated_cost(cases[i][0], cases[i][1] is not None), cases[i][0].case_id)
    )
    loads = [(0.0, 0, shard) for shard in range(1, count + 1)]  # (cost, number of cases, shard)
    heapq.heapify(loads)
    assignment = [0] * len(cases)
    for i in order:
        cost, n, shard = heapq.heappop(loads)
        assignment[i] = shard
        heapq.heappush(loads, (cost + estimated_cost(cases[i][0], cases[i][1] is not None), n + 1, shard))
    return assignment


def select_shard(cases: list[tuple[Case, str | None]], index: int, count: int) -> list[tuple[Case, str | None]]:
    assignment = assign_shards(cases, count)
    return [case for case, shard in zip(cases, assignment) if shard == index]


def shard_run_id(run_id: str, index: int, count: int) -> str:
    return f"{run_id}-shard-{index}-of-{count}"


def merge_runs(parts: list[tuple[dict, pd.DataFrame]], run_id: str) -> tuple[dict, pd.DataFrame]:
    """One run from shard runs of the same spec; overlapping cases or different specs are refused."""
    if not parts:
        raise UsageError("nothing to merge")
    first_meta = parts[0][0]
    for meta, _ in parts[1:]:
        if meta.get("spec") != first_meta.get("spec"):
            raise UsageError(
                f"cannot merge {meta.get('run_id')} with {first_meta.get('run_id')}: different sweep specs"
            )
    seen: dict[str, str] = {}
    for meta, frame in parts:
        for case_id in frame["case_id"]:
            if case_id in seen:
                raise UsageError(f"case {case_id} is in both {seen[case_id]} and {meta.get('run_id')}: shards overlap")
            seen[case_id] = meta.get("run_id")
    frames = [frame for _, frame in parts if len(frame)]
    merged = pd.concat(frames, ignore_index=True) if frames else parts[0][1].iloc[0:0]
    merged["run_id"] = run_id
    environments = [meta.get("environment", {}) for meta, _ in parts]
    peaks: dict = {}
    baselines: dict = {}
    described: dict = {}
    for meta, _ in parts:
        peaks.update(meta.get("peak_flops_per_s") or {})
        baselines.update(meta.get("baselines") or {})
        described.update(meta.get("implementations") or {})
    statuses = {meta.get("status") for meta, _ in parts}
    counts = {(meta.get("shard") or {}).get("count") for meta, _ in parts}
    indexes = {(meta.get("shard") or {}).get("index") for meta, _ in parts}
    missing = sorted(set(range(1, max(counts) + 1)) - indexes) if None not in counts and len(counts) == 1 else []
    if len(counts) > 1:
        raise UsageError(f"cannot merge shards of different splits: {sorted(map(str, counts))} shards")
    meta = {
        "run_id": run_id,
        "command": first_meta.get("command"),
        "spec": first_meta.get("spec"),
        "plugins": first_meta.get("plugins", []),
        "environment": environments[0],
        "environments": {m.get("run_id"): env for (m, _), env in zip(parts, environments)},
        "hosts": sorted({env.get("host") for env in environments if env.get("host")}),
        "machines": {host: facts for m, _ in parts for host, facts in (m.get("machines") or {}).items()},
        "merged_from": [m.get("run_id") for m, _ in parts],
        "started_at": min((m.get("started_at") or "" for m, _ in parts), default=None),
        "finished_at": max((m.get("finished_at") or "" for m, _ in parts), default=None),
        "status": "complete" if statuses == {"complete"} and not missing else "incomplete",
        "missing_shards": missing,
        "peak_flops_per_s": peaks,
        "baselines": baselines,
        "implementations": described,
        "counts": {str(k): int(v) for k, v in merged["status"].value_counts().items()} if len(merged) else {},
    }
    return meta, merged
