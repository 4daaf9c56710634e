"""`rnnbench list`: every registered implementation."""

from __future__ import annotations

import argparse
import json

from bench.render.terminal import format_table
from implementations import registry

HELP = "list every registered implementation (key, family, devices, dtypes, what it is)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--impl", action="append", default=None, metavar="GLOB", help="only keys matching")


def _row(impl: registry.Implementation) -> dict:
    return {
        "key": impl.key,
        "family": impl.family,
        "impl": impl.impl,
        "devices": list(impl.devices),
        "dtypes": [str(d).removeprefix("torch.") for d in impl.dtypes],
        "max_layers": impl.max_layers,
        "bidirectional": impl.bidirectional,
        "training": impl.training,
        "description": impl.description,
        "source": impl.source,
    }


def run(args: argparse.Namespace) -> int:
    impls = registry.match(args.impl) if args.impl else registry.all()
    rows = [_row(impl) for impl in impls]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = []
    for r in rows:
        limits = []
        if r["max_layers"] is not None:
            limits.append(f"layers<={r['max_layers']}")
        if not r["bidirectional"]:
            limits.append("unidirectional")
        if not r["training"]:
            limits.append("inference only")
        table.append(
            [r["key"], ",".join(r["devices"]), ",".join(r["dtypes"]), " ".join(limits) or "-", r["description"]]
        )
    print(format_table(["key", "devices", "dtypes", "limits", "description"], table))
    print(f"\n{len(rows)} implementations")
    return 0
