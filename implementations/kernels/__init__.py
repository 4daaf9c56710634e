"""Adapters for third-party RNN kernels (pip install 'rnnbench[kernels]'), loaded through the
`rnnbench.implementations` entry-point group like any plugin; each registers nothing when its package is absent."""

import importlib
import logging
from types import ModuleType


def quiet_import(name: str) -> ModuleType:
    """Import `name` without the line torch's cpp_extension logs on its first import where CUDA is absent."""
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return importlib.import_module(name)
    finally:
        logger.setLevel(level)
