"""The page's sections as plain values: messages, the verdict and summary, deployment, correctness, the
implementations and failure counts. The header is in header.py, the table of every case in table.py."""

from __future__ import annotations

import pandas as pd

from bench.render.report import data
from bench.render.report.html import fmt_plain, fmt_sci, fmt_seconds, fmt_speedup, sort_value, speedup_class
from bench.render.report.notes import timing_messages
from bench.render.report.table import cell_value
from bench.results.vocabulary import FAILED_STATUSES


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
            **{c: fmt_sci(cell_value(r, c)) for c in ("max_abs_err", "rel_err", "grad_rel_err")},
            "note": fmt_plain(cell_value(r, "error")),
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
