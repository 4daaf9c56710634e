"""A realistic run directory without running a sweep: measurements.parquet, .csv and run.json.

Latencies follow a simple cost model (a per-step overhead plus matmul work) with seeded noise, so the
report has real trends to draw; every status the sweep can record appears when asked for.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.results.schema import COLUMNS

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3, "mingru": 2, "minlstm": 3}
# impl -> (per-step overhead in s, matmul efficiency): native is fast, the loops pay Python per step
SPEED = {"native": (4e-6, 0.45), "premul_loop": (1.2e-5, 0.9), "scripted": (3e-6, 0.3), "compiled": (5e-6, 0.6)}
MEMORY = {"native": 1.0, "premul_loop": 1.6, "scripted": 1.25, "compiled": 1.1}
PEAK = {"cpu/float32": 1.0e11, "cpu/float64": 5.0e10}


def write_synthetic_run(
    run_dir: Path,
    *,
    families: tuple[str, ...] = ("lstm", "gru"),
    impls: tuple[str, ...] = ("native", "premul_loop", "scripted"),
    modes: tuple[str, ...] = ("inference", "training"),
    dtypes: tuple[str, ...] = ("float32",),
    batches: tuple[int, ...] = (1, 16),
    seq_lens: tuple[int, ...] = (8, 64, 512),
    hidden_sizes: tuple[int, ...] = (64, 256),
    input_size: int = 64,
    failures: bool = True,
    keys: dict[str, str] | None = None,
    top_ops: bool = False,
    seed: int = 0,
    extra_rows: list[dict] | None = None,
) -> pd.DataFrame:
    """Write a complete run into `run_dir`; `keys` maps impl -> key override (for hostile names)."""
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    run_id = run_dir.name
    rows = []
    grid = itertools.product(families, impls, modes, dtypes, batches, seq_lens, hidden_sizes)
    for family, impl, mode, dtype, batch, seq_len, hidden in grid:
        key = (keys or {}).get(impl, f"{family}.{impl}")
        row = _row(run_id, family, impl, key, mode, dtype, batch, seq_len, input_size, hidden, rng)
        rows.append(row)
    if failures and rows:
        _inject_failures(rows)
    rows.extend(extra_rows or [])
    frame = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    frame.to_parquet(run_dir / "measurements.parquet", index=False)
    frame.drop(columns="samples_s").to_csv(run_dir / "measurements.csv", index=False)
    (run_dir / "run.json").write_text(json.dumps(_meta(run_id, frame), indent=2))
    if top_ops:
        _top_ops(run_id, frame).to_parquet(run_dir / "top_ops.parquet", index=False)
    return frame


def _row(run_id, family, impl, key, mode, dtype, batch, seq_len, input_size, hidden, rng) -> dict:
    overhead_s, matmul_eff = SPEED.get(impl, (1e-5, 0.3))
    peak = PEAK[f"cpu/{dtype}"]
    flops = 2 * GATES[family] * hidden * (input_size + hidden) * batch * seq_len * (3 if mode == "training" else 1)
    median = seq_len * overhead_s * (2.5 if mode == "training" else 1) + flops / (peak * matmul_eff)
    samples = list(median * (1 + rng.gamma(2.0, 0.02, size=int(rng.integers(7, 30)))))
    x = np.asarray(samples)
    q1, q3 = np.percentile(x, [25, 75])
    identity = {
        "run_id": run_id,
        "key": key,
        "family": family,
        "impl": key.split(".", 1)[1],
        "device": "cpu",
        "dtype": dtype,
        "mode": mode,
        "batch": batch,
        "seq_len": seq_len,
        "input_size": input_size,
        "hidden_size": hidden,
        "num_layers": 1,
        "bidirectional": False,
    }
    identity["case_id"] = f"{key}|cpu|{dtype}|{mode}|b{batch}|t{seq_len}|i{input_size}|h{hidden}|l1|uni"
    err = 1e-7 if dtype == "float32" else 1e-15
    return identity | {
        "threads": 2,
        "status": "ok",
        "error": None,
        "median_s": float(np.median(x)),
        "iqr_s": float(q3 - q1),
        "mean_s": float(x.mean()),
        "std_s": float(x.std(ddof=1)),
        "min_s": float(x.min()),
        "n_samples": len(samples),
        "ci_low_s": float(np.percentile(x, 30)),
        "ci_high_s": float(np.percentile(x, 70)),
        "samples_s": samples,
        "forward_median_s": float(np.median(x)) * 0.4 if mode == "training" else None,
        "backward_median_s": float(np.median(x)) * 0.6 if mode == "training" else None,
        "first_call_s": float(np.median(x)) * 3 + (2.0 if impl == "compiled" else 0.05),
        "peak_mem_bytes": int(
            4 * batch * hidden * (seq_len * (6 if mode == "training" else 1) + 4) * MEMORY.get(impl, 1)
        ),
        "flops": float(flops),
        "achieved_flops_per_s": flops / float(np.median(x)),
        "peak_flops_per_s": peak,
        "efficiency": flops / float(np.median(x)) / peak,
        "max_abs_err": err * 3,
        "rel_err": err,
        "grad_rel_err": err * 2 if mode == "training" else None,
        "correct": True,
        "host": "bench-host",
        "started_at": "2026-11-22T11:15:00",
        "wall_s": float(x.sum()) + 0.5,
    }


_EMPTY = dict.fromkeys(
    [
        "median_s", "iqr_s", "mean_s", "std_s", "min_s", "n_samples", "ci_low_s", "ci_high_s", "samples_s",
        "forward_median_s", "backward_median_s", "first_call_s", "peak_mem_bytes", "achieved_flops_per_s",
        "efficiency", "max_abs_err", "rel_err", "grad_rel_err", "correct",
    ]
)  # fmt: skip


def _inject_failures(rows: list[dict]) -> None:
    """One case of every not-ok status, and one measured case that computes the wrong thing."""
    reasons = {
        "skipped": "{key} is unidirectional only",
        "error": "RuntimeError: shape '[16, -1]' is invalid for input of size 7",
        "timeout": "no result within 120 s",
        "crashed": "worker died with signal SIGABRT (-6)",
        "oom": "CUDA out of memory. Tried to allocate 2.00 GiB",
    }
    victims = [r for r in rows if r["impl"] != "native"] or rows
    for i, (status, reason) in enumerate(reasons.items()):
        row = victims[(i * 7 + 3) % len(victims)]
        row.update(_EMPTY, status=status, error=reason.format(key=row["key"]))
    wrong = victims[(len(reasons) * 7 + 3) % len(victims)]
    if wrong["status"] == "ok":
        wrong.update(max_abs_err=0.75, rel_err=0.31, correct=False)


def _meta(run_id: str, frame: pd.DataFrame) -> dict:
    counts = frame["status"].value_counts()
    return {
        "run_id": run_id,
        "command": ["rnnbench", "sweep", "--config", "bench/configs/quick.toml"],
        "spec": {
            "impl": sorted(frame["key"].unique().tolist()),
            "device": ["cpu"],
            "dtype": sorted(frame["dtype"].unique().tolist()),
            "mode": sorted(frame["mode"].unique().tolist()),
            "batch": sorted(int(b) for b in frame["batch"].unique()),
            "seq_len": sorted(int(s) for s in frame["seq_len"].unique()),
            "hidden_size": sorted(int(h) for h in frame["hidden_size"].unique()),
            "timeout_s": 120,
        },
        "environment": {
            "host": "bench-host",
            "platform": "Linux-6.1.0-x86_64-with-glibc2.36",
            "python": "3.11.2",
            "torch": "2.13.0+cpu",
            "cuda": None,
            "cudnn": None,
            "onednn": "3.7.1",
            "cpu_model": "Intel(R) Xeon(R) CPU @ 2.20GHz",
            "cpu_count": 2,
            "threads": 2,
            "gpus": [],
            "git_commit": "1f9ee6912ab34cd",
            "git_dirty": False,
        },
        "started_at": "2026-11-22T11:15:00+00:00",
        "finished_at": "2026-11-22T11:19:42+00:00",
        "status": "complete",
        "peak_flops_per_s": dict(PEAK),
        "counts": {str(k): int(v) for k, v in counts.items()},
        "implementations": {  # as a sweep records them, so the report needs no registry
            key: {"family": key.split(".")[0], "variant": key.split(".", 1)[1], "description": f"the {key} design"}
            for key in sorted(frame["key"].unique())
        },
    }


def _top_ops(run_id: str, frame: pd.DataFrame) -> pd.DataFrame:
    ok = frame[frame["status"].eq("ok")].head(3)
    ops = [("aten::addmm", 0.45), ("forward", 0.2), ("aten::sigmoid", 0.15), ("aten::mul", 0.1)]
    rows = []
    for case in ok.itertuples():
        for op, share in ops:
            self_s = share * case.median_s * 100
            rows.append(
                {"run_id": run_id, "case_id": case.case_id, "key": case.key, "op": op, "is_label": op == "forward"}
                | {"self_cpu_s": self_s, "self_device_s": 0.0, "calls": case.seq_len, "share": share}
                | {"profiled_steps": 3}
            )
    return pd.DataFrame(rows)


HOSTILE_KEY = "lstm.<script>alert(1)</script>"
_built: dict[str, Path] = {}


def synthetic_report(tmp_path_factory) -> Path:
    """The report of the default synthetic run (profiler table included), built once per test session."""
    if "synthetic" not in _built:
        from bench.render.report import build_report

        root = tmp_path_factory.mktemp("synthetic")
        run_dir = root / "results" / "20261122-111500-ab12cd"
        write_synthetic_run(run_dir, top_ops=True)
        _built["synthetic"] = build_report(run_dir, root / "reports" / run_dir.name)
    return _built["synthetic"]


def scan_report(tmp_path_factory) -> Path:
    """minGRU's loop against its parallel scan over seq_len: the scan has a fixed cost, then wins; its error grows."""
    if "scan" not in _built:
        from bench.render.report import build_report

        root = tmp_path_factory.mktemp("scan")
        run_dir = root / "results" / "scan"
        frame = write_synthetic_run(run_dir, families=("mingru",), impls=("loop", "scan"), modes=("inference",),
                                    seq_lens=(16, 64, 256, 1024), failures=False)  # fmt: skip
        scan = frame["impl"].eq("scan")
        frame.loc[scan, "median_s"] = 1e-3 + frame.loc[scan, "seq_len"] * 2e-7 * frame.loc[scan, "batch"]
        frame.loc[scan, "rel_err"] = 1e-7 * frame.loc[scan, "seq_len"] / 16
        frame[["ci_low_s", "ci_high_s"]] = frame[["median_s"]].to_numpy() * [0.98, 1.02]
        frame.to_parquet(run_dir / "measurements.parquet", index=False)
        meta = json.loads((run_dir / "run.json").read_text())
        (run_dir / "run.json").write_text(json.dumps(meta | {"baselines": {"mingru": "loop"}}))
        _built["scan"] = build_report(run_dir, root / "reports" / "scan")
    return _built["scan"]


def hostile_report(tmp_path_factory, cli) -> tuple[Path, object]:
    """A run whose key, description, error message and spec carry HTML/JS payloads, reported by the CLI."""
    if "hostile" not in _built:
        root = tmp_path_factory.mktemp("hostile")
        run_dir = root / "results" / "hostile"
        payload_error = "RuntimeError: <script>alert(3)</script> & <b>bold</b>"
        write_synthetic_run(
            run_dir,
            families=("lstm",),
            impls=("native", "evil"),
            modes=("inference",),
            batches=(4,),
            seq_lens=(8, 64),
            hidden_sizes=(32,),
            failures=False,
            keys={"evil": HOSTILE_KEY},
            extra_rows=[{"run_id": "hostile", "key": HOSTILE_KEY, "family": "lstm", "impl": HOSTILE_KEY[5:]}
                        | {"device": "cpu", "dtype": "float32", "mode": "training", "batch": 4, "seq_len": 8}
                        | {"input_size": 64, "hidden_size": 32, "num_layers": 1, "bidirectional": False}
                        | {"status": "error", "error": payload_error}],
        )  # fmt: skip
        meta_path = run_dir / "run.json"
        meta = json.loads(meta_path.read_text())
        meta["spec"]["name"] = "</script><script>alert(4)</script>"
        meta["environment"]["host"] = '"><svg onload=alert(5)>'
        meta["implementations"][HOSTILE_KEY]["description"] = "<img src=x onerror=alert(2)>"  # the plugin's
        meta_path.write_text(json.dumps(meta))
        # no --plugin: the description comes from the run, so the page renders where the plugin is not installed
        result = cli("report", str(run_dir), "--out", str(root / "report"))
        _built["hostile"] = root / "report" / "index.html"
        _built["hostile_result"] = result
    return _built["hostile"], _built["hostile_result"]
