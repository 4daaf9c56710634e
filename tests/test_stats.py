import math

import numpy as np
import pytest

from bench.analysis.stats import median_ci, relative_iqr, summarize


def test_summary_of_known_samples():
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s.median_s == 3.0
    assert s.min_s == 1.0
    assert s.n_samples == 5
    assert s.iqr_s == pytest.approx(2.0)
    assert s.mean_s == pytest.approx(22.0)
    assert s.ci_low_s <= s.median_s <= s.ci_high_s


def test_single_sample_and_zero_spread():
    s = summarize([0.5])
    assert (s.median_s, s.std_s, s.iqr_s, s.ci_low_s, s.ci_high_s) == (0.5, 0.0, 0.0, 0.5, 0.5)
    assert summarize([2.0] * 20).ci_high_s == 2.0


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


def test_cpu_clock_does_not_count_time_given_to_others():
    """Sleeping stands in for being descheduled: wall time sees it, the CPU clock does not."""
    import time

    from bench.worker.timing import sample

    def work_then_wait():
        end = time.thread_time() + 0.002  # 2 ms on the CPU...
        while time.thread_time() < end:
            pass
        time.sleep(0.008)  # ...then 8 ms off it

    options = dict(threads=1, min_time_s=0.05, budget_s=0.2, target_rel_iqr=0.5, min_samples=3,
                   per_call_estimate_s=0.01)  # fmt: skip
    wall, _ = sample(work_then_wait, clock="wall", **options)
    cpu, _ = sample(work_then_wait, clock="cpu", **options)
    assert min(wall) >= 0.0095
    assert 0.0015 < sorted(cpu)[len(cpu) // 2] < 0.005
