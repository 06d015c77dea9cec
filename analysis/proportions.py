"""Proportions by arm and their comparison: Wilson CIs, Newcombe difference CI, Fisher or χ²,
conditional odds ratio, and Cochran–Mantel–Haenszel across strata.

Everything is computed by scipy and statsmodels; this module only chooses and packages.
Small or empty groups never raise: values are NaN and `reason` says why.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.stats.contingency import odds_ratio
from statsmodels.stats.contingency_tables import StratifiedTable, Table2x2
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

NAN = float("nan")
FISHER = "Fisher's exact test"
CHI2 = "χ² test (Yates' continuity correction)"
CHI2_PLAIN = "χ² test"
CMH = "Cochran–Mantel–Haenszel test (continuity correction)"


@dataclass(frozen=True)
class Proportion:
    events: int
    n: int
    rate: float
    ci_low: float
    ci_high: float

    @property
    def ci(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)


def proportion(events: int, n: int) -> Proportion:
    """Events out of n with a Wilson 95% CI (NaN when n is 0)."""
    events, n = int(events), int(n)
    if n == 0:
        return Proportion(events, n, NAN, NAN, NAN)
    lo, hi = proportion_confint(events, n, alpha=0.05, method="wilson")
    return Proportion(events, n, events / n, float(lo), float(hi))


@dataclass(frozen=True)
class Comparison:
    """Arm a (tacrolimus) against arm b (control)."""

    a: Proportion
    b: Proportion
    difference: float  # a − b
    difference_ci: tuple[float, float]  # Newcombe hybrid score (method 10)
    p_value: float
    test: str
    odds_ratio: float
    odds_ratio_ci: tuple[float, float]
    reason: str = ""
    odds_ratio_method: str = ""


def choose_test(table: np.ndarray) -> str:
    """Fisher's exact test when an expected count is below 5, else χ² (as tableone chooses)."""
    table = np.asarray(table, float)
    if table.shape != (2, 2):
        return CHI2_PLAIN
    total = table.sum()
    if total == 0:
        return FISHER
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    return FISHER if (expected < 5).any() else CHI2


def table_p_value(table: np.ndarray, test: str) -> float:
    table = np.asarray(table, float)
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        return NAN  # a whole row or column empty: nothing to compare
    if test == FISHER:
        return float(stats.fisher_exact(table.astype(int)).pvalue)
    correction = test == CHI2
    return float(stats.chi2_contingency(table, correction=correction).pvalue)


def compare(events_a: int, n_a: int, events_b: int, n_b: int, *, what: str = "events",
            with_odds_ratio: bool = True) -> Comparison:
    """Arm a against arm b. `with_odds_ratio=False` skips the odds ratio (NaN) where nobody shows
    it, e.g. the per-term adverse-event table: the exact conditional estimate is the slow part."""
    a, b = proportion(events_a, n_a), proportion(events_b, n_b)
    table = np.array([[a.events, a.n - a.events], [b.events, b.n - b.events]])
    if a.n == 0 or b.n == 0:
        empty = "tacrolimus arm" if a.n == 0 else "control arm"
        return Comparison(a, b, NAN, (NAN, NAN), NAN, "", NAN, (NAN, NAN), f"the {empty} has no patients")
    test = choose_test(table)
    p = table_p_value(table, test)
    reason = ""
    if math.isnan(p):
        reason = f"no {what} in either arm" if a.events + b.events == 0 else f"every patient has {what} in both arms"
    lo, hi = confint_proportions_2indep(a.events, a.n, b.events, b.n, method="newcomb", compare="diff")
    or_, or_ci, or_method = _odds_ratio(table, test) if with_odds_ratio else (NAN, (NAN, NAN), "")
    return Comparison(a, b, a.rate - b.rate, (float(lo), float(hi)), p, test, or_, or_ci, reason, or_method)


OR_CONDITIONAL = "conditional maximum likelihood, exact 95% CI (as R's fisher.test)"
OR_WOOLF = "sample odds ratio, Woolf (logit) 95% CI"
OR_WOOLF_HALDANE = "sample odds ratio with 0.5 added to every cell (a cell is 0), Woolf 95% CI"


def _odds_ratio(table: np.ndarray, test: str) -> tuple[float, tuple[float, float], str]:
    """The odds ratio that goes with the test: with Fisher's test the conditional estimate and
    exact interval (small counts); with χ² the sample odds ratio and Woolf interval. The
    conditional estimate costs time proportional to the table's margins, which is why it is not
    used for large tables, where the two agree anyway."""
    if test == FISHER:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = odds_ratio(table.astype(int), kind="conditional")
            ci = res.confidence_interval(0.95)
        return float(res.statistic), (float(ci.low), float(ci.high)), OR_CONDITIONAL
    t = table.astype(float)
    method = OR_WOOLF
    if (t == 0).any():
        t = t + 0.5
        method = OR_WOOLF_HALDANE
    res = Table2x2(t)
    lo, hi = res.oddsratio_confint(alpha=0.05, method="normal")
    return float(res.oddsratio), (float(lo), float(hi)), method


@dataclass(frozen=True)
class StratifiedComparison:
    strata: tuple[str, ...]
    pooled_odds_ratio: float  # Mantel–Haenszel
    pooled_odds_ratio_ci: tuple[float, float]
    statistic: float
    p_value: float
    test: str = CMH
    reason: str = ""


def cochran_mantel_haenszel(tables: dict[str, np.ndarray]) -> StratifiedComparison:
    """CMH test of OR = 1 across strata (statsmodels), as R's mantelhaen.test(correct = TRUE).
    Strata where one arm or one outcome is empty carry no information and are left out."""
    usable = {k: np.asarray(t, float) for k, t in tables.items()
              if (np.asarray(t).sum(axis=1) > 0).all() and (np.asarray(t).sum(axis=0) > 0).all()}
    if not usable:
        return StratifiedComparison((), NAN, (NAN, NAN), NAN, NAN, reason="no stratum has patients in both arms with both outcomes")
    st = StratifiedTable([t for t in usable.values()])
    res = st.test_null_odds(correction=True)
    lo, hi = st.oddsratio_pooled_confint()
    return StratifiedComparison(tuple(usable), float(st.oddsratio_pooled), (float(lo), float(hi)),
                                float(res.statistic), float(res.pvalue))
