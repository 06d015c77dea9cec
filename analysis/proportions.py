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
    """Events out of n with a Wilson 95% CI (NaN when n is 0).

    Returns a `Proportion`: events, n, rate = events / n, ci_low, ci_high (and `.ci` as a pair).
    Method: the Wilson score interval without continuity correction (Wilson 1927), by statsmodels'
    proportion_confint(method="wilson"); it equals R's prop.test(correct = FALSE)$conf.int.

    >>> p = proportion(7, 20)
    >>> p.rate, [round(x, 3) for x in p.ci]
    (0.35, [0.181, 0.567])
    >>> proportion(0, 0).rate
    nan
    """
    events, n = int(events), int(n)
    if n == 0:
        return Proportion(events, n, NAN, NAN, NAN)
    lo, hi = proportion_confint(events, n, alpha=0.05, method="wilson")
    # The Wilson limits are exactly 0 at 0 events and 1 at n events (rounding leaves 2.8e-17 and
    # 0.9999999999999999 otherwise, as R's prop.test does not).
    lo = 0.0 if events == 0 else float(lo)
    hi = 1.0 if events == n else float(hi)
    return Proportion(events, n, events / n, lo, hi)


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
    odds_ratio_reason: str = ""  # why the odds ratio is infinite or undefined, "" otherwise


def choose_test(table: np.ndarray) -> str:
    """Fisher's exact test when an expected count is below 5, else χ² (as tableone chooses).

    Returns the name of the test (FISHER, CHI2 or CHI2_PLAIN) for a table of counts. For a 2 × 2
    table the expected counts under independence (row total × column total / grand total) decide:
    Fisher's exact test if any is below 5 (or the table is all zeros), otherwise Pearson's χ² with
    Yates' continuity correction. Any other shape gets Pearson's χ² without correction, whatever
    its expected counts (there is no exact test for larger tables here).

    >>> choose_test([[3, 7], [8, 2]]) == FISHER, choose_test([[30, 70], [45, 55]]) == CHI2
    (True, True)
    >>> choose_test([[3, 7, 1], [8, 2, 5]]) == CHI2_PLAIN
    True
    """
    table = np.asarray(table, float)
    if table.shape != (2, 2):
        return CHI2_PLAIN
    total = table.sum()
    if total == 0:
        return FISHER
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    return FISHER if (expected < 5).any() else CHI2


def table_p_value(table: np.ndarray, test: str) -> float:
    """Two-sided p-value of `test` (a name from `choose_test`) on a table of counts; NaN when a whole
    row or column is empty (nothing to compare).

    FISHER: scipy.stats.fisher_exact on the 2 × 2 table, two-sided (the tables no more likely than
    the one observed, as R's fisher.test). CHI2 / CHI2_PLAIN: Pearson's χ² test of independence by
    scipy.stats.chi2_contingency, with Yates' continuity correction for CHI2 (scipy applies it only
    when there is 1 degree of freedom, i.e. a 2 × 2 table; as R's chisq.test) and without for
    CHI2_PLAIN.

    >>> round(table_p_value([[3, 7], [8, 2]], FISHER), 4), round(table_p_value([[30, 70], [45, 55]], CHI2), 4)
    (0.0698, 0.0409)
    >>> table_p_value([[0, 10], [0, 12]], FISHER)
    nan
    """
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
    it, e.g. the per-term adverse-event table: the exact conditional estimate is the slow part.

    Returns a `Comparison`: a, b (each a `proportion`, Wilson 95% CI); difference = rate a − rate b
    with its 95% CI by Newcombe's hybrid score method (Newcombe 1998, method 10: built from the two
    Wilson intervals, no continuity correction; statsmodels confint_proportions_2indep,
    method="newcomb"); p_value and test from the 2 × 2 table [[events a, non-events a],
    [events b, non-events b]] as `choose_test` and `table_p_value` pick (Fisher's exact test when an
    expected count is below 5, otherwise χ² with Yates' correction); odds_ratio (odds of the event
    in a over its odds in b) and odds_ratio_ci, 95%: with Fisher's test the conditional maximum
    likelihood estimate and exact interval (scipy.stats.contingency.odds_ratio, as R's
    fisher.test), with χ² the sample odds ratio and Woolf's logit interval, after adding 0.5 to
    every cell when a cell is 0 (Haldane–Anscombe); odds_ratio_method names which. When an arm has
    no patients every statistic is NaN; when the p-value is NaN (no events, or events in
    everybody) `reason` says so. `what` only names the events in `reason`.

    >>> c = compare(8, 10, 3, 10, what="responders")
    >>> c.test, round(c.p_value, 4), round(c.difference, 3), [round(x, 3) for x in c.difference_ci]
    ("Fisher's exact test", 0.0698, 0.5, [0.066, 0.74])
    >>> round(c.odds_ratio, 3), [round(x, 3) for x in c.odds_ratio_ci]
    (8.154, [0.882, 127.009])
    >>> c = compare(60, 100, 45, 100)
    >>> c.test, round(c.p_value, 4), round(c.odds_ratio, 3), [round(x, 3) for x in c.odds_ratio_ci]
    ("χ² test (Yates' continuity correction)", 0.0474, 1.833, [1.046, 3.214])
    >>> compare(0, 10, 0, 12, what="relapses").reason
    'no relapses in either arm'
    """
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
    or_reason = ""
    if with_odds_ratio and math.isnan(or_):
        or_ci, or_reason = (NAN, NAN), "undefined: no patient in one outcome column"
    elif math.isinf(or_):  # as R's fisher.test: Inf, with a finite lower limit
        # (a events / a non-events) / (b events / b non-events) is infinite when a has no
        # non-events or b has no events.
        zero = "tacrolimus arm has no patients without" if a.n == a.events else "control arm has no patients with"
        or_reason = f"infinite: the {zero} {what}"
    return Comparison(a, b, a.rate - b.rate, (float(lo), float(hi)), p, test, or_, or_ci, reason, or_method, or_reason)


def compare_flags(a, b, *, what: str = "events") -> Comparison:
    """`compare` on yes/no values, one per patient: arm a's against arm b's. Events are the
    True values, n the number of values (so every value counts in the denominator).

    >>> c = compare_flags([True, True, False, True], [False, False, True, False, False])
    >>> (c.a.events, c.a.n), (c.b.events, c.b.n), c.test, round(c.p_value, 3)
    ((3, 4), (1, 5), "Fisher's exact test", 0.206)
    """
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return compare(int(a.sum()), len(a), int(b.sum()), len(b), what=what)


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
    odds_ratio_reason: str = ""  # why the pooled odds ratio is infinite or undefined, "" otherwise


def cochran_mantel_haenszel(tables: dict[str, np.ndarray]) -> StratifiedComparison:
    """CMH test of OR = 1 across strata (statsmodels), as R's mantelhaen.test(correct = TRUE).
    Strata where one arm or one outcome is empty carry no information and are left out.

    `tables` maps a stratum's name to its 2 × 2 table [[events a, non-events a], [events b,
    non-events b]]. Returns a `StratifiedComparison`: strata (the names used), pooled_odds_ratio
    (the Mantel–Haenszel common odds ratio, a against b) with its 95% CI (normal on the log scale
    with the Robins–Breslow–Greenland 1986 variance), statistic (the Cochran–Mantel–Haenszel χ²,
    1 df, continuity-corrected) and p_value. Method: Mantel & Haenszel (1959), by statsmodels'
    StratifiedTable (test_null_odds(correction=True), oddsratio_pooled, oddsratio_pooled_confint).
    The continuity correction subtracts 0.5 from |Σ(a − E[a])| only when that is at least 0.5, as R
    does (statsmodels always subtracts it, which turns a tiny difference into a spurious one; there
    the uncorrected statistic is the one R reports). No usable stratum: NaN and `reason`.

    >>> r = cochran_mantel_haenszel({"ITP": [[12, 8], [6, 14]], "AIHA": [[9, 6], [5, 10]], "ES": [[0, 3], [0, 4]]})
    >>> r.strata, round(r.pooled_odds_ratio, 3), [round(x, 3) for x in r.pooled_odds_ratio_ci]
    (('ITP', 'AIHA'), 3.273, [1.224, 8.748])
    >>> round(r.statistic, 3), round(r.p_value, 4)
    (4.531, 0.0333)
    """
    usable = {k: np.asarray(t, float) for k, t in tables.items()
              if (np.asarray(t).sum(axis=1) > 0).all() and (np.asarray(t).sum(axis=0) > 0).all()}
    if not usable:
        return StratifiedComparison((), NAN, (NAN, NAN), NAN, NAN, reason="no stratum has patients in both arms with both outcomes")
    st = StratifiedTable([t for t in usable.values()])
    t = np.stack(list(usable.values()))
    expected_a = t[:, 0, :].sum(axis=1) * t[:, :, 0].sum(axis=1) / t.sum(axis=(1, 2))
    delta = float((t[:, 0, 0] - expected_a).sum())
    # R's mantelhaen.test: YATES <- if (correct && abs(DELTA) >= .5) .5 else 0.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a zero Σ b·c/n: the pooled odds ratio is infinite
        res = st.test_null_odds(correction=abs(delta) >= 0.5)
        pooled = float(st.oddsratio_pooled)
        lo, hi = (float(v) for v in st.oddsratio_pooled_confint())
    or_reason = ""
    if not math.isfinite(pooled):
        # Σ a·d/n or Σ b·c/n is 0: every stratum has an empty cell on one diagonal.
        pooled, lo, hi = NAN, NAN, NAN
        or_reason = "not estimable: in every stratum one arm has no patients with, or none without, the outcome"
    # p from the χ² survival function: statsmodels' 1 − cdf underflows to 0 below about 1e-16.
    return StratifiedComparison(tuple(usable), pooled, (lo, hi), float(res.statistic),
                                float(stats.chi2.sf(res.statistic, 1)), odds_ratio_reason=or_reason)
