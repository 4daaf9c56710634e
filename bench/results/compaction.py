"""Reading a run's rows (parquet + logs) and compacting the logs into measurements.parquet and .csv.

See bench/results/rowlog.py for the layout. Compaction is exclusive (a flock on the run's .compact.lock);
reading is not: a reader that finds the parquet replaced while it read starts again.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from bench.errors import UsageError
from bench.results import rowlog
from bench.results.rowlog import (
    METADATA_KEY,
    PARQUET,
    ROWS,
    LogPart,
    fsync_dir,
    lenient_table,
    logs,
    read_log,
    warn,
    writer_gone,
)
from bench.results.schema import COLUMNS

CSV = "measurements.csv"
LOCK = ".compact.lock"
LIST_COLUMNS = ("samples_s", "round_medians_s")
READ_ATTEMPTS = 200


@dataclass
class _Snapshot:
    table: pa.Table | None  # the parquet's rows
    consumed: dict[str, int]
    max_seq: int
    parts: list[LogPart]


def _snapshot(run_dir: Path) -> _Snapshot | None:
    """The parquet and every log past it, or None when a compaction replaced the parquet meanwhile."""
    path = run_dir / PARQUET
    try:
        f = open(path, "rb")  # noqa: SIM115 - held open so its inode cannot be reused while we read
    except FileNotFoundError:
        f = None
    try:
        inode = os.fstat(f.fileno()).st_ino if f else None
        table, consumed, max_seq = _read_parquet(path, f) if f else (None, {}, 0)
        try:
            parts = [read_log(log, consumed.get(log.name, 0)) for log in logs(run_dir / ROWS)]
        except FileNotFoundError:
            return None
        try:
            now = os.stat(path).st_ino
        except FileNotFoundError:
            now = None
        return _Snapshot(table, consumed, max_seq, parts) if now == inode else None
    finally:
        if f:
            f.close()


def _read_parquet(path: Path, f) -> tuple[pa.Table, dict[str, int], int]:
    try:
        table = pq.read_table(f)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise UsageError(f"corrupt {path}: {exc}") from None
    state = json.loads((table.schema.metadata or {}).get(METADATA_KEY, b"{}"))
    return table.replace_schema_metadata(None), dict(state.get("consumed", {})), int(state.get("max_seq", 0))


def _warn_bad(part: LogPart, gone: bool) -> None:
    if part.bad_offsets:
        offsets = ", ".join(map(str, part.bad_offsets[:5])) + (" ..." if len(part.bad_offsets) > 5 else "")
        warn(f"{part.path}: skipped {len(part.bad_offsets)} line(s) that are not a row (byte offset {offsets})")
    if part.torn and gone:
        warn(f"{part.path}: ignored an incomplete last line (its writer stopped mid-write; that case has no row)")


def _merge(snapshot: _Snapshot) -> pa.Table | None:
    """Parquet rows, then log rows in log order; the last row of a case_id wins."""
    tables = [t for t in [snapshot.table, *(p.table for p in snapshot.parts)] if t is not None and t.num_rows]
    if not tables:
        return snapshot.table if snapshot.table is not None else (normalize(pa.table({})) if snapshot.parts else None)
    table = _concat(tables) if len(tables) > 1 else tables[0]
    duplicated = table.column("case_id").to_pandas().duplicated(keep="last").to_numpy()
    return table.filter(pa.array(~duplicated)) if duplicated.any() else table


def _concat(tables: list[pa.Table]) -> pa.Table:
    """One table; columns whose types Arrow cannot unify (a value logged as text in one row, a number in
    another) go through pandas, which keeps them as objects."""
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowException:
        frame = pd.concat([t.to_pandas() for t in tables], ignore_index=True)
        return lenient_table(frame)


def normalize(table: pa.Table) -> pa.Table:
    """The schema's columns first, in order (absent ones as nulls), then any extra column."""
    for column in COLUMNS:
        if column not in table.column_names:
            table = table.append_column(column, pa.nulls(table.num_rows))
    return table.select(list(COLUMNS) + [c for c in table.column_names if c not in COLUMNS])


@contextmanager
def _exclusive(run_dir: Path, wait: bool) -> Iterator[bool]:
    """The compaction lock; yields False when another process holds it (and we would not wait) or the run
    directory cannot be written (a reader of someone else's results)."""
    try:
        fd = os.open(run_dir / LOCK, os.O_WRONLY | os.O_CREAT, 0o644)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _list_text(column: pa.ChunkedArray) -> pa.Array:
    """A list column as JSON text ("[0.0012, 0.0013]"), formatted by Arrow (shortest round-trip digits);
    an absent list is empty text."""
    values = column.combine_chunks()
    if not (pa.types.is_list(values.type) or pa.types.is_large_list(values.type)):
        return pa.array([""] * len(values), pa.string())
    items = pa.ListArray.from_arrays(values.offsets, pc.cast(values.values, pa.string()), mask=values.is_null())
    return pc.fill_null(pc.binary_join_element_wise("[", pc.binary_join(items, ", "), "]", ""), "")


def _csv_table(table: pa.Table) -> pa.Table:
    """The CSV's copy: list columns (samples_s, round_medians_s, lengths, ...) as JSON text."""
    for index, field in enumerate(table.schema):
        if field.name in LIST_COLUMNS or pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            table = table.set_column(index, field.name, _list_text(table.column(index)))
    return table


def _write_tables(run_dir: Path, table: pa.Table, consumed: dict[str, int], max_seq: int) -> None:
    table = normalize(table)
    state = json.dumps({"consumed": consumed, "max_seq": max_seq}).encode()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA_KEY: state})
    csv = _csv_table(table.replace_schema_metadata(None))
    _atomic(run_dir / CSV, lambda f: _write_csv(csv, f))
    _atomic(run_dir / PARQUET, lambda f: pq.write_table(table, f))
    fsync_dir(run_dir)


def _retire(parts: list[LogPart]) -> None:
    """Logs whose writer is gone, now in the parquet: deleted; one with lines that were not rows is kept
    beside them as <name>.corrupt for a person to look at (and never read again)."""
    for part in parts:
        if part.bad_offsets or part.torn:
            os.replace(part.path, part.path.with_name(part.path.name + ".corrupt"))
        else:
            part.path.unlink(missing_ok=True)


def _fold(run_dir: Path, replacement: pa.Table | None) -> pa.Table | None:
    """Under the lock: the parquet with every log folded in (or `replacement` instead of all of it)."""
    gone = {log.name for log in logs(run_dir / ROWS) if writer_gone(log)}  # before reading: they cannot grow
    snapshot = _snapshot(run_dir)
    while snapshot is None:  # only a compactor without the lock (none) could cause this; be safe anyway
        snapshot = _snapshot(run_dir)
    retired = [p for p in snapshot.parts if p.path.name in gone]
    for part in snapshot.parts:
        _warn_bad(part, part.path.name in gone)
    table = _merge(snapshot) if replacement is None else replacement
    changed = replacement is not None or retired or any(p.table is not None or p.bad_offsets for p in snapshot.parts)
    if changed and table is not None:
        consumed = {p.path.name: p.end for p in snapshot.parts if p.path.name not in gone}
        seqs = [rowlog.seq_of(p.path.name) for p in snapshot.parts] + [snapshot.max_seq]
        _write_tables(run_dir, table, consumed, max(seqs))
        _retire(retired)
    return table


def compact(run_dir: str | Path, wait: bool = True) -> pa.Table | None:
    """Fold the run's logs into measurements.parquet/.csv; returns the rows, or None when the lock was
    busy (wait=False) or the directory is not writable."""
    run_dir = Path(run_dir)
    with _exclusive(run_dir, wait) as locked:
        return _fold(run_dir, None) if locked else None


def replace(run_dir: str | Path, frame: pd.DataFrame) -> None:
    """Make `frame` the run's whole table (merge, pooled rounds); rows logged before now are dropped."""
    run_dir = Path(run_dir)
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    with _exclusive(run_dir, True) as locked:
        if not locked:
            raise UsageError(f"cannot write results under {run_dir}")
        _fold(run_dir, table)


def read(run_dir: str | Path) -> pa.Table | None:
    """Every row of the run (None: nothing written yet). A reader that finds logs compacts them if it can."""
    run_dir = Path(run_dir)
    if logs(run_dir / ROWS):
        table = compact(run_dir, wait=False)
        if table is not None:
            return table
    for _ in range(READ_ATTEMPTS):
        snapshot = _snapshot(run_dir)
        if snapshot is not None:
            for part in snapshot.parts:
                _warn_bad(part, False)
            return _merge(snapshot)
        time.sleep(0.01)
    raise UsageError(f"{run_dir}: its table kept changing while being read; try again")


def _write_csv(table: pa.Table, f) -> None:
    """Through Arrow's CSV writer; an all-null column is written as empty text."""
    for index, field in enumerate(table.schema):
        if pa.types.is_null(field.type):
            table = table.set_column(index, field.name, table.column(index).cast(pa.string()))
    pa_csv.write_csv(table, f)
