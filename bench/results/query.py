"""SQL over every run under a results root, with DuckDB reading the runs' parquet files in place.

Two relations: `runs` (one row per run, bench.results.catalog.RUN_COLUMNS) and `measurements` (every row of
every run, bench.results.schema.COLUMNS, joined with its run's columns: git_commit, git_commit_time,
git_branch, torch, python, cpu_model, and run_started_at, run_status, run_host, ... where a row has a
column of the same name). Nothing is loaded into pandas but the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from bench.errors import UsageError
from bench.results import catalog, compaction


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _run_columns_sql() -> str:
    names = [c for c in catalog.RUN_COLUMNS if c not in ("run_id", "path", "cases")]
    return ", ".join(f"r.{c} AS run_{c}" if c in catalog.PREFIXED else f"r.{c}" for c in names)


def _sources(con: duckdb.DuckDBPyConnection, runs: list[catalog.Run]) -> str:
    """A SELECT over every run's rows, each row tagged with its run directory (`_path`)."""
    parts = []
    files = [str(run.parquet) for run in runs if run.parquet is not None]
    if files:
        listing = "[" + ", ".join(map(_literal, files)) + "]"
        parts.append(
            f"SELECT * EXCLUDE (filename), parse_dirpath(filename) AS _path "
            f"FROM read_parquet({listing}, union_by_name = true, filename = true)"
        )
    live = [
        run.live.append_column("_path", pa.array([str(Path(run.record["path"]))] * run.live.num_rows, pa.string()))
        for run in runs
        if run.live is not None and run.live.num_rows
    ]
    if live:
        con.register("_live", pa.concat_tables(live, promote_options="permissive"))
        parts.append("SELECT * FROM _live")
    if not parts:
        empty = compaction.normalize(pa.table({})).append_column("_path", pa.array([], pa.string()))
        con.register("_empty", empty)
        parts.append("SELECT * FROM _empty")
    return " UNION ALL BY NAME ".join(parts)


def connect(root: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the `runs` table and the `measurements` view over `root`."""
    runs = catalog.load(root)
    con = duckdb.connect()
    con.register("_runs", pd.DataFrame([run.record for run in runs], columns=list(catalog.RUN_COLUMNS)))
    con.execute("CREATE TABLE runs AS SELECT * FROM _runs")
    con.execute(
        f"CREATE VIEW measurements AS SELECT m.* EXCLUDE (run_id, _path), r.run_id, {_run_columns_sql()} "
        f"FROM ({_sources(con, runs)}) m JOIN runs r ON m._path = r.path"
    )
    return con


def sql(con: duckdb.DuckDBPyConnection, text: str, parameters: list | None = None) -> pd.DataFrame:
    """The answer as a DataFrame; SQL that fails is bad input, with DuckDB's own message on one line."""
    try:
        return con.execute(text, parameters or []).df()
    except duckdb.Error as exc:
        first = " ".join(str(exc).split())  # DuckDB's messages span lines (a caret under the bad token)
        raise UsageError(f"SQL failed: {first}") from None


def write(frame: pd.DataFrame, path: str | Path) -> Path:
    """The answer as CSV or parquet, by the file's suffix."""
    path = Path(path)
    try:
        if path.suffix == ".parquet":
            frame.to_parquet(path, index=False)
        elif path.suffix == ".csv":
            frame.to_csv(path, index=False)
        else:
            raise UsageError(f"--out {path}: expected a .csv or .parquet file")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def impl_filter(globs) -> tuple[str, list[str]]:
    """A SQL condition on `key` matching any of the globs (TRUE for none), and its parameters."""
    if not globs:
        return "TRUE", []
    return "(" + " OR ".join("key GLOB ?" for _ in globs) + ")", list(globs)


def parse_since(text: str) -> datetime:
    """--since: an ISO 8601 date or time (UTC unless it says otherwise)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r}: expected an ISO 8601 date, e.g. 2026-12-01 or 2026-12-01T18:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def list_runs(con: duckdb.DuckDBPyConnection, impl=None, since: datetime | None = None) -> pd.DataFrame:
    """The `runs` table, newest first: only runs with a case whose key matches `impl`, started since `since`."""
    condition, parameters = impl_filter(impl)
    where = [f"run_id IN (SELECT DISTINCT run_id FROM measurements WHERE {condition})"] if impl else []
    if since is not None:
        where.append("TRY_CAST(started_at AS TIMESTAMPTZ) >= ?")
        parameters.append(since)
    text = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
    return sql(con, text + " ORDER BY started_at DESC NULLS LAST, run_id", parameters)
