"""The page's header and links: when and where the run ran, its command, spec and matmul peaks, and the run's
files beside the page."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pandas as pd

from bench.render.report import data
from bench.render.report.html import fmt_plain, fmt_rate, fmt_seconds

ENVIRONMENT_LABELS = [
    ("host", "host"),
    ("cpu_model", "CPU"),
    ("cpu_count", "cores"),
    ("threads", "threads"),
    ("gpus", "GPUs"),
    ("platform", "OS"),
    ("python", "Python"),
    ("torch", "torch"),
    ("cuda", "CUDA"),
    ("cudnn", "cuDNN"),
    ("onednn", "oneDNN"),
]


def _when(meta: dict) -> dict:
    def parse(text):
        try:
            return datetime.fromisoformat(str(text))
        except (TypeError, ValueError):
            return None

    start, end = parse(meta.get("started_at")), parse(meta.get("finished_at"))
    duration = fmt_seconds((end - start).total_seconds()) if start and end else "—"
    return {
        "started": start.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if start else fmt_plain(meta.get("started_at")),
        "finished": end.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if end else "not finished",
        "duration": duration,
    }


def _listing(value) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_listing(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_listing(v)}" for k, v in value.items())
    return fmt_plain(value)


def header(meta: dict, df: pd.DataFrame) -> dict:
    environment = meta.get("environment") or {}
    env_items = [(label, _listing(environment.get(key))) for key, label in ENVIRONMENT_LABELS]
    commit = environment.get("git_commit")
    if commit:
        commit = f"{commit}{' (uncommitted changes)' if environment.get('git_dirty') else ''}"
    peaks = meta.get("peak_flops_per_s") or {}
    return {
        "run_id": fmt_plain(meta.get("run_id")),
        "status": fmt_plain(meta.get("status")),
        "complete": meta.get("status") == "complete",
        "when": _when(meta),
        "command": " ".join(str(a) for a in meta.get("command") or []) or "—",
        "environment": env_items,
        "git_commit": fmt_plain(commit),
        "spec": [(str(k), _listing(v)) for k, v in (meta.get("spec") or {}).items()],
        "peaks": [(str(k), fmt_rate(v, "FLOP/s")) for k, v in peaks.items()],
        "counts": data.status_counts(df),
        "n_cases": len(df),
    }


def links(run_dir: Path, out_dir: Path, copied_csv: str | None) -> list[dict]:
    out = []
    if copied_csv:
        out.append({"href": copied_csv, "text": copied_csv, "note": "copy beside this page"})
    for name, note in (
        ("measurements.parquet", "every column, raw samples included"),
        ("measurements.csv", "in the run directory"),
        ("run.json", "environment, spec, matmul peaks"),
        ("top_ops.parquet", "profiler operators"),
    ):
        path = run_dir / name
        if path.is_file():
            href = Path(os.path.relpath(path.resolve(), out_dir.resolve())).as_posix()
            out.append({"href": href, "text": f"{run_dir.name}/{name}", "note": note})
    return out
