"""Continuous values by arm: median and quartiles, and the Mann–Whitney U test (scipy).

The test follows R's wilcox.test defaults, so numbers agree with it: the exact distribution when
both groups have fewer than 50 values and there are no ties, otherwise the normal approximation
with continuity correction (and the tie-corrected variance)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

NAN = float("nan")
MANN_WHITNEY = "Mann–Whitney U test"


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    q1: float
    q3: float
    minimum: float
    maximum: float
    mean: float
    sd: float


def summarise(values: pd.Series) -> Summary:
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(float)
    if len(v) == 0:
        return Summary(0, NAN, NAN, NAN, NAN, NAN, NAN, NAN)
    q1, med, q3 = np.percentile(v, [25, 50, 75])  # R's quantile type 7
    sd = float(np.std(v, ddof=1)) if len(v) > 1 else NAN
    return Summary(len(v), float(med), float(q1), float(q3), float(v.min()), float(v.max()), float(v.mean()), sd)


@dataclass(frozen=True)
class TwoGroups:
    a: Summary
    b: Summary
    p_value: float
    test: str = MANN_WHITNEY
    reason: str = ""


def mann_whitney_p(a: pd.Series, b: pd.Series) -> tuple[float, str]:
    x = pd.to_numeric(a, errors="coerce").dropna().to_numpy(float)
    y = pd.to_numeric(b, errors="coerce").dropna().to_numpy(float)
    if len(x) == 0 or len(y) == 0:
        return NAN, "one arm has no values"
    ties = len(np.unique(np.r_[x, y])) < len(x) + len(y)
    method = "exact" if (len(x) < 50 and len(y) < 50 and not ties) else "asymptotic"
    res = stats.mannwhitneyu(x, y, alternative="two-sided", method=method, use_continuity=True)
    return float(res.pvalue), ""


def compare_values(a: pd.Series, b: pd.Series) -> TwoGroups:
    p, reason = mann_whitney_p(a, b)
    return TwoGroups(summarise(a), summarise(b), p, reason=reason)
