"""Change points in a series of results: E-Divisive (Matteson & James, 2014) with a permutation test.

The method Apache Otava (formerly Hunter) and MongoDB run over their performance history, written here on
numpy over plain arrays (their packages pin numpy and scipy versions that would downgrade ours). E-Divisive
splits a series where the energy distance between the two sides, weighted by their sizes, is largest; the
split is kept when that statistic is larger than it is in most random reorderings of the segment (p-value
of a permutation test), and the two sides are searched again, until no split is significant. It assumes no
distribution (a bimodal, skewed or outlier-prone timing series is fine) and finds several changes in one
series. Each change is then described by the ratio of the medians of the segments on either side, with a
bootstrap interval (scipy.stats.bootstrap).

Imports nothing of the rest of rnnbench.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.01  # a split is kept when its permutation p-value is below this
PERMUTATIONS = 499
MIN_SIZE = 4  # points on either side of a split, at least
CONFIDENCE = 0.95


@dataclass(frozen=True)
class ChangePoint:
    index: int  # first point after the change
    p_value: float
    before_median: float  # of the segment before, back to the previous change point
    after_median: float  # of the segment after, up to the next one
    ratio: float  # after_median / before_median: 1.10 is 10% slower for a latency
    ratio_low: float
    ratio_high: float


def _energy(x: np.ndarray, min_size: int) -> tuple[int, float]:
    """The best split of x (first index of the right side) and its statistic Q (Matteson & James, eq. 9)."""
    n = x.size
    if n < 2 * min_size:
        return -1, 0.0
    distance = np.abs(x[:, None] - x[None, :])
    square = np.pad(distance.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # square[a, b] = sum of distance[:a, :b]
    tau = np.arange(min_size, n - min_size + 1)
    m, k = tau, n - tau
    within_left = square[tau, tau] / 2
    within_right = (square[n, n] - 2 * square[tau, n] + square[tau, tau]) / 2
    between = square[tau, n] - square[tau, tau]
    energy = 2 * between / (m * k) - within_left / (m * (m - 1) / 2) - within_right / (k * (k - 1) / 2)
    q = m * k / n * energy
    best = int(np.argmax(q))
    return int(tau[best]), float(q[best])


def _best_split(x: np.ndarray, bounds: list[int], min_size: int) -> tuple[int, float, int]:
    """Over every segment between bounds: (split index, statistic, segment number) of the largest Q."""
    best = (-1, -np.inf, -1)
    for number, (start, end) in enumerate(zip(bounds[:-1], bounds[1:])):
        split, q = _energy(x[start:end], min_size)
        if split >= 0 and q > best[1]:
            best = (start + split, q, number)
    return best


def _p_value(x: np.ndarray, bounds: list[int], q: float, min_size: int, permutations: int, rng) -> float:
    """How often reordering the points inside each segment gives a statistic at least as large as q."""
    count = 0
    for _ in range(permutations):
        shuffled = np.concatenate([rng.permutation(x[s:e]) for s, e in zip(bounds[:-1], bounds[1:])])
        count += _best_split(shuffled, bounds, min_size)[1] >= q
    return (count + 1) / (permutations + 1)


def e_divisive(
    values,
    *,
    alpha: float = ALPHA,
    permutations: int = PERMUTATIONS,
    min_size: int = MIN_SIZE,
    seed: int = 0,
) -> list[tuple[int, float]]:
    """Significant change points of `values` in order: (first index after the change, p-value)."""
    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    bounds, found = [0, x.size], []
    while True:
        split, q, _ = _best_split(x, bounds, min_size)
        if split < 0:
            break
        p = _p_value(x, bounds, q, min_size, permutations, rng)
        if p >= alpha:
            break
        found.append((split, p))
        bounds = sorted(bounds + [split])
    return sorted(found)


def _ratio(after: np.ndarray, before: np.ndarray, axis: int = -1):
    return np.median(after, axis=axis) / np.median(before, axis=axis)


def describe(values, changes: list[tuple[int, float]], seed: int = 0) -> list[ChangePoint]:
    """Each change as the ratio of the medians of its neighbouring segments, with a bootstrap interval."""
    x = np.asarray(values, dtype=float)
    bounds = [0] + [index for index, _ in changes] + [x.size]
    described = []
    for number, (index, p) in enumerate(changes, start=1):
        before, after = x[bounds[number - 1] : index], x[index : bounds[number + 1]]
        interval = stats.bootstrap(
            (after, before), _ratio, confidence_level=CONFIDENCE, n_resamples=999, method="percentile",
            random_state=np.random.default_rng(seed),
        ).confidence_interval  # fmt: skip
        described.append(
            ChangePoint(
                index,
                p,
                float(np.median(before)),
                float(np.median(after)),
                float(_ratio(after, before)),
                float(interval.low),
                float(interval.high),
            )  # fmt: skip
        )
    return described


def detect(values, *, min_step: float = 0.0, **options) -> list[ChangePoint]:
    """Significant changes whose step is at least `min_step` (0.05: 5% up or down)."""
    found = describe(values, e_divisive(values, **options), seed=options.get("seed", 0))
    return [c for c in found if abs(c.ratio - 1) >= min_step]
