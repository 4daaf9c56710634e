"""What a person sees in a terminal: the progress bar on a TTY, plain lines in a log, the tables."""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest
from conftest import ROOT, TINY_SHAPE

from bench.render.terminal import color, format_table

SMALL = [
    "sweep",
    "--impl",
    "gru.native,rnn_tanh.native",
    "--mode",
    "inference",
    "--batch",
    "2",
    *TINY_SHAPE,
    "--budget-s",
    "0.05",
    "--no-check",
    "--no-report",
]


def _run_in_pty(args: list[str], timeout: float = 180) -> str:
    """Run the CLI with a pseudo-terminal as stdout and stderr, as an interactive shell would."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # 40 rows, 160 columns
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="120", TERM="xterm")
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        cwd=ROOT,
        env=env,
        close_fds=True,
    )
    os.close(secondary)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if ready:
            try:
                data = os.read(primary, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    process.wait(timeout=30)
    os.close(primary)
    assert process.returncode == 0
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_progress_bar_on_a_terminal_plain_lines_in_a_log(tmp_path, cli):
    screen = _run_in_pty([*SMALL, "--out", str(tmp_path / "tty")])
    # tqdm redraws one line with carriage returns: the current case, a count and the rate/ETA
    assert "\r" in screen
    assert re.search(r"rnn_tanh\.native cpu float32 inference b2 t4 i8 h8 l1.*\d+/2", screen)
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d", screen)  # elapsed<remaining
    assert "fastest" in screen  # the summary table follows the bar
    logged = cli(*SMALL, "--out", str(tmp_path / "log"))  # stderr is a pipe, as in CI
    assert "\r" not in logged.stderr
    assert re.search(r"^\[1/2\] gru\.native .*: ok [\d.]+ \w+ \(IQR \d+%, n=\d+\)$", logged.stderr, re.M)
    assert re.search(r"^\[2/2\] rnn_tanh\.native ", logged.stderr, re.M)


def test_tables_align_columns_even_with_colour():
    text = format_table(
        ["key", "median"], [["lstm.native", color("1.0 ms", "green", True)], ["gru.x", "10 ms"]], align_right=(1,)
    )
    lines = [re.sub(r"\033\[[0-9;]*m", "", line) for line in text.splitlines()]
    assert lines[0] == "key          median"
    assert lines[1] == "-----------  ------"
    assert lines[2].endswith("1.0 ms") and lines[3].endswith(" 10 ms")
    assert len({len(line) for line in lines}) == 1


def test_a_terminal_reporting_no_size_still_gets_a_bar():
    from bench.run.progress import bar_size

    primary, secondary = pty.openpty()  # a new pseudo-terminal reports 0 x 0 until someone sets its size
    try:
        with os.fdopen(os.dup(secondary), "w") as stream:
            assert bar_size(stream) == {"ncols": 120, "nrows": 40}
            fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 90, 0, 0))
            assert bar_size(stream) == {"dynamic_ncols": True}
    finally:
        os.close(primary)
        os.close(secondary)


def test_output_piped_into_a_reader_that_stops_early_ends_quietly():
    """`rnnbench list | head -1`: a reader that has closed the pipe ends the command without a traceback."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", "list"], cwd=root, env=dict(os.environ, PYTHONPATH=str(root)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    process.stdout.close()  # the reader is gone before the first line is written
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 141, stderr
    assert stderr == ""
