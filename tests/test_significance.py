import math

import numpy as np
import pytest
from scipy import stats as sps

from bench.analysis.significance import (
    _critical_rank,
    compare_paired,
    compare_samples,
    least_equal_count,
    least_pair_count,
    mann_whitney_p,
    min_p_value,
    min_p_value_paired,
    ratio_interval,
)


def lognormal(median, n, seed, spread=0.05):
    return np.random.default_rng(seed).lognormal(np.log(median), spread, n)


def test_a_real_shift_is_significant_and_sized():
    base, new = lognormal(1e-3, 30, 0), lognormal(1.2e-3, 30, 1)
    shift = compare_samples(base, new, confidence=0.99)
    assert shift.p_value < 1e-6
    assert shift.ratio_low < 1.2 < shift.ratio_high
    assert shift.ratio_low > 1.1  # the interval excludes "no change" and small changes


def test_the_same_distribution_is_not_significant():
    p_values = [mann_whitney_p(lognormal(1e-3, 20, s), lognormal(1e-3, 20, 100 + s)) for s in range(40)]
    # under the null p is uniform: at alpha = 0.01 almost none fall below
    assert sum(p < 0.01 for p in p_values) <= 2
    shift = compare_samples(lognormal(1e-3, 20, 7), lognormal(1e-3, 20, 8))
    assert shift.ratio_low < 1 < shift.ratio_high


def test_interval_coverage_on_known_factor():
    # a 99% interval must contain the true factor in about 99% of draws
    covered = 0
    for seed in range(100):
        estimate, low, high = ratio_interval(lognormal(1.0, 12, seed), lognormal(1.15, 12, 1000 + seed), 0.99)
        covered += low <= 1.15 <= high
        assert low <= estimate <= high
    assert covered >= 95


def test_tiny_counts_cannot_reach_significance():
    assert min_p_value(2, 2) == pytest.approx(1 / 3)
    shift = compare_samples([1.0, 1.1], [5.0, 5.1])
    assert shift.p_value >= 1 / 3
    assert (shift.ratio_low, shift.ratio_high) == (0.0, math.inf)
    assert shift.median_ratio == pytest.approx(5.05 / 1.05)
    assert shift.ratio == pytest.approx(np.sqrt(5 / 1.1 * 5.1 / 1.1 * 5 / 1.0 * 5.1 / 1.0) ** 0.5, rel=0.01)
    # one sample each: nothing to test
    assert compare_samples([1.0], [2.0]).p_value == 1.0


def test_least_equal_count_is_the_first_that_can_reach_alpha():
    for alpha, least in ((0.01, 5), (0.05, 4), (0.001, 7)):
        assert least_equal_count(alpha) == least
        assert min_p_value(least, least) < alpha <= min_p_value(least - 1, least - 1)
    with pytest.raises(ValueError):
        least_equal_count(0.0)


def test_thousands_of_samples():
    base, new = lognormal(1e-3, 1500, 1), lognormal(1.03e-3, 1200, 2)
    shift = compare_samples(base, new)
    assert shift.min_p_value == 0.0
    assert shift.p_value < 1e-6
    assert shift.ratio_low < 1.03 < shift.ratio_high


def test_five_separated_samples_each_reach_the_exact_floor():
    shift = compare_samples([1, 1.1, 1.2, 1.3, 1.4], [2, 2.1, 2.2, 2.3, 2.4], confidence=0.99)
    assert shift.p_value == pytest.approx(2 / 252)
    assert shift.min_p_value == pytest.approx(2 / 252)
    assert shift.p_value < 0.01


def test_ties_use_an_exact_test_not_the_normal_approximation():
    # scipy's default approximation gives p = 0.004 here, below what 5 vs 5 samples can ever reach
    p = mann_whitney_p([1.0] * 5, [2.0] * 5)
    assert p == pytest.approx(2 / 252)
    mixed = mann_whitney_p([1, 1, 2, 2, 3, 3], [2, 2, 3, 3, 4, 4])
    assert min_p_value(6, 6) < mixed < 1


def test_zero_variance():
    same = compare_samples([2e-3] * 8, [2e-3] * 8)
    assert same.p_value == 1.0
    assert (same.ratio, same.ratio_low, same.ratio_high) == (1.0, 1.0, 1.0)
    moved = compare_samples([2e-3] * 8, [3e-3] * 8)
    assert moved.p_value < 0.01
    assert moved.ratio == pytest.approx(1.5)
    assert moved.ratio_low == pytest.approx(1.5) and moved.ratio_high == pytest.approx(1.5)


def test_bimodal_samples_do_not_swing_the_estimate():
    # half fast, half contended calls in both runs; the median falls into a different mode in each
    fast, slow = lognormal(1e-3, 10, 1, spread=0.01), lognormal(3e-3, 10, 2, spread=0.01)
    base = np.concatenate([fast, slow, [0.9e-3]])  # one more fast call: the median is fast
    new = np.concatenate([fast * 1.02, slow * 1.02, [3.1e-3]])  # one more slow call: the median is slow
    shift = compare_samples(base, new)
    assert shift.median_ratio > 2  # the ratio of medians jumps modes
    assert shift.ratio < 1.2  # the median of pairwise ratios does not
    assert shift.ratio_low <= shift.ratio <= shift.ratio_high


def test_identical_samples():
    x = lognormal(1e-3, 15, 3)
    shift = compare_samples(x, x)
    assert shift.p_value == pytest.approx(1.0)
    assert shift.ratio == 1.0
    assert shift.ratio_low < 1 < shift.ratio_high


def _with_u(m: int, n: int, u: int) -> tuple[list[float], list[float]]:
    """x = 0..m-1 and y placed so that exactly u (x, y) pairs have x > y; no ties."""
    x = [float(i) for i in range(m)]
    y = []
    for _ in range(n):
        above = min(m, u)  # x values above this y
        u -= above
        y.append(m - above - 0.5)
    return x, y


@pytest.mark.parametrize("m,n", [(5, 5), (7, 11), (30, 40)])
def test_critical_rank_matches_scipys_exact_test(m, n):
    # the interval's rank k is the largest count of extreme U values whose two-sided tail is within alpha
    alpha = 0.05
    k = _critical_rank(m, n, 1 - alpha)
    p_inside = sps.mannwhitneyu(*_with_u(m, n, k - 1), method="exact").pvalue
    p_outside = sps.mannwhitneyu(*_with_u(m, n, k), method="exact").pvalue
    assert p_inside <= alpha < p_outside


def test_bad_samples_are_refused():
    with pytest.raises(ValueError, match="positive"):
        compare_samples([0.0, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="no samples"):
        compare_samples([], [1.0])
    with pytest.raises(ValueError, match="finite"):
        compare_samples([np.nan, 1.0], [1.0])


# paired rounds: one ratio per process


def paired(n, shift, seed, process_spread=0.15, pair_spread=0.03):
    """Base and new medians of n processes: a large per-process speed shared by both sides, a small own noise."""
    rng = np.random.default_rng(seed)
    process = rng.lognormal(np.log(1e-3), process_spread, n)
    return process * rng.lognormal(0, pair_spread, n), process * shift * rng.lognormal(0, pair_spread, n)


def test_paired_test_sees_through_a_process_spread_that_hides_the_shift_from_the_unpaired_test():
    base, new = paired(16, 1.10, seed=3)
    unpaired, pairs = compare_samples(base, new), compare_paired(base, new)
    assert unpaired.p_value > 0.05  # 15% per-process spread drowns 10% in 16 vs 16 values
    assert pairs.p_value < 0.001 and pairs.ratio_low < 1.10 < pairs.ratio_high and pairs.ratio_low > 1.05


def test_paired_identical_code_is_rarely_significant():
    p_values = [compare_paired(*paired(16, 1.0, seed=s)).p_value for s in range(200)]
    assert 0 < np.mean(np.array(p_values) < 0.01) <= 0.03
    assert np.mean(np.array(p_values) < 0.05) <= 0.09


@pytest.mark.parametrize("n", [4, 8, 11])
def test_paired_interval_excludes_one_exactly_when_the_test_rejects(n):
    for seed in range(60):
        shift = compare_paired(*paired(n, 1.0 + 0.01 * (seed % 7), seed=seed), confidence=0.95)
        rejects = shift.p_value < 0.05
        excludes = not (shift.ratio_low <= 1.0 <= shift.ratio_high)
        assert rejects == excludes, (n, seed, shift)


def test_paired_small_counts_ties_and_zero_change():
    assert least_pair_count(0.01) == 8 and least_pair_count(0.05) == 6
    assert min_p_value_paired(8) == pytest.approx(2 / 256)
    base = np.full(8, 1e-3)
    all_slower = compare_paired(base, base * 1.2)  # every ratio equal (tied): the best p 8 pairs can give
    assert all_slower.p_value == pytest.approx(2 / 256) and all_slower.ratio == pytest.approx(1.2)
    same = compare_paired(base, base)
    assert same.p_value == 1.0 and same.ratio == 1.0
    assert compare_paired(base[:4], base[:4] * 1.5).ratio_high == math.inf  # 4 pairs cannot bound it at 99%
    with pytest.raises(ValueError, match="equal counts"):
        compare_paired(base, base[:7])


def test_signed_rank_distribution_matches_scipy():
    from bench.analysis.significance import _signed_rank_null_cdf

    for n in (3, 7, 12):
        cdf = _signed_rank_null_cdf(n)
        assert np.all(np.diff(cdf) >= 0)
        assert cdf[-1] == pytest.approx(1.0) and cdf[0] == pytest.approx(0.5**n)
        assert 1 - cdf[-2] == pytest.approx(sps.wilcoxon(np.arange(1, n + 1.0), alternative="greater").pvalue)


def test_signed_rank_distribution_in_the_middle_matches_scipy_exact():
    from bench.analysis.significance import _signed_rank_null_cdf

    data = np.array([1.0, -2, 3, 4, -5, 6, 7, -8, 9])  # W+ = 1 + 3 + 4 + 6 + 7 + 9 = 30
    expected = sps.wilcoxon(data, alternative="less", method="exact").pvalue
    assert _signed_rank_null_cdf(9)[30] == pytest.approx(expected)
