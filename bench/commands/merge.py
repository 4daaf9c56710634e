"""`rnnbench merge`: shard runs of one spec into one run (one table, one report)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import UsageError
from bench.results import store
from bench.results.merge import merge_runs

HELP = "merge the shard runs of one sweep (rnnbench sweep --shard K/N) into one run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", help="shard run directories, e.g. results/nightly-shard-*")
    parser.add_argument("--out", required=True, help="the merged run directory to create, e.g. results/nightly")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists():
        raise UsageError(f"{out} already exists; merge into a new directory")
    parts = [(store.read_meta(run_dir), store.read_measurements(run_dir)) for run_dir in args.runs]
    meta, frame = merge_runs(parts, out.name)
    run_dir = store.create_run(out.parent, out.name, {k: v for k, v in meta.items() if k != "run_id"})
    store.write_measurements(run_dir, frame)
    if meta["missing_shards"]:
        print(
            f"rnnbench merge: warning: shards {', '.join(map(str, meta['missing_shards']))} are missing; "
            "the merged run is marked incomplete",
            file=sys.stderr,
        )
    if len(meta["hosts"]) > 1:
        print(
            f"rnnbench merge: note: cases ran on {len(meta['hosts'])} machines ({', '.join(meta['hosts'])}); "
            "the 'host' column tells which",
            file=sys.stderr,
        )
    print(f"merged {len(parts)} runs, {len(frame)} cases")
    print(run_dir)
    return 0
