"""Sorting and ranking the few distinct values of times, ages, counts and doses: numpy's answer,
exactly, in linear time.

A report sorts the same kinds of values many times per filter change: each Kaplan–Meier curve and
Cox model its times, each Mann–Whitney test its values. Such values take few distinct values
(times are whole days, ages whole years: 1,414 distinct relapse-free times among 83,300
responders of a 100,000-patient cohort), so each is sorted by hashing the values to their
distinct ones (pandas' factorize, linear), sorting only those, and then sorting each value's rank
among them, a small integer that numpy sorts by radix (linear). The permutation, the distinct
values and the ranks are numpy's own (tests/test_ranking.py compares them on ties, NaN, ±0 and
infinities; where an array holds both 0.0 and −0.0, which of the two stands for their distinct
value may differ, as numpy's own choice there depends on its unstable sort): on those 83,300 times np.argsort(kind="stable") took 6.3 ms, this 1.1 ms. Values
with more distinct values than a 16-bit rank holds go to numpy's comparison sort as before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Ranks up to this many distinct values (one more for NaN) fit numpy's 16-bit radix sort.
_RADIX_DISTINCT = np.iinfo(np.uint16).max


def _ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """Each value's rank among the distinct values (0 the smallest; NaN after every number, one
    rank for all of them), the distinct numbers in that order, and whether there is a NaN; None
    when there are too many distinct values for a 16-bit rank."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)  # NaN → −1
    if len(distinct) >= _RADIX_DISTINCT:
        return None
    order = np.argsort(distinct, kind="stable")
    rank_of_code = np.empty(len(distinct) + 1, dtype=np.uint16)
    rank_of_code[order] = np.arange(len(distinct))
    rank_of_code[-1] = len(distinct)  # the code −1 (NaN) reads the last entry
    return rank_of_code[codes], distinct[order], bool(len(codes)) and bool(codes.min() < 0)


def stable_argsort(values: np.ndarray) -> np.ndarray:
    """np.argsort(values, kind="stable") of a float array: the same permutation (NaN last)."""
    v = np.asarray(values, dtype=float)
    ranked = _ranks(v)
    if ranked is None:
        return np.argsort(v, kind="stable")
    return np.argsort(ranked[0], kind="stable")  # 16-bit integers: numpy's radix sort


def distinct_values(values: np.ndarray, compact: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_inverse=True) of a float array: the distinct values ascending
    (one NaN last if any) and each value's index among them (`compact`: as 16-bit integers when
    they fit, a quarter of the memory, for indexes kept)."""
    v = np.asarray(values, dtype=float)
    ranked = _ranks(v)
    if ranked is None:
        distinct, index = np.unique(v, return_inverse=True)
        return distinct, index.reshape(-1)
    rank, distinct, has_nan = ranked
    if has_nan:
        distinct = np.r_[distinct, np.nan]
    return distinct, rank if compact else rank.astype(np.intp)


def percentiles_of_counts(distinct: np.ndarray, counts: np.ndarray, q=(25.0, 50.0, 75.0)) -> np.ndarray:
    """np.percentile(values, q) of values held as their distinct values (ascending, no NaN) and
    how many times each occurs: numpy's default ("linear", R's quantile type 7), to the bit.

    Written here because the values' ranking is already at hand where a report needs quartiles
    (a Mann–Whitney test ranks both arms' values, `distinct_values`), and numpy would partition
    each arm's values again (9 ms for 500,000 values, sixteen times a filter change at a million
    patients). The order statistics come from the cumulative counts; numpy's own steps follow:
    virtual index (n − 1)·q, its floor and the next (both the last value from n − 1 on), and
    numpy's `_lerp` (tests/test_ranking.py compares with np.percentile on ties, one value and
    infinities)."""
    n = int(np.sum(counts))
    virtual = (n - 1) * np.true_divide(q, 100)
    previous = np.floor(virtual)
    following = previous + 1
    last = virtual >= n - 1
    previous[last], following[last] = -1, -1
    previous, following = previous.astype(np.intp), following.astype(np.intp)
    gamma = virtual - previous
    ends = np.cumsum(counts)  # one past the last position of each distinct value in sorted order
    a, b = (distinct[np.searchsorted(ends, np.where(i < 0, n + i, i), side="right")] for i in (previous, following))
    with np.errstate(invalid="ignore"):  # inf − inf, as numpy
        diff = b - a
        result = a + diff * gamma
        np.subtract(b, diff * (1 - gamma), out=result, where=gamma >= 0.5)
    return result
