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


def distinct_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_inverse=True) of a float array: the distinct values ascending
    (one NaN last if any) and each value's index among them."""
    v = np.asarray(values, dtype=float)
    ranked = _ranks(v)
    if ranked is None:
        return np.unique(v, return_inverse=True)
    rank, distinct, has_nan = ranked
    if has_nan:
        distinct = np.r_[distinct, np.nan]
    return distinct, rank.astype(np.intp)


def tie_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's index among the distinct values (ascending; no NaN among `values`) and how
    many values share each distinct value: what average ranks and tie corrections are made of."""
    index = distinct_values(values)[1]
    return index, np.bincount(index)
