"""The flags that describe a sweep, shared by `rnnbench sweep` and `rnnbench ci --sweep-args`."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from bench.plan.spec import CACHES, CLOCKS, ISOLATIONS, SweepSpec, load_spec, with_overrides

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.toml"


def _csv(kind):
    def parse(text: str) -> list:
        try:
            return [kind(part.strip()) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__} values, got {text!r}") from None

    return parse


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "bi"):
        return True
    if lowered in ("false", "0", "no", "uni"):
        return False
    raise ValueError(text)


_bool.__name__ = "true/false"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        help=f"sweep spec (TOML); default {DEFAULT_CONFIG.relative_to(Path.cwd())}"
        if DEFAULT_CONFIG.is_relative_to(Path.cwd())
        else "sweep spec (TOML)",
    )
    # comma-separated, or repeated: `--impl 'lstm.*' --impl gru.native` is `--impl 'lstm.*,gru.native'`
    axes = parser.add_argument_group("axes (override the config; comma-separated lists, or the flag repeated)")
    axis = functools.partial(axes.add_argument, action="extend")
    axis("--impl", type=_csv(str), help="implementation globs, e.g. 'lstm.*'")
    axis("--device", type=_csv(str))
    axis("--dtype", type=_csv(str))
    axis("--mode", type=_csv(str), help="inference,training,streaming")
    for name in ("batch", "seq-len", "input-size", "hidden-size", "num-layers"):
        axis(f"--{name}", type=_csv(int))
    axis("--bidirectional", type=_csv(_bool), help="false,true")
    axis(
        "--lengths", type=_csv(str), help="sequence lengths in a batch: fixed,uniform:0.3 (from [0.3*seq_len, seq_len])"
    )
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: one per core)")
    parser.add_argument("--budget-s", type=float, help="time budget per timed quantity of a case")
    parser.add_argument("--timeout-s", type=float, help="per-case timeout, compile included")
    parser.add_argument("--rounds", type=int, help="times through the case list, samples pooled per case")
    parser.add_argument("--streaming-steps", type=int, help="streaming mode: steps timed one by one per case (2000)")
    parser.add_argument(
        "--clock",
        choices=CLOCKS,
        help="time elapsed (wall) or the process's CPU time (cpu, 1 thread), or count CPU instructions under "
        "Valgrind (instructions, see docs/instructions.md)",
    )
    parser.add_argument("--isolation", choices=ISOLATIONS, help="process: a fresh worker per case; shared; auto")
    parser.add_argument("--cache", choices=CACHES, help="warm, or cold: flush the last-level cache before each call")
    parser.add_argument("--reverse", action="store_true", help="measure the case list in reverse order")
    parser.add_argument("--no-check", action="store_true", help="skip the correctness check of each case")
    parser.add_argument("--out", default="results", help="parent folder of run directories (results)")
    parser.add_argument("--run-id", help="name of the run directory (default: time stamp + random suffix)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="finish an interrupted run; re-runs nothing measured")
    parser.add_argument("--no-report", action="store_true", help="do not write the HTML report at the end")
    parser.add_argument(
        "--shard", metavar="K/N", help="run only shard K of N (balanced by FLOPs); merge with 'rnnbench merge'"
    )
    parser.add_argument("--progress", choices=["auto", "bar", "plain", "none"], default="auto")
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="local: one isolated worker here (default); ray: each case a Ray task (pip install rnnbench[ray])",
    )
    parser.add_argument(
        "--address",
        help="with --executor ray: the cluster to join (auto, HOST:PORT, ray://HOST:10001); default: local Ray",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after timing, write a profiler trace and top operators for every ok case",
    )


def spec_from_args(args: argparse.Namespace) -> SweepSpec:
    """The spec the flags describe: the config file's, with the flags' axes and timing over it."""
    spec = load_spec(args.config or DEFAULT_CONFIG)
    spec = with_overrides(
        spec,
        impls=args.impl,
        devices=args.device,
        dtypes=args.dtype,
        modes=args.mode,
        batch=args.batch,
        seq_len=args.seq_len,
        input_size=args.input_size,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        bidirectional=args.bidirectional,
        lengths=args.lengths,
    )
    timing = {
        k: v
        for k, v in {
            "threads": args.threads,
            "budget_s": args.budget_s,
            "timeout_s": args.timeout_s,
            "rounds": args.rounds,
            "clock": args.clock,
            "streaming_steps": args.streaming_steps,
            "isolation": args.isolation,
            "cache": args.cache,
        }.items()
        if v is not None
    }
    if args.no_check:
        timing["check"] = False
    if timing:
        import dataclasses

        spec = dataclasses.replace(spec, timing=dataclasses.replace(spec.timing, **timing))
        if 0 < spec.timing.budget_s < spec.timing.min_time_s:
            spec = dataclasses.replace(spec, timing=dataclasses.replace(spec.timing, min_time_s=spec.timing.budget_s))
        from bench.plan.spec import validate

        validate(spec, "command line")
    return spec
