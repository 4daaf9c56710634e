"""One run from the shard runs of one spec (`rnnbench merge`): their rows together, their metadata combined."""

from __future__ import annotations

import pandas as pd

from bench.errors import UsageError


def merge_runs(parts: list[tuple[dict, pd.DataFrame]], run_id: str) -> tuple[dict, pd.DataFrame]:
    """One run from shard runs of the same spec; overlapping cases or different specs are refused."""
    _check(parts)
    frames = [frame for _, frame in parts if len(frame)]
    merged = pd.concat(frames, ignore_index=True) if frames else parts[0][1].iloc[0:0]
    merged["run_id"] = run_id
    return _meta(parts, run_id, merged), merged


def _check(parts: list[tuple[dict, pd.DataFrame]]) -> None:
    """Shards of one spec, no case in two of them."""
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


def _meta(parts: list[tuple[dict, pd.DataFrame]], run_id: str, merged: pd.DataFrame) -> dict:
    """The merged run's run.json: every shard's environment, peaks, baselines and implementations."""
    first_meta = parts[0][0]
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
    return meta
