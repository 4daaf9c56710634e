"""`rnnbench verify`: every selected implementation x a set of shapes, forward and backward, vs float64 reference."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from bench.errors import UsageError
from bench.plan.cases import DTYPES
from bench.plan.verify_shapes import COMPILE_SHAPE, SHAPES, Shape
from bench.render.terminal import color, format_table, use_color
from bench.results.vocabulary import MISSING, shape_label
from bench.run.progress import bar_size  # tqdm sizing that also works on 0x0 pseudo-terminals
from bench.worker.correctness import TOLERANCES, check
from implementations import registry

HELP = "check implementations against the float64 reference (outputs, final states, all gradients)"


# torch.compile variants and the deployment engines compile or export afresh for every shape (~5-40 s each on a
# small CPU), so by default they are checked at COMPILE_SHAPE only (2 layers, both directions, batch 1, odd hidden)
EXPORTED = ("onnxruntime", "onnxruntime_int8", "openvino", "export_aoti")


def _is_compiled(impl: registry.Implementation) -> bool:
    return impl.impl.startswith("compile") or impl.impl in EXPORTED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--impl", action="append", default=None, metavar="GLOB", help="only keys matching (repeatable)")
    parser.add_argument("--family", metavar="NAME", help="only this family (see 'rnnbench list --families')")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument(
        "--dtype", default="float32", help=f"comma-separated, of {', '.join(TOLERANCES)} (default float32)"
    )
    parser.add_argument(
        "--all-shapes",
        action="store_true",
        help="check torch.compile variants and exported engines at every shape, not just one",
    )
    parser.add_argument(
        "--lengths",
        action="store_true",
        help="also check variable-length batches (lengths 1 to seq_len), sequence by sequence, where supported",
    )
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write every row here")


def _parse(args: argparse.Namespace) -> tuple[list[registry.Implementation], str, list[str]]:
    device = args.device
    if device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {device!r}; use cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available here")
    dtypes = [d.strip() for d in args.dtype.split(",") if d.strip()]
    unknown = [d for d in dtypes if d not in TOLERANCES]
    if unknown or not dtypes:
        raise UsageError(f"unknown dtype {','.join(unknown) or repr(args.dtype)}; known: {', '.join(TOLERANCES)}")
    if args.json is not None and not args.json.parent.is_dir():
        raise UsageError(f"--json: directory {args.json.parent} does not exist")
    impls = registry.match(args.impl) if args.impl else registry.all()
    if args.family:
        registry.get_family(args.family)  # an unknown family is an error naming the known ones
        impls = [impl for impl in impls if impl.family == args.family]
        if not impls:
            raise UsageError(f"no selected implementation is of family {args.family}")
    return impls, device, dtypes


def varlen_lengths(shape: Shape) -> list[int]:
    """Lengths from seq_len down to 1 across the batch (batch 1: half of seq_len), for `--lengths`."""
    if shape.batch == 1:
        return [max(1, shape.seq_len // 2)]
    return [shape.seq_len - (i * (shape.seq_len - 1)) // (shape.batch - 1) for i in range(shape.batch)]


def _with_lengths(plan: list[dict]) -> list[dict]:
    """Each runnable entry, then the same with variable lengths (skipped where the implementation has none)."""
    out = []
    for entry in plan:
        out.append(entry)
        if entry["shape"] is not None:
            impl = entry["impl"]
            reason = entry["skip"] or (None if impl.variable_length else f"{impl.key} takes fixed lengths only")
            out.append(entry | {"lengths": varlen_lengths(entry["shape"]), "skip": reason})
    return out


def _plan(impls, device: str, dtypes: list[str], all_shapes: bool) -> list[dict]:
    """One entry per (implementation, dtype, shape): either a case to run or a skip with its reason."""
    plan = []
    for impl in impls:
        for dtype in dtypes:
            general = impl.unsupported_reason(device, DTYPES[dtype])
            if general is not None:
                plan.append({"impl": impl, "dtype": dtype, "shape": None, "skip": general})
                continue
            for shape in SHAPES:
                reason = impl.unsupported_reason(device, DTYPES[dtype], shape.num_layers, shape.bidirectional)
                if reason is None and _is_compiled(impl) and not all_shapes and shape != COMPILE_SHAPE:
                    reason = f"compiled and exported variants run one shape ({COMPILE_SHAPE.label}) unless --all-shapes"
                plan.append({"impl": impl, "dtype": dtype, "shape": shape, "skip": reason})
    return plan


def _check_lengths(impl, device: str, dtype: str, shape: Shape, lengths: list[int], gradients: bool, seed: int):
    from bench.worker.correctness_varlen import check_varlen
    from bench.worker.workload import matmul_precision
    from implementations.families import make_reference

    reference = make_reference(
        impl.family, shape.input_size, shape.hidden_size, shape.num_layers, shape.bidirectional, seed=seed
    )
    with matmul_precision(dtype):
        model = impl.build(reference, device, DTYPES[dtype])
    return check_varlen(
        model, reference, lengths, seq_len=shape.seq_len, device=device, dtype=dtype, gradients=gradients, seed=seed
    )


def _run_one(impl: registry.Implementation, device: str, dtype: str, shape: Shape, lengths=None) -> dict:
    gradients = impl.training
    started = time.perf_counter()
    try:
        # a seed per shape: other weights and inputs for every shape, the same ones on every run
        seed = SHAPES.index(shape)
        if lengths is not None:
            result = _check_lengths(impl, device, dtype, shape, lengths, gradients, seed)
        else:
            result = check(impl, device=device, dtype=dtype, gradients=gradients, seed=seed, **asdict(shape))
    except Exception as exc:  # a broken implementation is a failed case, reported, not a crash of verify
        first_line = (str(exc).strip().splitlines() or [""])[0]
        return {"status": "error", "message": f"raised {type(exc).__name__}: {first_line}"[:300]}
    row = asdict(result)
    row["status"] = "pass" if result.correct else "fail"
    if not gradients:
        row["message"] += " (forward only: inference-only implementation)"
    row["seconds"] = round(time.perf_counter() - started, 3)
    return row


def _finite(value):
    return value if not isinstance(value, float) or math.isfinite(value) else None


def _write_json(path: Path, rows: list[dict]) -> None:
    """Atomically: an interrupted run never leaves a half-written file in place of an older one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump([{k: _finite(v) for k, v in row.items()} for row in rows], handle, indent=2)
    os.replace(tmp, path)


def _fmt(value) -> str:
    if value is None:
        return MISSING
    return f"{value:.1e}" if math.isfinite(value) else "inf"


def _check_all(plan: list[dict], device: str) -> list[dict]:
    """One row per plan entry: its check's result, or its skip reason. A bar on a terminal, nothing in a log."""
    todo = [p for p in plan if p["skip"] is None]
    quiet = not sys.stderr.isatty()
    progress = tqdm(total=len(todo), file=sys.stderr, disable=quiet, unit="case", leave=False, **bar_size(sys.stderr))
    rows: list[dict] = []
    for entry in plan:
        impl, shape = entry["impl"], entry["shape"]
        row = {"key": impl.key, "family": impl.family, "impl": impl.impl, "device": device, "dtype": entry["dtype"]}
        row.update(asdict(shape) if shape else {})
        if "lengths" in entry:
            row["lengths"] = entry["lengths"]
        if entry["skip"] is not None:
            row.update(status="skipped", message=entry["skip"])
        else:
            progress.set_postfix_str(f"{impl.key} {shape.label} {entry['dtype']}")
            row.update(_run_one(impl, device, entry["dtype"], shape, entry.get("lengths")))
            progress.update()
        rows.append(row)
    progress.close()
    return rows


def _table(rows: list[dict], colored: bool) -> str:
    table = []
    for row in rows:
        label = shape_label(row) if "batch" in row else "all shapes"
        if "lengths" in row:
            label += " len " + ",".join(map(str, row["lengths"]))
        status = {"pass": color("pass", "green", colored), "skipped": color("skip", "dim", colored)}.get(
            row["status"], color("FAIL", "red", colored)
        )
        note = "" if row["status"] == "pass" else row["message"]
        errors = [_fmt(row.get(name)) for name in ("max_abs_err", "rel_err", "grad_rel_err")]
        table.append([row["key"], label, row["dtype"], *errors, status, note])
    headers = ["key", "shape", "dtype", "max abs", "rel err", "grad rel", "result", "note"]
    return format_table(headers, table, align_right=(3, 4, 5))


def run(args: argparse.Namespace) -> int:
    impls, device, dtypes = _parse(args)
    started = time.perf_counter()
    plan = _plan(impls, device, dtypes, args.all_shapes)
    rows = _check_all(_with_lengths(plan) if args.lengths else plan, device)
    elapsed = time.perf_counter() - started
    print(_table(rows, use_color()))
    counts = {s: sum(r["status"] == s for r in rows) for s in ("pass", "fail", "error", "skipped")}
    failed = counts["fail"] + counts["error"]
    own = sorted({f"{impl.key} {impl.tolerance:.0e}" for impl in impls if getattr(impl, "tolerance", None)})
    print(
        f"\n{counts['pass']} passed, {failed} failed, {counts['skipped']} skipped in {elapsed:.1f} s "
        f"(tolerances: {', '.join(f'{d} {TOLERANCES[d]:.0e}' for d in dtypes)}"
        + (f"; their own: {', '.join(own)}" if own else "")
        + ")"
    )
    if args.json is not None:
        _write_json(args.json, rows)
    return 1 if failed else 0
