"""A run's summary for the terminal: header, fastest implementation per shape, problem cases."""

from __future__ import annotations

from bench.analysis.summary import deployment, fastest_per_shape, format_calls, measure_of, problems, status_counts
from bench.render.terminal import color, format_table, use_color
from bench.render.train_table import training_lines
from bench.results import store
from bench.results.vocabulary import BASELINE_VARIANT, MISSING, format_instructions, format_seconds, shape_label

HEADERS = {"median_s": "median", "instructions_per_call": "instructions/call"}

def render_summary(run_dir, baseline: str | None = None) -> str:
    """A run's summary as `rnnbench show` and `rnnbench sweep` print it.

    Speedups are over `baseline` (a variant), else over each family's baseline as the run recorded it.
    """
    meta = store.read_meta(run_dir)
    if baseline is None:
        baseline = meta.get("baselines") or {}
    frame = store.read_measurements(run_dir)
    colored = use_color()
    lines = [
        f"run {meta.get('run_id')}  ({meta.get('status', '?')}, {len(frame)} cases: "
        + ", ".join(f"{n} {s}" for s, n in status_counts(frame).items())
        + ")"
    ]
    env = meta.get("environment", {})
    lines.append(
        f"{env.get('cpu_model', '?')}, threads: {env.get('threads', '?')}, torch {env.get('torch', '?')}"
        + (f", GPU {', '.join(env['gpus'])}" if env.get("gpus") else "")
    )
    hosts = sorted(frame["host"].dropna().unique()) if "host" in frame else []
    if len(hosts) > 1:  # one machine's timings are never compared with another's
        described = meta.get("machines") or {}
        lines.append(
            f"cases ran on {len(hosts)} machines: "
            + ", ".join(f"{h} ({(frame['host'] == h).sum()} cases{_cpu(described.get(h))})" for h in hosts)
        )
        for host in hosts:
            lines += [
                "",
                color(f"on {host}:", "bold", colored),
                *_fastest(frame[frame["host"] == host], baseline, colored, "on this machine"),
            ]
    else:
        trained = frame["task"].notna() if "task" in frame else frame["status"].isna() & False
        if trained.any():
            lines += ["", *training_lines(frame, colored)]
        if not trained.any() or not trained.all():
            timed = frame[~trained]
            lines += ["", *_fastest(timed, baseline, colored), *_deployment(timed, baseline, colored)]
    bad = problems(frame)
    if len(bad):
        lines += ["", color(f"{len(bad)} problem case(s):", "red", colored)]
        lines += [f"  {color(p.problem, 'red', colored)}  {p.case_id}  {p.error or ''}" for p in bad.itertuples()]
    return "\n".join(lines)


def _cpu(host: dict | None) -> str:
    model = ((host or {}).get("environment") or {}).get("cpu_model")
    return f", {model}" if model else ""


def _fastest(frame, baseline: str | dict, colored: bool, where: str = "in this run") -> list[str]:
    """The fastest-per-shape table (bench.analysis.summary's rule) as terminal lines."""
    measure = measure_of(frame)
    best = fastest_per_shape(frame, baseline, measure)
    fmt = format_seconds if measure == "median_s" else format_instructions
    if len(best):
        table = []
        for r in best.itertuples():
            speedup = MISSING if r.speedup != r.speedup else f"{r.speedup:.2f}x"
            if r.speedup == r.speedup:
                speedup = color(speedup, "green" if r.speedup > 1.05 else "dim", colored)
            shape = shape_label(r)
            table.append(
                [
                    r.family,
                    r.mode,
                    r.dtype,
                    shape,
                    r.fastest,
                    fmt(getattr(r, measure)),
                    fmt(getattr(r, f"baseline_{measure}")),
                    speedup,
                    r.n_impls,
                ]
            )
        return [
            format_table(
                ["family", "mode", "dtype", "shape", "fastest", HEADERS[measure], _heading(baseline), "speedup"]
                + ["impls"],
                table,
                align_right=(5, 6, 7, 8),
            ),
        ]
    return [f"no successful, correct case {where}"]


def _heading(baseline: str | dict) -> str:
    if isinstance(baseline, str):
        return baseline
    return "baseline" if set(baseline.values()) - {BASELINE_VARIANT} else BASELINE_VARIANT


def _deployment(frame, baseline: str | dict, colored: bool) -> list[str]:
    """The deployment question: per shape, the fastest engine against the baseline, with its one-off cost."""
    table = deployment(frame, baseline)
    if table.empty:
        return []
    rows = [
        [
            r.family,
            r.mode,
            shape_label(r),
            r.engine + (f" (tol {r.tolerance:.0e})" if r.tolerance > 1e-3 else ""),  # int8: its own tolerance
            format_seconds(r.median_s),
            color(f"{r.ratio:.2f}x", "green" if r.ratio < 0.95 else "dim", colored),
            format_seconds(r.first_call_s),
            format_seconds(r.baseline_first_call_s),
            format_calls(r.break_even_calls),
        ]
        for r in table.itertuples()
    ]
    name = _heading(baseline)
    headers = ["family", "mode", "shape", "fastest engine", "median", f"vs {name}", "first call", f"{name} 1st"]
    return [
        "",
        color(f"deployment: the fastest engine per shape (ratio below 1: faster than {name})", "bold", colored),
        format_table([*headers, "break-even calls"], rows, align_right=(4, 5, 6, 7, 8)),
    ]
