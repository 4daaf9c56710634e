"""Run directories: results/<run_id>/{run.json, measurements.parquet, measurements.csv, rows/}.

Rows are appended as cases finish, each to a row log (bench/results/rowlog.py) with one fsync, and folded
into measurements.parquet and .csv at the end of a run, on --resume, on merge and by any reader that
finds logs (bench/results/compaction.py). Whole files (run.json, the tables) go to a temporary file first,
fsynced, and are renamed into place, so a crash or Ctrl-C leaves the old file or the new one, never half.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from bench.errors import UsageError
from bench.results import compaction, rowlog
from bench.results.schema import COLUMNS

MEASUREMENTS = "measurements.parquet"
LIST_COLUMNS = ("samples_s", "round_medians_s", "elapsed_samples_s", "instruction_counts")
RUN_JSON = "run.json"


def now() -> str:
    """The time as run.json and the rows record it: ISO 8601, UTC, seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_meta(spec: dict, plugins: list[str], executor: dict, environment: dict, **fields) -> dict:
    """run.json of a run about to be measured: what a sweep and `rnnbench ci` both record."""
    return {
        "command": ["rnnbench", *sys.argv[1:]],
        "spec": spec,
        "plugins": plugins,
        "executor": executor,
        "environment": environment,
        "started_at": now(),
        "finished_at": None,
        "status": "running",
        "peak_flops_per_s": {},
        **fields,
    }


def new_run_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return f"{stamp}-{secrets.token_hex(3)}"


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())

    _atomic_write(path, write)


def create_run(out_dir: str | Path, run_id: str, meta: dict) -> Path:
    """Make results/<run_id>/ and its run.json; a folder we cannot write to is bad input."""
    out_dir = Path(out_dir)
    run_dir = out_dir / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
        write_json(run_dir / RUN_JSON, {"run_id": run_id, **meta})
    except FileExistsError:
        raise UsageError(f"run directory already exists: {run_dir} (use --resume to continue it)") from None
    except OSError as exc:
        raise UsageError(f"cannot write results under {out_dir}: {exc.strerror or exc}") from None
    return run_dir


def read_meta(run_dir: str | Path) -> dict:
    path = Path(run_dir) / RUN_JSON
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError):
        raise UsageError(f"not a run directory (no {RUN_JSON}): {run_dir}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"corrupt {path}: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def update_meta(run_dir: str | Path, **fields) -> dict:
    meta = read_meta(run_dir)
    meta.update(fields)
    write_json(Path(run_dir) / RUN_JSON, meta)
    return meta


def read_measurements(run_dir: str | Path) -> pd.DataFrame:
    """The run's rows (an empty table with the schema's columns when none were written yet): the parquet
    and any rows logged since it was compacted, which this read folds in when it can."""
    run_dir = Path(run_dir)
    if not (run_dir / RUN_JSON).exists():
        read_meta(run_dir)  # raises the one-line error
    table = compaction.read(run_dir)
    if table is None:
        return pd.DataFrame(columns=list(COLUMNS))
    frame = compaction.normalize(table).to_pandas()
    for column in LIST_COLUMNS:
        frame[column] = frame[column].map(lambda s: [] if not _is_list(s) else [float(v) for v in s])
    if "lengths" in frame:
        frame["lengths"] = frame["lengths"].map(lambda s: None if not _is_list(s) else [int(v) for v in s])
    if "length_dist" in frame:  # runs from before the lengths axis: every sequence had seq_len steps
        frame["length_dist"] = frame["length_dist"].fillna("fixed")
    elif len(frame):
        frame["length_dist"] = "fixed"
    return frame


def has_rows(run_dir: str | Path) -> bool:
    """Whether the run wrote any row yet (a compacted table or a row log)."""
    run_dir = Path(run_dir)
    return (run_dir / MEASUREMENTS).is_file() or bool(rowlog.logs(run_dir / rowlog.ROWS))


def write_measurements(run_dir: str | Path, frame: pd.DataFrame) -> None:
    """Make `frame` the run's whole table (parquet and CSV), written atomically and fsynced."""
    compaction.replace(run_dir, frame)


def _is_list(value) -> bool:
    return value is not None and not isinstance(value, float | str) and hasattr(value, "__len__")


def append_rows(run_dir: str | Path, rows: list[dict]) -> None:
    """Add finished cases: one fsynced append to this process's row log, O(1) in the run's size. A case_id
    already present is replaced when read, so a re-run never duplicates."""
    rowlog.append(run_dir, rows)


def seal(run_dir: str | Path) -> None:
    """The end of a run (or of this process's part of it): close our row log and compact the run."""
    rowlog.close(run_dir)
    compaction.compact(run_dir, wait=True)


def finished_case_ids(run_dir: str | Path) -> set[str]:
    """Cases a resumed run need not measure again: anything recorded, except cases lost to a crash
    of the whole sweep (those have no row) — a case recorded as crashed or timed out stays recorded."""
    frame = read_measurements(run_dir)
    return set(frame["case_id"]) if len(frame) else set()


TRAINING = "training.parquet"


def write_training(run_dir: str | Path, frame: pd.DataFrame) -> None:
    """A training run's per-step table (bench/analysis/training.py), written whole, atomically."""
    _atomic_write(Path(run_dir) / TRAINING, lambda tmp: frame.to_parquet(tmp, index=False))


def read_training(run_dir: str | Path) -> pd.DataFrame | None:
    """The run's training.parquet, or None when the run trained nothing."""
    path = Path(run_dir) / TRAINING
    if not path.exists():
        return None
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise UsageError(f"corrupt {path}: {exc}") from None
