"""How background load and the thread count change a timing on this machine: the measurement behind
the default thread count. Run with `make noise-check` (or `python -m bench.experiments.noise_check`).

For each thread count, the same cases are swept quietly and then beside one busy process (a pure-Python
spin loop, like a neighbour job on a shared runner); the table shows each median and its slowdown.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.render.terminal import format_table
from bench.results import store

ROOT = Path(__file__).resolve().parents[2]
CASES = [
    "--impl",
    "lstm.native,lstm.premul_loop",
    "--mode",
    "inference,training",
    "--batch",
    "16",
    "--seq-len",
    "32",
    "--input-size",
    "128",
    "--hidden-size",
    "128",
]


def _sweep(out: Path, threads: int, run_id: str, budget_s: float) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "bench",
        "sweep",
        *CASES,
        "--threads",
        str(threads),
        "--budget-s",
        str(budget_s),
        "--no-check",
        "--no-report",
        "--progress",
        "none",
        "--out",
        str(out),
        "--run-id",
        run_id,
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
    return out / run_id


def _busy() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.experiments.noise_check", description=__doc__)
    parser.add_argument("--threads", default="1,2", help="thread counts to compare (default 1,2)")
    parser.add_argument("--budget-s", type=float, default=1.0)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for threads in [int(t) for t in args.threads.split(",")]:
            quiet = store.read_measurements(_sweep(Path(tmp), threads, f"quiet-{threads}", args.budget_s))
            load = _busy()
            try:
                loaded = store.read_measurements(_sweep(Path(tmp), threads, f"loaded-{threads}", args.budget_s))
            finally:
                load.kill()
                load.wait()
            merged = quiet.merge(loaded, on="case_id", suffixes=("_quiet", "_loaded"))
            for r in merged.itertuples():
                rows.append(
                    [
                        threads,
                        r.key_quiet,
                        r.mode_quiet,
                        f"{r.median_s_quiet * 1e3:.3f}",
                        f"{100 * r.iqr_s_quiet / r.median_s_quiet:.0f}%",
                        f"{r.median_s_loaded * 1e3:.3f}",
                        f"{100 * r.iqr_s_loaded / r.median_s_loaded:.0f}%",
                        f"{r.median_s_loaded / r.median_s_quiet:.2f}x",
                    ]
                )
    print(f"{os.cpu_count()} cores; loaded = one busy Python process beside the sweep")
    print(
        format_table(
            ["threads", "key", "mode", "quiet ms", "IQR", "loaded ms", "IQR", "slowdown"],
            rows,
            align_right=(0, 3, 4, 5, 6, 7),
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
