"""The messages between the parent (bench.run.runner) and the worker process: one JSON line each.

Requests go to the worker on its stdin, replies come back on a private copy of its stdout. Each message is
a small frozen dataclass, sent as {"type": <class name>, **fields}; `encode` and `decode` are the only two
places that know the wire form. Rows inside replies are measurement-table rows (bench/results/schema.py).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from bench.plan.cases import Case
from bench.plan.spec import Timing

STARTED = "rnnbench worker started, pid"  # the worker's first line in its log: which process measured when


@dataclass(frozen=True)
class Ready:
    """The worker's first message: it started (and loaded the base tree, if it was given one)."""

    pid: int
    load_error: str | None = None  # the base tree could not be imported: every pair would fail alike


@dataclass(frozen=True)
class MeasureCase:
    case: Case
    timing: Timing
    peak_flops_per_s: float | None = None
    repeat: bool = False  # a later round: time only (memory and correctness come from the first)
    calls_per_sample: int | None = None  # a later round keeps the first round's block size


@dataclass(frozen=True)
class MeasurePair:
    """Both sides of a case, base and new, in alternating blocks (bench/worker/side_by_side.py)."""

    case: Case
    timing: Timing
    peak_flops_per_s: float | None = None
    repeat: bool = False
    first: str = "base"  # the side built and timed first (bench/ci/paired.py alternates it)
    calls_per_sample: int | None = None


@dataclass(frozen=True)
class MatmulPeak:
    device: str
    dtype: str


@dataclass(frozen=True)
class Environment:
    """The worker's machine, for run.json (Ray nodes are other machines)."""


@dataclass(frozen=True)
class Profile:
    case: Case
    traces: str
    run_id: str
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Train:
    """Train the case's implementation on a task (bench/worker/training.py)."""

    case: Case
    task: str
    steps: int
    seed: int


@dataclass(frozen=True)
class CaseResult:
    row: dict


@dataclass(frozen=True)
class PairResult:
    rows: dict  # side -> row


@dataclass(frozen=True)
class TrainResult:
    row: dict
    curve: dict  # column -> per-step list


@dataclass(frozen=True)
class PeakResult:
    """The best library's FLOP/s, which library it was and every candidate's figure (bench/worker/peak.py)."""

    peak_flops_per_s: float | None
    library: str | None = None
    candidates: dict = field(default_factory=dict)
    size: int | None = None


@dataclass(frozen=True)
class EnvironmentResult:
    environment: dict


@dataclass(frozen=True)
class ProfileResult:
    top_ops: list | None = None
    error: str | None = None


MESSAGES = {
    cls.__name__: cls
    for cls in (
        Ready,
        MeasureCase,
        MeasurePair,
        MatmulPeak,
        Environment,
        Profile,
        Train,
        CaseResult,
        PairResult,
        TrainResult,
        PeakResult,
        EnvironmentResult,
        ProfileResult,
    )
}
_NESTED = {"case": Case, "timing": Timing}


class ProtocolError(ValueError):
    pass


def encode(message) -> str:
    """One line of JSON; non-finite floats become null (JSON has none)."""
    fields = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
    payload = {name: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for name, v in fields.items()}
    return json.dumps({"type": type(message).__name__, **_clean(payload)})


def decode(line: str | bytes):
    try:
        payload = json.loads(line)
        cls = MESSAGES[payload.pop("type")]
        return cls(**{k: _NESTED[k](**v) if k in _NESTED else v for k, v in payload.items()})
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(f"not a worker message: {str(line)[:120]!r} ({exc})") from None


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
