"""Statistics against values computed by hand."""

import pytest

from drift_gym.stats import (
    bootstrap_ci,
    bootstrap_diff_ci,
    first_true,
    pass_hat_k,
    slope,
    stickiness,
)


def test_slope_first_violation_and_stickiness_by_hand():
    assert slope([0, 0, 1, 1]) == pytest.approx(0.4)  # sum((x-2.5)(y-.5))=2, sum((x-2.5)^2)=5
    assert slope([1]) is None
    assert first_true([False, False, True]) == 3 and first_true([False]) is None
    # pairs after a violation: (T,T) (T,F) | (T,T): 2 of 3 stay violated
    assert stickiness([[True, True, False], [False, True, True]]) == pytest.approx(2 / 3)
    assert stickiness([[False, False]]) is None


def test_pass_hat_k_by_hand():
    # task 1: 2 of 3 succeed -> pass^2 = C(2,2)/C(3,2) = 1/3; task 2: 3 of 3 -> 1
    assert pass_hat_k([2, 3], [3, 3], 2) == pytest.approx((1 / 3 + 1) / 2)
    assert pass_hat_k([2, 3], [3, 3], 1) == pytest.approx((2 / 3 + 1) / 2)
    assert pass_hat_k([1], [1], 2) is None


def test_bootstrap_intervals_cover_the_mean_and_are_seeded():
    values = [0.0, 0.0, 1.0, 1.0]
    low, high = bootstrap_ci(values, seed=3)
    assert low <= 0.5 <= high and low >= 0.0 and high <= 1.0
    assert bootstrap_ci(values, seed=3) == (low, high)
    assert bootstrap_ci([1.0, 1.0]) == (1.0, 1.0)
    assert bootstrap_ci([]) is None
    assert bootstrap_diff_ci([1.0, 1.0], [0.0, 0.0]) == (1.0, 1.0)
    low, high = bootstrap_diff_ci([1.0, 0.0], [0.0, 0.0])
    assert low == 0.0 and high == 1.0
