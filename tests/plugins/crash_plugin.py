"""Implementations that misbehave the hard way: one aborts the process, one hangs."""

import os
import time

from torch import nn

from implementations.registry import register


class _Abort(nn.Module):
    def forward(self, x, state):
        os.abort()


class _Hang(nn.Module):
    def forward(self, x, state):
        time.sleep(3600)


@register(key="lstm.test_abort", family="lstm")
def build_abort(reference, device, dtype):
    """Calls os.abort() on the first forward."""
    return _Abort()


@register(key="lstm.test_hang", family="lstm")
def build_hang(reference, device, dtype):
    """Sleeps for an hour on the first forward."""
    return _Hang()
