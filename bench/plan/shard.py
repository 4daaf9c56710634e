"""Split a sweep's cases into N shards of about equal cost, and merge shard runs back into one run.

Pure functions: sharding depends only on the cases (never on the machine or the clock), so every
job of an array computes the same split and every case lands in exactly one shard.
"""

from __future__ import annotations

import heapq
import re

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
