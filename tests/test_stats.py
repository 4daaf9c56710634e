import math

import numpy as np
import pytest

from bench.analysis.stats import median_ci, min_samples_for_ci, relative_iqr, summarize


def test_summary_of_known_samples():
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s.median_s == 3.0
    assert s.min_s == 1.0
    assert s.n_samples == 5
    assert s.iqr_s == pytest.approx(2.0)
    assert s.mean_s == pytest.approx(22.0)
    assert math.isnan(s.ci_low_s)  # five samples are too few for a 95% interval
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0, 3.5, 2.5])
    assert s.ci_low_s <= s.median_s <= s.ci_high_s


def test_single_sample_and_zero_spread():
    s = summarize([0.5])
    assert (s.median_s, s.std_s, s.iqr_s) == (0.5, 0.0, 0.0)
    assert math.isnan(s.ci_low_s) and math.isnan(s.ci_high_s) and s.ci_note.startswith("too few samples")
    assert summarize([2.0] * 20).ci_high_s == 2.0


def test_no_interval_below_the_count_that_reaches_the_confidence():
    """[x_(1), x_(n)] covers the median with 1 - 2 / 2**n: 93.8% at n = 5, 96.9% at n = 6."""
    assert (min_samples_for_ci(0.95), min_samples_for_ci(0.99)) == (6, 8)
    assert all(math.isnan(v) for v in median_ci([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert median_ci([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) == (1.0, 6.0)
    assert summarize([1.0, 2.0, 3.0, 4.0, 5.0]).ci_note == (
        "too few samples: 5 < 6 needed for a 95% interval of the median"
    )
    assert summarize(list(range(1, 7))).ci_note is None


def test_rejects_empty_and_non_finite():
    with pytest.raises(ValueError):
        summarize([])
    with pytest.raises(ValueError):
        summarize([1.0, math.nan])


@pytest.mark.parametrize("n", [6, 15, 40, 101])
def test_median_ci_covers_true_median_at_least_95_percent(n):
    rng = np.random.default_rng(n)
    trials = 2000
    true_median = math.log(2)  # of the unit exponential, a skewed law like timing noise
    hits = sum(lo <= true_median <= hi for lo, hi in (median_ci(rng.exponential(1, n)) for _ in range(trials)))
    assert hits / trials >= 0.94  # the interval is exact-or-conservative; 0.94 leaves room for simulation noise


def test_median_ci_narrows_with_more_samples():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 0.1, 400)
    lo_small, hi_small = median_ci(x[:20])
    lo_big, hi_big = median_ci(x)
    assert hi_big - lo_big < hi_small - lo_small


def test_relative_iqr():
    assert relative_iqr([1.0, 1.0, 1.0]) == 0.0
    assert relative_iqr([1.0]) == math.inf
    assert relative_iqr([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(2.0 / 3.0)
