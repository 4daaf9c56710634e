"""`rnnbench show RUN_DIR`: a run's summary in the terminal."""

from __future__ import annotations

import argparse

from bench.analysis.summary import fastest_per_shape, format_seconds, problems, status_counts
from bench.render.terminal import color, format_table, use_color
from bench.render.train_table import training_lines
from bench.results import store

HELP = "summarize a run: fastest implementation per shape, speedup over native, failures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="results/<run_id>")
    parser.add_argument("--baseline", default="native", help="variant speedups are measured against (native)")


def render(run_dir, baseline: str = "native") -> str:
    meta = store.read_meta(run_dir)
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
            lines += ["", *_fastest(frame[~trained], baseline, colored)]
    bad = problems(frame)
    if len(bad):
        lines += ["", color(f"{len(bad)} problem case(s):", "red", colored)]
        lines += [f"  {color(p.problem, 'red', colored)}  {p.case_id}  {p.error or ''}" for p in bad.itertuples()]
    return "\n".join(lines)


def _cpu(host: dict | None) -> str:
    model = ((host or {}).get("environment") or {}).get("cpu_model")
    return f", {model}" if model else ""


def _fastest(frame, baseline: str, colored: bool, where: str = "in this run") -> list[str]:
    best = fastest_per_shape(frame, baseline)
    if len(best):
        table = []
        for r in best.itertuples():
            speedup = "-" if r.speedup != r.speedup else f"{r.speedup:.2f}x"
            if r.speedup == r.speedup:
                speedup = color(speedup, "green" if r.speedup > 1.05 else "dim", colored)
            shape = f"b{r.batch} t{r.seq_len} i{r.input_size} h{r.hidden_size} l{r.num_layers}" + (
                " bi" if r.bidirectional else ""
            )
            table.append(
                [
                    r.family,
                    r.mode,
                    r.dtype,
                    shape,
                    r.fastest,
                    format_seconds(r.median_s),
                    format_seconds(r.baseline_median_s),
                    speedup,
                    r.n_impls,
                ]
            )
        return [
            format_table(
                ["family", "mode", "dtype", "shape", "fastest", "median", baseline, "speedup", "impls"],
                table,
                align_right=(5, 6, 7, 8),
            ),
        ]
    return [f"no successful, correct case {where}"]


def run(args: argparse.Namespace) -> int:
    print(render(args.run_dir, args.baseline))
    return 0
