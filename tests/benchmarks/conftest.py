"""The pytest-benchmark suite's set-up: optional plugins, named in RNNBENCH_PLUGINS (os.pathsep-separated)."""

import os

from implementations.registry import load_plugin

for _path in filter(None, os.environ.get("RNNBENCH_PLUGINS", "").split(os.pathsep)):
    load_plugin(_path)
