"""The append-only row logs under a run and their compaction into measurements.parquet / .csv."""

import json
import os
import subprocess
import sys
import textwrap
import threading

import pandas as pd
import pyarrow.parquet as pq
from conftest import ROOT

from bench.results import compaction, rowlog, store


def _row(case_id: str, median: float, **extra) -> dict:
    return {"run_id": "r", "case_id": case_id, "status": "ok", "median_s": median, "samples_s": [median], **extra}


def test_rows_are_logged_then_compacted_and_the_last_row_of_a_case_wins(tmp_path):
    run = store.create_run(tmp_path, "r", {})
    store.append_rows(run, [_row("a", 1.0), _row("b", 2.0)])
    store.append_rows(run, [_row("a", 3.0, std_s=float("nan"))])
    assert not (run / store.MEASUREMENTS).exists()  # appends never rewrite the table
    [log] = rowlog.logs(run / rowlog.ROWS)
    assert len(log.read_bytes().splitlines()) == 3

    frame = store.read_measurements(run)  # a reader folds the logs in; the writer is still open: log kept
    assert frame.set_index("case_id")["median_s"].to_dict() == {"b": 2.0, "a": 3.0}
    assert (run / store.MEASUREMENTS).is_file() and log.exists()
    store.append_rows(run, [_row("c", 4.0, lengths=[3, 4])])  # past what the parquet holds
    assert sorted(store.read_measurements(run)["case_id"]) == ["a", "b", "c"]

    store.seal(run)  # writer closed: its log is in the parquet and is deleted
    assert rowlog.logs(run / rowlog.ROWS) == []
    assert pq.read_table(run / store.MEASUREMENTS).num_rows == 3
    csv = pd.read_csv(run / "measurements.csv").set_index("case_id")
    assert csv.loc["a", "median_s"] == 3.0 and json.loads(csv.loc["c", "samples_s"]) == [4.0]
    assert json.loads(csv.loc["c", "lengths"]) == [3, 4]  # any list column is JSON text in the CSV

    store.append_rows(run, [_row("b", 5.0)])  # a resumed run: a new log, numbered after the first
    assert rowlog.seq_of(rowlog.logs(run / rowlog.ROWS)[0].name) == 2
    store.seal(run)
    assert store.read_measurements(run).set_index("case_id")["median_s"].to_dict() == {"a": 3.0, "c": 4.0, "b": 5.0}


def test_each_log_is_fsynced_before_it_is_closed(tmp_path, monkeypatch):
    run = store.create_run(tmp_path, "r", {})
    synced = []
    real = rowlog._sync
    monkeypatch.setattr(rowlog, "_sync", lambda fd: (synced.append(fd), real(fd)))
    store.append_rows(run, [_row("a", 1.0)])
    fd = rowlog._WRITERS[run.resolve()].fd
    rowlog.close(run)
    assert fd in synced


def test_write_measurements_replaces_rows_logged_before(tmp_path):
    run = store.create_run(tmp_path, "r", {})
    store.append_rows(run, [_row("a", 1.0)])
    store.write_measurements(run, pd.DataFrame([_row("z", 9.0)]))
    assert list(store.read_measurements(run)["case_id"]) == ["z"]


def test_a_corrupt_line_is_skipped_with_a_warning_naming_its_log(tmp_path, capsys):
    run = store.create_run(tmp_path, "r", {})
    store.append_rows(run, [_row("a", 1.0)])
    [log] = rowlog.logs(run / rowlog.ROWS)
    with open(log, "ab") as f:
        f.write(b"{not json\n")
    store.append_rows(run, [_row("b", 2.0)])
    rowlog.close(run)
    frame = store.read_measurements(run)
    assert sorted(frame["case_id"]) == ["a", "b"]
    err = capsys.readouterr().err
    assert log.name in err and "skipped 1 line" in err
    assert (log.parent / (log.name + ".corrupt")).is_file()  # kept for a person, never read again
    assert sorted(store.read_measurements(run)["case_id"]) == ["a", "b"]


def test_a_killed_writer_loses_only_the_line_it_was_writing(tmp_path, capsys):
    run = store.create_run(tmp_path, "r", {})
    script = textwrap.dedent(
        f"""
        import os, signal
        from bench.results import rowlog, store
        store.append_rows({str(run)!r}, [{{"case_id": "a", "status": "ok"}}])
        os.write(rowlog._WRITERS[rowlog.Path({str(run)!r}).resolve()].fd, b'{{"case_id": "b", "sta')
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    assert subprocess.run([sys.executable, "-c", script], env=env).returncode == -9
    assert list(store.read_measurements(run)["case_id"]) == ["a"]
    assert "incomplete last line" in capsys.readouterr().err


def test_readers_see_every_row_while_a_writer_appends(tmp_path):
    """A writer process appends 1000 rows; this process reads (and compacts) meanwhile: each read holds
    a prefix of the rows, once each, and the last read holds them all."""
    run = store.create_run(tmp_path, "r", {})
    script = (
        "import time\nfrom bench.results import store\n"
        f"for i in range(1000): store.append_rows({str(run)!r}, [{{'case_id': f'c{{i:04d}}', 'status': 'ok'}}])"
        " or (i % 20 or time.sleep(0.01))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    writer = subprocess.Popen([sys.executable, "-c", script], env=env)
    counts = []
    while writer.poll() is None:
        ids = list(store.read_measurements(run)["case_id"])
        assert ids == [f"c{i:04d}" for i in range(len(ids))]
        counts.append(len(ids))
    assert writer.returncode == 0
    assert counts == sorted(counts) and any(0 < n < 1000 for n in counts)  # some reads were mid-way
    assert list(store.read_measurements(run)["case_id"]) == [f"c{i:04d}" for i in range(1000)]
    assert compaction.compact(run) is not None and rowlog.logs(run / rowlog.ROWS) == []


def test_appends_do_not_wait_for_the_disk(tmp_path, monkeypatch):
    """The Ray driver and the runner append while an fsync is still running: the syncer thread waits
    for the disk, the caller does not; closing the log waits for the last fsync."""
    run = store.create_run(tmp_path, "r", {})
    disk = threading.Event()
    started = threading.Event()
    real = os.fsync

    def slow_fsync(fd):
        started.set()
        disk.wait(timeout=60)
        real(fd)

    monkeypatch.setattr(rowlog, "_sync", slow_fsync)
    store.append_rows(run, [_row("a", 1.0)])
    assert started.wait(timeout=30)  # the syncer is inside fsync, held there
    for i in range(20):
        store.append_rows(run, [_row(f"b{i}", 2.0)])  # returns although the disk has not answered
    assert not disk.is_set() and len(store.read_measurements(run)) == 21
    disk.set()
    rowlog.close(run)


def test_a_column_logged_as_text_and_as_a_number_is_kept(tmp_path):
    run = store.create_run(tmp_path, "r", {})
    store.append_rows(run, [_row("a", 1.0, error="a message")])
    store.append_rows(run, [_row("b", 2.0, error=3)])
    rowlog.close(run)
    store.append_rows(run, [_row("c", 3.0, error=4)])  # a second log: the two are joined too
    frame = store.read_measurements(run).set_index("case_id")
    assert list(frame["error"]) == ["a message", "3", "4"]
    rowlog.close(run)
