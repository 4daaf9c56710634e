"""A worker dies with the process that started it, so a killed sweep or Ray task leaves nothing running."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PLUGINS, ROOT

PARENT = """
import sys, time
from pathlib import Path
from bench.plan.cases import Case
from bench.run.worker_process import Worker
from bench.plan.spec import Timing
from bench.worker import protocol
worker = Worker(1, [sys.argv[2]], Path(sys.argv[1]))
worker.request(protocol.MatmulPeak("cpu", "float32"), 120)  # started and ready
case = Case("lstm.test_hang", "lstm", "test_hang", "cpu", "float32", "inference", 1, 2, 4, 4, 1, False)
message = protocol.MeasureCase(case, Timing())
worker.process.stdin.write((protocol.encode(message) + "\\n").encode())
worker.process.stdin.flush()  # the worker now sleeps inside the case, deaf to its stdin closing
print(worker.process.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_worker_dies_when_its_parent_is_killed(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "worker.log"), str(PLUGINS / "crash_plugin.py")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    worker_pid = None
    try:
        worker_pid = int(parent.stdout.readline())
        time.sleep(1.0)  # let it reach the hanging forward
        assert _alive(worker_pid)
        parent.send_signal(signal.SIGKILL)  # no cleanup code runs in the parent
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker_pid)
    finally:
        if parent.poll() is None:
            parent.kill()
        if worker_pid is not None and _alive(worker_pid):  # a failed run must not leave it sleeping
            os.kill(worker_pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent (init here) has yet to reap it
