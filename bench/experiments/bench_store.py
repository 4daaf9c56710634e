"""What the store costs a sweep: append N finished cases of 100 samples each through `store.append_rows`
(one fsynced append per case, as the runner does), then compact the run once, as its end does. Run with
`make bench-store` (or `python -m bench.experiments.bench_store --rows 10000 100000`).

Prints, per size, the total bookkeeping (wall time, and the CPU time of this process), its two parts,
the slowest single append (which must not grow with the run) and the sizes of the files written.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from bench.render.terminal import format_table
from bench.results import store

SAMPLES = 100


def _row(index: int, rng: np.random.Generator) -> dict:
    samples = (1e-3 * rng.lognormal(0.0, 0.05, SAMPLES)).tolist()
    return {
        "run_id": "bench-store",
        "case_id": f"lstm.native|cpu|float32|inference|b{index}xt64xi128xh128xl1",
        "key": "lstm.native",
        "family": "lstm",
        "impl": "native",
        "device": "cpu",
        "dtype": "float32",
        "mode": "inference",
        "batch": index,
        "seq_len": 64,
        "input_size": 128,
        "hidden_size": 128,
        "num_layers": 1,
        "bidirectional": False,
        "status": "ok",
        "median_s": float(np.median(samples)),
        "samples_s": samples,
        "round_medians_s": [float(np.median(samples))],
        "n_samples": SAMPLES,
        "started_at": store.now(),
    }


def measure(root: Path, rows: int, seed: int = 0) -> dict:
    """Append `rows` cases one by one, then compact; the timings in seconds and the file sizes."""
    rng = np.random.default_rng(seed)
    payload = [_row(i, rng) for i in range(rows)]  # made before the clock starts: the store is timed, not numpy
    run_dir = store.create_run(root, f"store-{rows}", {"status": "running"})
    slowest = 0.0
    cpu = time.process_time()  # this process's CPU time, every thread: what a loaded machine does not inflate
    start = time.perf_counter()
    for row in payload:
        before = time.perf_counter()
        store.append_rows(run_dir, [row])
        slowest = max(slowest, time.perf_counter() - before)
    appended = time.perf_counter()
    store.seal(run_dir)
    end = time.perf_counter()
    cpu = time.process_time() - cpu
    case_ids = pq.read_table(run_dir / store.MEASUREMENTS, columns=["case_id"]).column("case_id").to_pandas()
    if len(case_ids) != rows or not case_ids.is_unique:
        raise RuntimeError(f"the store read back {len(case_ids)} rows of {rows}")
    return {
        "rows": rows,
        "append_s": appended - start,
        "compact_s": end - appended,
        "total_s": end - start,
        "cpu_s": cpu,
        "slowest_append_s": slowest,
        "parquet_bytes": (run_dir / store.MEASUREMENTS).stat().st_size,
        "csv_bytes": (run_dir / "measurements.csv").stat().st_size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.experiments.bench_store", description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dir", help="where to write the runs (default: a temporary folder here, on this disk)")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(dir=args.dir or os.getcwd(), prefix=".bench-store-") as tmp:
        for rows in args.rows:
            results.append(measure(Path(tmp), rows))
            print(f"{rows} rows: {results[-1]['total_s']:.1f} s", flush=True)
    load = os.getloadavg()[0]
    header = ["rows", "total s", "cpu s", "appends s", "compaction s", "slowest append ms", "parquet MB", "csv MB"]
    table = [
        [
            f"{r['rows']:,}",
            f"{r['total_s']:.1f}",
            f"{r['cpu_s']:.1f}",
            f"{r['append_s']:.1f}",
            f"{r['compact_s']:.1f}",
            f"{r['slowest_append_s'] * 1e3:.1f}",
            f"{r['parquet_bytes'] / 1e6:.1f}",
            f"{r['csv_bytes'] / 1e6:.1f}",
        ]
        for r in results
    ]
    print(format_table(header, table))
    print(f"{SAMPLES} samples per row; appends fsynced by group commit; load {load:.1f}, {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
