"""`rnnbench list`: every registered implementation."""

from __future__ import annotations

import argparse
import json

import torch

from bench.render.terminal import format_table
from implementations import registry

HELP = "list every registered implementation (key, family, devices, dtypes, what it is) and the families"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--impl", action="append", default=None, metavar="GLOB", help="only keys matching")
    parser.add_argument("--families", action="store_true", help="list the families instead")


def _family_row(family: registry.Family) -> dict:
    return {
        "family": family.name,
        "reference": getattr(family.module_class, "__name__", repr(family.reference)),
        "state": list(family.state_names),
        "baseline": registry.baseline(family.name),
        "implementations": sum(impl.family == family.name for impl in registry.all()),
        "tolerances": dict(family.tolerances),
        "description": family.description,
        "source": family.source,
    }


def _families(as_json: bool) -> int:
    rows = [_family_row(family) for family in registry.all_families()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [
        [r["family"], r["reference"], ",".join(r["state"]), r["baseline"] or "-", str(r["implementations"]),
         r["source"], r["description"]]
        for r in rows
    ]  # fmt: skip
    print(format_table(["family", "reference", "state", "baseline", "impls", "source", "description"], table))
    print(f"\n{len(rows)} families")
    return 0


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
        "variable_length": impl.variable_length,
        "description": impl.description,
        "source": impl.source,
        "tolerance": getattr(impl, "tolerance", None),
        "unavailable": getattr(impl, "unavailable_reason", None),
        "unavailable_devices": getattr(impl, "unavailable_devices", {}),
    }


def run(args: argparse.Namespace) -> int:
    if args.families:
        registry.all()  # built-ins and entry points first: their families too
        return _families(args.json)
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
        if r["tolerance"] is not None:
            limits.append(f"tolerance {r['tolerance']:.0e}")
        if r["unavailable"]:
            limits.append(f"UNAVAILABLE: {r['unavailable']}")
        for device, why in r["unavailable_devices"].items():
            if device != "cuda" or torch.cuda.is_available():  # no GPU at all: nothing to say about its providers
                limits.append(f"UNAVAILABLE on {device}: {why}")
        if not r["variable_length"]:
            limits.append("fixed lengths")
        table.append(
            [r["key"], ",".join(r["devices"]), ",".join(r["dtypes"]), " ".join(limits) or "-", r["description"]]
        )
    print(format_table(["key", "devices", "dtypes", "limits", "description"], table))
    families = sorted({r["family"] for r in rows})
    unavailable = sum(bool(r["unavailable"]) for r in rows)
    where = f", {unavailable} unavailable here" if unavailable else ""
    print(f"\n{len(rows)} implementations of {len(families)} families ({', '.join(families)}){where}; see --families")
    return 0
