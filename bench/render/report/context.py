"""Everything the page template shows, as plain values: formatted cells, counts, messages, links."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pandas as pd

from bench.analysis.stats import TOO_FEW_FOR_CI
from bench.render.report import data
from bench.render.report.html import (
    fmt_bytes,
    fmt_plain,
    fmt_rate,
    fmt_sci,
    fmt_seconds,
    fmt_speedup,
    sort_value,
    speedup_class,
)
from bench.render.report.notes import timing_messages
from bench.results.vocabulary import FAILED_STATUSES, STATUSES

KNOWN_STATUSES = set(STATUSES)

# (header, column, formatter); the formatter turns a raw value into the text shown with its unit
TABLE_COLUMNS = [
    ("status", "status", fmt_plain),
    ("implementation", "key", fmt_plain),
    ("device", "device", fmt_plain),
    ("dtype", "dtype", fmt_plain),
    ("mode", "mode", fmt_plain),
    ("batch", "batch", fmt_plain),
    ("seq_len", "seq_len", fmt_plain),
    ("input", "input_size", fmt_plain),
    ("hidden", "hidden_size", fmt_plain),
    ("layers", "num_layers", fmt_plain),
    ("bidir", "bidirectional", fmt_plain),
    ("lengths", "length_dist", fmt_plain),
    ("median", "median_s", fmt_seconds),
    ("step p99", "step_p99_s", fmt_seconds),  # streaming: the tail beside the median
    ("IQR", "iqr_s", fmt_seconds),
    ("95% CI of median", "interval", fmt_plain),  # "low – high", or why there is none (see interval_text)
    ("samples", "n_samples", fmt_plain),
    ("cache", "cache", fmt_plain),
    ("isolation", "isolation", fmt_plain),
    ("forward", "forward_median_s", fmt_seconds),
    ("backward", "backward_median_s", fmt_seconds),
    ("first call", "first_call_s", fmt_seconds),
    ("peak memory", "peak_mem_bytes", fmt_bytes),
    ("throughput", "tokens_per_s", lambda v: fmt_rate(v, "tok/s")),
    ("achieved", "achieved_flops_per_s", lambda v: fmt_rate(v, "FLOP/s")),
    ("efficiency", "efficiency_pct", lambda v: "—" if pd.isna(v) else f"{v:.1f} %" + (" (above peak)" * (v > 100))),
    ("vs baseline", "speedup", fmt_speedup),
    ("max abs err", "max_abs_err", fmt_sci),
    ("rel err", "rel_err", fmt_sci),
    ("grad rel err", "grad_rel_err", fmt_sci),
    ("correct", "correct", fmt_plain),
    ("error", "error", fmt_plain),
]
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


def _value(row: pd.Series, column: str):
    if column == "interval":
        return interval_text(row)
    value = row.get(column) if column in row.index else None
    return None if value is pd.NA else value


def interval_text(row: pd.Series) -> str | None:
    """The interval of the median as shown: "low – high", "too few samples" where the row has none."""
    low, high = row.get("ci_low_s"), row.get("ci_high_s")
    if pd.notna(low) and pd.notna(high):
        return f"{fmt_seconds(low)} – {fmt_seconds(high)}"
    if row.get("status") == "ok":
        return TOO_FEW_FOR_CI
    return None


def table_rows(df: pd.DataFrame, columns=TABLE_COLUMNS) -> list[list[dict]]:
    """Cells with shown text, a raw sort key and a CSS class; the template only lays them out."""
    rows = []
    for _, row in df.iterrows():
        cells = []
        for _header, column, formatter in columns:
            value = _value(row, column)
            css = ""
            if column == "status":
                css = f"st st-{value}" if value in KNOWN_STATUSES else "st st-other"
            elif column == "speedup":
                css = f"num {speedup_class(value)}"
            elif column == "correct":
                css = "bad" if value is False or value == False else ""  # noqa: E712 - numpy bools too
            elif column == "key":
                css = "text"
            elif column == "error":
                css = "text reason"
            else:
                css = "num" if column not in ("device", "dtype", "mode") else ""
            key = _value(row, "ci_low_s") if column == "interval" else value  # intervals sort by their low end
            cells.append({"text": formatter(value), "sort": sort_value(key), "css": css})
        rows.append(cells)
    return rows


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


def messages(df: pd.DataFrame) -> list[str]:
    """Plain sentences for runs where the usual tables would be empty or misleading."""
    out = []
    measured = df[data.usable(df)]
    if df.empty:
        out.append("This run has no measurements (a profiling run records operators only; see Top operators).")
    elif measured.empty:
        out.append("No case produced a correct measurement: nothing to compare. The failures below say why.")
    elif len(measured) == 1:
        out.append("Only one case was measured: there is nothing to compare it with.")
    out += timing_messages(df)  # bench/render/report/notes.py
    if not df.empty:
        out += _baseline_messages(df)
    return out


def _baseline_messages(df: pd.DataFrame) -> list[str]:
    """One sentence per baseline that is absent, or never measured, in the families that use it."""
    absent: dict[str, list[str]] = {}
    unmeasured: dict[str, list[str]] = {}
    for family, rows in df.groupby("family", sort=True):
        base, chosen = rows["baseline"].iloc[0], data.is_baseline(rows)
        if not chosen.any():
            absent.setdefault(base, []).append(str(family))
        elif not rows[chosen]["status"].eq("ok").any():
            unmeasured.setdefault(base, []).append(str(family))
    out = [
        f"This run has no '{base}' implementation ({', '.join(fams)}): speedups over {base} cannot be computed; "
        "the verdict still ranks the implementations that ran."
        for base, fams in absent.items()
    ]
    out += [
        f"No '{base}' case was measured ({', '.join(fams)}): speedups over {base} cannot be computed."
        for base, fams in unmeasured.items()
    ]
    return out


def verdict_rows(table: pd.DataFrame) -> list[dict]:
    rows = []
    for _, r in table.iterrows():
        rows.append(
            {
                "setting": f"{r['family']} · {r['mode']}",
                "device": f"{r['device']} {r['dtype']}",
                "shape": r["shape"],
                "fastest": fmt_plain(r["fastest"]) if r["n_usable"] else "no correct measurement",
                "median": fmt_seconds(r["median_s"]),
                "baseline": fmt_seconds(r["baseline_median_s"]),
                "baseline_name": fmt_plain(r["baseline"]),
                "speedup": fmt_speedup(r["speedup"]),
                "speedup_class": speedup_class(r["speedup"]),
                "speedup_sort": sort_value(r["speedup"]),
                "runner_up": fmt_plain(r["runner_up"]),
                "margin": "—" if pd.isna(r["runner_up_ratio"]) else f"{(r['runner_up_ratio'] - 1) * 100:.0f} % slower",
                "noisy": r["clear_win"] is False,
                "decided": bool(r["n_usable"]),
            }
        )
    return rows


def deployment_rows(df: pd.DataFrame) -> list[dict]:
    """The deployment question per shape: fastest engine, ratio to native, first calls, break-even calls."""
    from bench.analysis.summary import deployment, format_calls

    return [
        {
            "setting": f"{r['family']} · {r['mode']}",
            "shape": data.shape_labels(pd.DataFrame([r])).iloc[0],
            "engine": r["engine"],
            "tolerance": "" if pd.isna(r["tolerance"]) or r["tolerance"] <= 1e-3 else f"tolerance {r['tolerance']:.0e}",
            "median": fmt_seconds(r["median_s"]),
            "ratio": f"{r['ratio']:.2f}x",
            "ratio_class": speedup_class(1 / r["ratio"]),
            "first_call": fmt_seconds(r["first_call_s"]),
            "native_first_call": fmt_seconds(r["baseline_first_call_s"]),
            "break_even": format_calls(r["break_even_calls"]),
        }
        for _, r in deployment(df, data.BASELINE).iterrows()
    ]


def summary_rows(summary: pd.DataFrame) -> list[dict]:
    return [
        {
            "setting": f"{r['family']} · {r['mode']}",
            "device": f"{r['device']} {r['dtype']}",
            "winner": r["winner"],
            "wins": f"{r['wins']} of {r['n_shapes']} shape{'s' if r['n_shapes'] != 1 else ''}",
            "speedup": fmt_speedup(r["geomean_speedup"]),
            "speedup_class": speedup_class(r["geomean_speedup"]),
            "max_speedup": fmt_speedup(r["max_speedup"]),
            "others": r["others"] or "—",
        }
        for _, r in summary.iterrows()
    ]


def incorrect_rows(df: pd.DataFrame) -> list[dict]:
    return [
        {
            "key": r["key"],
            "setting": f"{r['device']} {r['dtype']} {r['mode']}",
            "shape": r["shape"],
            **{c: fmt_sci(_value(r, c)) for c in ("max_abs_err", "rel_err", "grad_rel_err")},
            "note": fmt_plain(_value(r, "error")),
        }
        for _, r in data.incorrect(df).iterrows()
    ]


def correctness(df: pd.DataFrame) -> dict:
    checked = df[df["correct"].notna()]
    per_key = []
    for key, cases in checked.groupby("key", sort=True):
        per_key.append(
            {
                "key": key,
                "checked": len(cases),
                "wrong": int(cases["correct"].eq(False).sum()),
                "max_abs_err": fmt_sci(pd.to_numeric(cases.get("max_abs_err"), errors="coerce").max()),
                "rel_err": fmt_sci(pd.to_numeric(cases.get("rel_err"), errors="coerce").max()),
                "grad_rel_err": fmt_sci(pd.to_numeric(cases.get("grad_rel_err"), errors="coerce").max()),
            }
        )
    return {
        "checked": len(checked),
        "wrong": int(checked["correct"].eq(False).sum()),
        "per_key": per_key,
    }


def implementations(df: pd.DataFrame, colors: dict[str, str], descriptions: dict[str, str]) -> list[dict]:
    """The implementations that measured at least one case, with their colour, description and count."""
    rows = []
    for key, cases in df.groupby("key", sort=True):
        if not cases["status"].eq("ok").any():
            continue
        impl = cases["impl"].iloc[0]
        rows.append(
            {
                "key": key,
                "color": colors.get(impl, "#999999"),
                "description": descriptions.get(key, ""),
                "ok": int(cases["status"].eq("ok").sum()),
                "total": len(cases),
            }
        )
    return rows


def unmeasured_implementations(df: pd.DataFrame) -> int:
    """How many implementations of the run measured no case at all."""
    if df.empty:
        return 0
    measured = df.groupby("key")["status"].agg(lambda s: s.eq("ok").any())
    return int((~measured).sum())


def failed_counts(df: pd.DataFrame) -> dict[str, int]:
    """Cases per failed status (skips are expected, not failures), most alarming first."""
    counts = df["status"].value_counts()
    return {s: int(counts[s]) for s in FAILED_STATUSES if s in counts}


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
