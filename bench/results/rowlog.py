"""Append-only rows of a run: results/<run_id>/rows/<seq>-<pid>-<token>.jsonl, compacted into the parquet.

Each finished case is one JSON line appended to the writing process's own log, O(1) in the size of the
run; a syncer thread fsyncs the log right behind the appends (group commit: one fsync covers every line
written while the last one ran, so an fsync-bound disk does not slow the appends down). A SIGKILL at any
moment loses at most the line being written (its case has no row, so a resume measures it again).

`measurements.parquet` (and the CSV beside it) is a compaction of those logs: the parquet's metadata
records how many bytes of each log it holds, so a reader takes the parquet, then every log from where the
parquet stopped, and the last row of a case_id wins (a later round replaces the earlier one). Compaction
runs under an exclusive lock, writes the new parquet atomically (fsynced, renamed, directory fsynced) and
only then deletes logs whose writer is gone (a writer holds a flock on its log for as long as it is open;
the kernel drops it when the process dies). Readers take no lock: they retry when a compaction replaced
the parquet while they were reading.
"""

from __future__ import annotations

import atexit
import fcntl
import io
import json
import math
import os
import secrets
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

ROWS = "rows"
PARQUET = "measurements.parquet"
METADATA_KEY = b"rnnbench.rowlog"  # in the parquet footer: {"consumed": {log: bytes}, "max_seq": n}

_WRITERS: dict[Path, _Writer] = {}


def warn(message: str) -> None:
    print(f"rnnbench: warning: {message}", file=sys.stderr)


def _json_default(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):  # numpy arrays
        return value.tolist()
    return str(value)


def _sync(fd: int) -> None:
    """The log's fsync (a seam of its own, so a test can hold the disk)."""
    os.fsync(fd)


def _strict(row: dict) -> dict:
    """NaN and infinities as null, so the line is strict JSON (Arrow's reader refuses NaN)."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


class _Writer:
    """This process's log in one run directory, held open (and flocked) until `close`.

    Group commit: `append` returns once its lines are written to the file (a crash of this process can no
    longer lose them); a syncer thread fsyncs whatever was written since its last fsync, so one fsync covers
    every row appended while the previous one ran, and a row is on disk within about one fsync's time.
    `close` waits for the last fsync.
    """

    def __init__(self, run_dir: Path) -> None:
        rows = run_dir / ROWS
        rows.mkdir(exist_ok=True)
        seq = max([seq_of(p.name) for p in logs(rows)] + [_parquet_state(run_dir / PARQUET)[1]], default=0) + 1
        self.path = rows / f"{seq:06d}-{os.getpid()}-{secrets.token_hex(3)}.jsonl"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        fsync_dir(rows)
        self.written = self.synced = 0
        self.closing = False
        self.error: OSError | None = None
        self.changed = threading.Condition()
        self.syncer = threading.Thread(target=self._sync_loop, name=f"rnnbench-fsync-{self.path.name}", daemon=True)
        self.syncer.start()

    def append(self, rows: list[dict]) -> None:
        data = "".join(json.dumps(_strict(row), default=_json_default) + "\n" for row in rows).encode()
        with self.changed:
            if self.error is not None:
                raise self.error
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
            self.written += 1
            self.changed.notify_all()

    def _sync_loop(self) -> None:
        while True:
            with self.changed:
                self.changed.wait_for(lambda: self.written > self.synced or self.closing)
                if self.written == self.synced:
                    return  # closing, everything synced
                target = self.written
            try:
                _sync(self.fd)
            except OSError as exc:
                with self.changed:
                    self.error, self.synced = exc, self.written
                    self.changed.notify_all()
                return
            with self.changed:
                self.synced = target
                self.changed.notify_all()

    def close(self) -> None:
        with self.changed:
            self.closing = True
            self.changed.notify_all()
        self.syncer.join()
        os.close(self.fd)  # releases the flock
        if self.error is not None:
            raise self.error


def append(run_dir: str | Path, rows: list[dict]) -> None:
    """Write rows to this process's log of the run (fsynced by the log's syncer right after)."""
    if not rows:
        return
    key = Path(run_dir).resolve()
    if key not in _WRITERS:
        _WRITERS[key] = _Writer(key)
    _WRITERS[key].append(rows)


@atexit.register
def close_all() -> None:
    """Every log this process has open, each after its last fsync."""
    for run_dir in list(_WRITERS):
        close(run_dir)


def close(run_dir: str | Path) -> None:
    """Close this process's log of the run (its rows stay until the next compaction folds them in)."""
    writer = _WRITERS.pop(Path(run_dir).resolve(), None)
    if writer is not None:
        writer.close()


def seq_of(name: str) -> int:
    try:
        return int(name.split("-", 1)[0])
    except ValueError:
        return 0


def logs(rows: Path) -> list[Path]:
    try:
        return sorted((p for p in rows.iterdir() if p.suffix == ".jsonl"), key=lambda p: (seq_of(p.name), p.name))
    except FileNotFoundError:
        return []


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _parquet_state(path: Path) -> tuple[dict[str, int], int]:
    """(bytes of each log the parquet holds, highest log number it has seen), from its footer."""
    try:
        metadata = pq.read_metadata(path).metadata or {}
    except (FileNotFoundError, OSError, pa.ArrowException):
        return {}, 0
    state = json.loads(metadata.get(METADATA_KEY, b"{}"))
    return dict(state.get("consumed", {})), int(state.get("max_seq", 0))


@dataclass
class LogPart:
    path: Path
    end: int  # byte offset just past the last complete line read
    table: pa.Table | None  # its rows (None: none)
    bad_offsets: list[int]  # lines that are not a row, by byte offset
    torn: bool  # bytes after the last newline: a writer stopped mid-line (or is writing it now)


def read_log(path: Path, start: int) -> LogPart:
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    last = data.rfind(b"\n")
    complete = data[: last + 1]
    table, bad = _parse_fast(complete), []
    if table is None and complete.strip():
        table, bad = _parse_lines(complete, start)
    return LogPart(path, start + last + 1, table, bad, last + 1 < len(data))


def _parse_fast(data: bytes) -> pa.Table | None:
    """Arrow's JSON reader, when every line is a valid row (else None: parse line by line)."""
    if not data.strip():
        return None
    try:
        table = pa_json.read_json(io.BytesIO(data))
    except (pa.ArrowException, ValueError):
        return None
    if "case_id" not in table.column_names or table.column("case_id").null_count:
        return None
    return table


def _parse_lines(data: bytes, start: int) -> tuple[pa.Table | None, list[int]]:
    rows, bad, offset = [], [], start
    for line in data.splitlines(keepends=True):
        if line.strip():
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or not isinstance(row.get("case_id"), str):
                    raise ValueError("not a row")
                rows.append(row)
            except ValueError:
                bad.append(offset)
        offset += len(line)
    if not rows:
        return None, bad
    try:
        return pa.Table.from_pylist(rows), bad
    except pa.ArrowException:
        return lenient_table(pd.DataFrame.from_records(rows)), bad


def lenient_table(frame: pd.DataFrame) -> pa.Table:
    """A table from rows whose columns may mix kinds (a value logged as text in one row, a number in
    another): such a column is kept as text."""
    columns = {}
    for column in frame.columns:
        try:
            columns[column] = pa.array(frame[column], from_pandas=True)
        except pa.ArrowException:
            values = frame[column]
            text = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in values]
            columns[column] = pa.array(text, pa.string())
    return pa.table(columns)


def writer_gone(path: Path) -> bool:
    """Whether the process that wrote this log closed it or died (its flock is free): it will not grow."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
