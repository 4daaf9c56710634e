"""The pytest-benchmark suite's set-up: the thread count, and optional plugins named in RNNBENCH_PLUGINS
(os.pathsep-separated).

Threads: RNNBENCH_THREADS, else the sweep's default (one per core but one). With as many threads as cores, one
busy neighbour turns a sub-millisecond LSTM call into a 100 ms one (see the noise table in docs/measurement.md).
"""

import os

import torch

from bench.worker.environment import default_threads
from implementations.registry import load_plugin

torch.set_num_threads(int(os.environ.get("RNNBENCH_THREADS") or default_threads()))
for _path in filter(None, os.environ.get("RNNBENCH_PLUGINS", "").split(os.pathsep)):
    load_plugin(_path)
