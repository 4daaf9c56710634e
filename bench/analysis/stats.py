"""Robust summary statistics of raw timing samples. Pure: numpy and scipy only, no torch, no runner."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Summary:
    median_s: float
    iqr_s: float
    mean_s: float
    std_s: float
    min_s: float
    n_samples: int
    ci_low_s: float  # NaN below min_samples_for_ci(confidence): then ci_note says why
    ci_high_s: float
    ci_note: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


TOO_FEW_FOR_CI = "too few samples"


def min_samples_for_ci(confidence: float = 0.95) -> int:
    """The least n whose widest order-statistics interval [x_(1), x_(n)] covers the median with `confidence`:
    1 - 2 * 0.5**n >= confidence (6 at 95%, 8 at 99%)."""
    return max(1, math.ceil(math.log2(2.0 / (1.0 - confidence)) - 1e-12))


def median_ci(samples: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median from order statistics (binomial).

    NaN, NaN where too few samples exist for that confidence (n < min_samples_for_ci): a range of a few
    samples is not a 95% interval.
    """
    from scipy import stats as sps  # when first needed: a counted case needs none (under Valgrind, ~30 s)

    x = np.sort(np.asarray(samples, dtype=float))
    n = len(x)
    if n < min_samples_for_ci(confidence):
        return math.nan, math.nan
    alpha = 1.0 - confidence
    # the largest k with P(Binom(n, 1/2) <= k - 1) <= alpha/2: [x_(k), x_(n-k+1)] then covers the median
    k = max(1, int(sps.binom.ppf(alpha / 2, n, 0.5)))
    while k > 1 and sps.binom.cdf(k - 1, n, 0.5) > alpha / 2:
        k -= 1
    while sps.binom.cdf(k, n, 0.5) <= alpha / 2:
        k += 1
    return float(x[k - 1]), float(x[n - k])


def ci_note(n: int, confidence: float = 0.95) -> str | None:
    """Why a row has no interval, or None when it has one."""
    least = min_samples_for_ci(confidence)
    if n >= least:
        return None
    return f"{TOO_FEW_FOR_CI}: {n} < {least} needed for a {confidence:.0%} interval of the median"


def summarize(samples: Sequence[float], confidence: float = 0.95) -> Summary:
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("no samples")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples must be finite")
    q1, q3 = np.percentile(x, [25, 75])
    ci_low, ci_high = median_ci(x, confidence)
    return Summary(
        median_s=float(np.median(x)),
        iqr_s=float(q3 - q1),
        mean_s=float(x.mean()),
        std_s=float(x.std(ddof=1)) if x.size > 1 else 0.0,
        min_s=float(x.min()),
        n_samples=int(x.size),
        ci_low_s=ci_low,
        ci_high_s=ci_high,
        ci_note=ci_note(int(x.size), confidence),
    )


def relative_iqr(samples: Sequence[float]) -> float:
    """IQR / median: the spread measure used to stop sampling and to warn about noisy cases."""
    x = np.asarray(samples, dtype=float)
    if x.size < 2:
        return math.inf
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return float((q3 - q1) / med) if med > 0 else math.inf
