"""The tail gate: `compare --statistic p99` on raw samples, with a bootstrap interval."""

import numpy as np
import pandas as pd
import pytest
from synthetic_runs import case, lognormal, row

from bench.analysis.compare import compare_runs
from bench.analysis.tail import compare_quantile, least_samples
from bench.errors import UsageError


def _steps(seed: int, tail_s: float, n: int = 2000) -> np.ndarray:
    """Steps of ~100 us with 3% of them stalled at `tail_s`: the bulk the same, the tail apart."""
    x = lognormal(100e-6, n, seed)
    stalled = np.random.default_rng(seed + 100).random(n) < 0.03
    x[stalled] = lognormal(tail_s, int(stalled.sum()), seed + 200)
    return x


def test_a_slower_tail_with_the_same_bulk_is_a_p99_regression_but_not_a_median_one():
    base, new = _steps(1, 1e-3), _steps(2, 2e-3)
    shift = compare_quantile(base, new)
    assert shift.ratio == pytest.approx(2.0, rel=0.1)
    assert shift.ratio_low > 1.0 and shift.p_value < 0.01
    c = case("lstm", mode="streaming")
    frames = [pd.DataFrame([row(c, side, x)]) for side, x in (("a", base), ("b", new))]
    tail = compare_runs(*frames, statistic="p99").changes.iloc[0]
    assert tail["verdict"] == "regression" and tail["new_median_s"] == pytest.approx(np.percentile(new, 99))
    assert compare_runs(*frames).changes.iloc[0]["verdict"] == "unchanged"  # the median did not move


def test_the_same_distribution_is_unchanged():
    shift = compare_quantile(_steps(3, 1e-3), _steps(4, 1e-3))
    assert shift.ratio_low <= 1.0 <= shift.ratio_high


def test_too_few_samples_for_a_p99_are_incomparable_not_decided():
    assert least_samples(0.99) == 1000
    with pytest.raises(ValueError, match="at least 1000"):
        compare_quantile(np.ones(999), np.ones(2000))
    c = case("lstm")
    frames = [pd.DataFrame([row(c, side, lognormal(1e-3, 30, seed))]) for side, seed in (("a", 1), ("b", 2))]
    changed = compare_runs(*frames, statistic="p99").changes.iloc[0]
    assert changed["verdict"] == "incomparable" and "too few samples for a p99" in changed["note"]


def test_bad_statistic_choices_are_usage_errors():
    c = case("lstm")
    frames = [pd.DataFrame([row(c, side, lognormal(1e-3, 30, seed))]) for side, seed in (("a", 1), ("b", 2))]
    with pytest.raises(UsageError, match="unknown statistic"):
        compare_runs(*frames, statistic="p95")
    with pytest.raises(UsageError, match="--relative-to needs --statistic median"):
        compare_runs(*frames, statistic="p99", relative_to="native")
