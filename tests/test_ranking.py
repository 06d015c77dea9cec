"""analysis.ranking gives numpy's sort and unique exactly, on the values a report sorts and on
the awkward ones (ties, NaN, ±0, infinities, more distinct values than a 16-bit rank)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.ranking import distinct_values, percentiles_of_counts, stable_argsort


def _cases():
    rng = np.random.default_rng(7)
    days = rng.integers(0, 2000, 50_000) / (365.25 / 12)  # months from whole days: few distinct values
    yield "months", days
    yield "negated months", -days
    yield "ages", rng.integers(18, 90, 10_000).astype(float)
    awkward = np.array([3.0, np.nan, -0.0, 0.0, np.inf, -np.inf, 3.0, np.nan, 0.0, -0.0, 1e-300, -np.inf])
    yield "awkward", np.tile(awkward, 50)
    yield "all NaN", np.full(7, np.nan)
    yield "one value", np.array([2.5])
    yield "empty", np.zeros(0)
    yield "continuous", rng.normal(size=80_000)  # beyond a 16-bit rank: numpy's own sort
    with_nan = rng.integers(0, 300, 5_000).astype(float)
    with_nan[rng.random(5_000) < 0.2] = np.nan
    yield "with NaN", with_nan


@pytest.mark.parametrize("name,values", list(_cases()), ids=[name for name, _ in _cases()])
def test_same_as_numpy(name, values):
    assert np.array_equal(stable_argsort(values), np.argsort(values, kind="stable"))
    distinct, index = distinct_values(values)
    expected_distinct, expected_index = np.unique(values, return_inverse=True)
    assert np.array_equal(distinct, expected_distinct, equal_nan=True)
    assert np.array_equal(index, expected_index.reshape(-1))
    # the distinct values hold every value at its index (what km_steps relies on)
    assert np.array_equal(distinct[index], values, equal_nan=True)


def _percentile_cases():
    rng = np.random.default_rng(11)
    yield "ages", rng.integers(18, 90, 10_001).astype(float)
    yield "doses", rng.choice([0.0, 2.5, 5.0, 7.5, 10.0, 60.0], 999)
    yield "continuous", rng.lognormal(2, 1, 5_000)
    for n in range(1, 9):
        yield f"{n} values", rng.integers(0, 4, n).astype(float)
    yield "infinities", np.array([-np.inf, 1.0, 2.0, np.inf, np.inf])
    yield "all infinite", np.array([np.inf, np.inf, np.inf])
    yield "awkward fractions", np.array([0.1, 0.2, 0.7, 1e16, 1e16 + 2, -3.3])


@pytest.mark.parametrize("name,values", list(_percentile_cases()), ids=[name for name, _ in _percentile_cases()])
def test_percentiles_of_counts_are_numpys(name, values):
    distinct, index = distinct_values(values)
    counts = np.bincount(index, minlength=len(distinct))
    for q in ([25, 50, 75], [0, 100], [1, 99, 33.3, 66.7]):
        got = percentiles_of_counts(distinct, counts, q)
        with np.errstate(invalid="ignore"):
            expected = np.percentile(values, q)
        assert np.array_equal(got, expected, equal_nan=True), (q, got, expected)
