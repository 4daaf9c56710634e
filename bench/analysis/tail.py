"""A change in the tail: the ratio of a high quantile (p99) of two sets of samples, with a bootstrap interval.

The U test behind the median gate asks whether one side tends to be slower; it says little about the slowest one
percent of streaming steps. Here the statistic is the quantile itself, new/base, and its uncertainty comes from
resampling each side (scipy.stats.bootstrap, percentile method). A quantile needs enough samples beyond it to be
estimated at all: at least `MIN_BEYOND` per side past the quantile (1,000 samples for p99). Pure: numpy and scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

MIN_BEYOND = 10  # samples per side beyond the quantile, at the least
RESAMPLES = 2000
STATISTICS = {"median": None, "p99": 0.99}


@dataclass(frozen=True)
class TailShift:
    base_s: float  # the quantile of the base samples
    new_s: float
    ratio: float  # new_s / base_s
    ratio_low: float
    ratio_high: float
    p_value: float  # two-sided, from the bootstrap distribution of the ratio
    n_base: int
    n_new: int


def least_samples(quantile: float) -> int:
    """The fewest samples per side whose quantile rests on MIN_BEYOND samples beyond it."""
    return math.ceil(MIN_BEYOND / (1.0 - quantile) - 1e-9)


def compare_quantile(base, new, quantile: float = 0.99, confidence: float = 0.99, seed: int = 0) -> TailShift:
    """The ratio of the `quantile` of `new` to that of `base`, with a `confidence` bootstrap interval."""
    x, y = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    need = least_samples(quantile)
    if min(x.size, y.size) < need:
        raise ValueError(f"a p{quantile * 100:g} needs at least {need} samples per side, got {x.size} and {y.size}")
    q = 100.0 * quantile

    def ratio(a, b, axis=-1):
        return np.percentile(b, q, axis=axis) / np.percentile(a, q, axis=axis)

    result = sps.bootstrap(
        (x, y), ratio, n_resamples=RESAMPLES, confidence_level=confidence, method="percentile",
        vectorized=True, paired=False, rng=np.random.default_rng(seed),
    )  # fmt: skip
    spread = np.asarray(result.bootstrap_distribution)
    p_value = min(1.0, 2.0 * min(float(np.mean(spread <= 1.0)), float(np.mean(spread >= 1.0))))
    base_s, new_s = float(np.percentile(x, q)), float(np.percentile(y, q))
    return TailShift(
        base_s=base_s,
        new_s=new_s,
        ratio=new_s / base_s,
        ratio_low=float(result.confidence_interval.low),
        ratio_high=float(result.confidence_interval.high),
        p_value=p_value,
        n_base=int(x.size),
        n_new=int(y.size),
    )
