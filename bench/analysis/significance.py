"""Is the new run's timing different from the base run's? Pure statistics on two sets of raw samples.

Two questions, answered separately because a CI gate needs both:
- *Is there a difference at all?* A two-sided Mann-Whitney U test (scipy) on the raw samples. It makes no
  normality assumption: timing samples are skewed, with a long tail from the scheduler and other processes.
- *How big is it?* The Hodges-Lehmann estimate of the factor new/base: the median of the m*n pairwise
  ratios new_j / base_i, i.e. the median change from a base sample to a new one. When the two
  distributions differ by a factor it equals the ratio of medians; unlike the ratio of two medians it
  cannot jump from one mode of a bimodal sample (a busy machine gives fast and contended calls) to the
  other. Its confidence interval is the Moses interval: the order statistics of the pairwise differences
  log(new_j) - log(base_i), cut at the critical value of the same U distribution the test uses.
  Why that one rather than a bootstrap: it is deterministic (no seed, same answer on every machine), exact
  for the tiny sample counts a quick CI sweep produces (the bootstrap of a median is badly off below ~20
  samples), and consistent with the test: at confidence 1 - alpha the interval excludes 1 exactly when
  the (untied) test rejects at alpha. On the log scale a slowdown by a factor is a shift, so the interval
  is an interval for the factor, whatever the samples' spread. The plain ratio of medians is reported too.

Small counts are handled honestly: with m and n samples no test can give p below 2 / C(m+n, m)
(`min_p_value`), so a caller can say "cannot decide" instead of "unchanged" when that floor is above alpha.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

EXACT_PERMUTATIONS_MAX = 20_000  # enumerate every split below this many; ~0.2 s at most
EXACT_U_CELLS_MAX = 2_500  # exact null distribution of U while m * n is at most this (normal beyond)


@dataclass(frozen=True)
class Shift:
    """How the new samples relate to the base samples."""

    ratio: float  # Hodges-Lehmann estimate of new/base: the median of the pairwise ratios
    ratio_low: float  # its confidence interval (Moses, on log samples)
    ratio_high: float
    p_value: float  # two-sided Mann-Whitney U
    min_p_value: float  # the smallest p any outcome could give with these sample counts
    n_base: int
    n_new: int
    median_ratio: float  # median(new) / median(base)

    def as_dict(self) -> dict:
        return asdict(self)


def _clean(samples: Sequence[float], name: str) -> np.ndarray:
    x = np.asarray(samples, dtype=float).ravel()
    if x.size == 0:
        raise ValueError(f"{name}: no samples")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: samples must be finite")
    if np.any(x <= 0):
        raise ValueError(f"{name}: timing samples must be positive")
    return x


def min_p_value(n_base: int, n_new: int) -> float:
    """The smallest two-sided p-value Mann-Whitney U can reach: every new sample above every base sample."""
    if n_base < 1 or n_new < 1:
        return 1.0
    log_splits = math.lgamma(n_base + n_new + 1) - math.lgamma(n_base + 1) - math.lgamma(n_new + 1)
    return min(1.0, 2.0 * math.exp(-log_splits))  # exp underflows to 0.0 for thousands of samples, as it should


def least_equal_count(alpha: float) -> int:
    """The fewest samples per side (n vs n) whose best outcome reaches p < alpha: 5 at 0.01 (2/C(10,5) = 0.0079)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    count = 1
    while min_p_value(count, count) >= alpha:
        count += 1
    return count


def mann_whitney_p(base: Sequence[float], new: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value, exact where the counts are small.

    scipy's default switches to the normal approximation as soon as there are ties, which for a handful of
    tied samples gives p-values below what any arrangement of the data can reach; small tied samples are
    therefore tested by enumerating every split. Two sets of identical values give p = 1.
    """
    x = np.asarray(base, dtype=float)
    y = np.asarray(new, dtype=float)
    if x.size == 0 or y.size == 0:
        return 1.0
    pooled = np.concatenate([x, y])
    if np.all(pooled == pooled[0]):
        return 1.0
    has_ties = np.unique(pooled).size < pooled.size
    if has_ties and math.comb(x.size + y.size, x.size) <= EXACT_PERMUTATIONS_MAX:
        method = sps.PermutationMethod(n_resamples=EXACT_PERMUTATIONS_MAX)
    else:
        method = "auto"
    return float(sps.mannwhitneyu(x, y, alternative="two-sided", method=method).pvalue)


def _u_null_cdf(m: int, n: int) -> np.ndarray:
    """P(U <= u) for u = 0..m*n under the null (no ties), by the recursion on the last-ranked sample.

    P_{i,j}(u) = i/(i+j) P_{i-1,j}(u - j) + j/(i+j) P_{i,j-1}(u): only additions of positive terms, so it is
    numerically stable where the generating-function product would cancel.
    """
    size = m * n + 1
    # row[j] holds the pmf for (i, j); start with i = 0: U = 0 with certainty
    row = [np.zeros(size) for _ in range(n + 1)]
    for j in range(n + 1):
        row[j][0] = 1.0
    for i in range(1, m + 1):
        new_row = [np.zeros(size) for _ in range(n + 1)]
        new_row[0][0] = 1.0
        for j in range(1, n + 1):
            shifted = np.zeros(size)
            shifted[j:] = row[j][: size - j]
            new_row[j] = (i * shifted + j * new_row[j - 1]) / (i + j)
        row = new_row
    return np.cumsum(row[n])


def _critical_rank(m: int, n: int, confidence: float) -> int:
    """k such that [D_(k), D_(mn-k+1)] of the sorted pairwise differences covers the shift; 0 if none can."""
    tail = (1.0 - confidence) / 2.0
    if m * n <= EXACT_U_CELLS_MAX:
        cdf = _u_null_cdf(m, n)
        below = np.nonzero(cdf <= tail + 1e-12)[0]
        return int(below[-1]) + 1 if below.size else 0
    mean = m * n / 2.0
    sd = math.sqrt(m * n * (m + n + 1) / 12.0)
    return max(0, int(math.floor(mean - sps.norm.ppf(1.0 - tail) * sd - 0.5)) + 1)


def ratio_interval(base: Sequence[float], new: Sequence[float], confidence: float = 0.99) -> tuple[float, float, float]:
    """(estimate, low, high) of the factor new/base: Hodges-Lehmann estimate and Moses interval on log samples.

    The interval is (0, inf) when the counts are too small for any interval at this confidence.
    """
    x = np.log(_clean(base, "base"))
    y = np.log(_clean(new, "new"))
    diffs = np.sort((y[None, :] - x[:, None]).ravel())
    estimate = float(math.exp(np.median(diffs)))
    k = _critical_rank(x.size, y.size, confidence)
    if k == 0:
        return estimate, 0.0, math.inf
    return estimate, float(math.exp(diffs[k - 1])), float(math.exp(diffs[diffs.size - k]))


def compare_samples(base: Sequence[float], new: Sequence[float], confidence: float = 0.99) -> Shift:
    """Test and size the change from `base` to `new` samples (seconds, positive)."""
    x = _clean(base, "base")
    y = _clean(new, "new")
    estimate, low, high = ratio_interval(x, y, confidence)
    return Shift(
        ratio=estimate,
        ratio_low=low,
        ratio_high=high,
        p_value=mann_whitney_p(x, y),
        min_p_value=min_p_value(x.size, y.size),
        n_base=int(x.size),
        n_new=int(y.size),
        median_ratio=float(np.median(y) / np.median(x)),
    )


# Paired rounds: base and new measured in the same process, one ratio per process (see bench/worker/side_by_side.py).


def min_p_value_paired(pairs: int) -> float:
    """The smallest two-sided p the signed-rank test can reach with this many pairs: every ratio on one side."""
    return min(1.0, 2.0 * 0.5**pairs) if pairs > 0 else 1.0


def least_pair_count(alpha: float) -> int:
    """The fewest pairs whose best outcome reaches p < alpha: 8 at 0.01 (2/256 = 0.0078)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    count = 1
    while min_p_value_paired(count) >= alpha:
        count += 1
    return count


def _signed_rank_null_cdf(n: int) -> np.ndarray:
    """P(W+ <= w) for w = 0..n(n+1)/2 under the null: each rank's sign a fair coin, counted by subset sums."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[:-rank].copy()  # subsets that take `rank` or not
    return np.cumsum(counts) / 2.0**n


def paired_ratio_interval(log_ratios: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """(estimate, low, high) of the factor: Hodges-Lehmann median of the Walsh averages of the log ratios and its
    exact interval from the signed-rank distribution (the test's own), so that it excludes 1 when the test rejects."""
    n = log_ratios.size
    i, j = np.triu_indices(n)
    walsh = np.sort((log_ratios[i] + log_ratios[j]) / 2.0)
    estimate = float(math.exp(np.median(walsh)))
    below = np.nonzero(_signed_rank_null_cdf(n) <= (1.0 - confidence) / 2.0 + 1e-12)[0]
    if not below.size:
        return estimate, 0.0, math.inf
    k = int(below[-1]) + 1
    return estimate, float(math.exp(walsh[k - 1])), float(math.exp(walsh[walsh.size - k]))


def compare_paired(base: Sequence[float], new: Sequence[float], confidence: float = 0.99) -> Shift:
    """Test and size the change from paired values: `new[i]` and `base[i]` were measured side by side.

    The unit is the pair's ratio new/base: what both sides shared (the process, the minute, the machine's
    state) cancels in it. The Wilcoxon signed-rank test (scipy) asks whether the log ratios centre on 0;
    it needs no normality, and its exact distribution is used for the counts a CI job produces.
    """
    x = _clean(base, "base")
    y = _clean(new, "new")
    if x.size != y.size:
        raise ValueError(f"paired values need equal counts, got {x.size} and {y.size}")
    log_ratios = np.log(y) - np.log(x)
    estimate, low, high = paired_ratio_interval(log_ratios, confidence)
    if np.all(log_ratios == 0):
        p_value = 1.0
    else:
        p_value = float(sps.wilcoxon(log_ratios, alternative="two-sided", zero_method="pratt").pvalue)
    return Shift(
        ratio=estimate,
        ratio_low=low,
        ratio_high=high,
        p_value=p_value,
        min_p_value=min_p_value_paired(int(x.size)),
        n_base=int(x.size),
        n_new=int(y.size),
        median_ratio=float(np.median(y) / np.median(x)),
    )
