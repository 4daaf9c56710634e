"""The training split's sanity rule: a forward slower than the whole step is dropped, not reported."""

import math

import pytest

from bench.worker.measure import _plausible_split


def test_a_forward_slower_than_the_whole_step_is_dropped():
    row = _plausible_split({"median_s": 0.05, "forward_median_s": 1.28, "backward_median_s": 0.0})
    assert row["forward_median_s"] is None and row["backward_median_s"] is None


@pytest.mark.parametrize(("backward", "expected"), [(0.03, 0.03), (None, 0.04)])
def test_a_plausible_split_is_kept_and_a_missing_backward_is_the_difference(backward, expected):
    row = _plausible_split({"median_s": 0.05, "forward_median_s": 0.01, "backward_median_s": backward})
    assert row["forward_median_s"] == 0.01 and math.isclose(row["backward_median_s"], expected)
