"""Time-to-event statistics by arm: Kaplan–Meier with log(−log) CIs, number at risk, medians
with CIs, survival at landmarks, log-rank test, Cox hazard ratio, and subgroup hazard ratios.

The Kaplan–Meier estimate (exponential Greenwood CIs = R's conf.type = "log-log"), the log-rank
test (R's survdiff) and the Cox hazard ratio (Efron ties = R's coxph default) are computed here
for speed, see `km_steps`, `_logrank_terms` and `_efron_binary_cox`; each is checked against R
in tests/test_r_oracle.py, and the Kaplan–Meier steps also against lifelines.
Small or empty groups never raise: values are NaN and `reason` says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .ranking import distinct_values
from .schema import AGE_BANDS, ARM_TACROLIMUS, ARMS, DIAGNOSES, SEXES

NAN = float("nan")
LANDMARK_MONTHS = (6.0, 12.0, 18.0)
RISK_TABLE_MONTHS = tuple(float(m) for m in range(0, 49, 6))
LOGRANK = "log-rank test"
COX = "Cox proportional hazards (Efron ties), Wald 95% CI"


def quantile_time(times: np.ndarray, surv: np.ndarray, p: float = 0.5) -> float:
    """First time a step survival curve falls to p, with R's rule for a curve that sits exactly
    at p over an interval: the midpoint between that time and the time it next drops.

    Written here (not lifelines' qth_survival_time) because lifelines takes the left end of such
    an interval, and the dashboard's medians must equal R's survfit.

    `times` and `surv` are the steps of the curve (NaN values are skipped, as R skips NA limits),
    compared with a tolerance of √(machine ε). NaN when the curve never falls to p (not reached).

    >>> quantile_time([0, 2, 5, 9], [1.0, 0.75, 0.4, 0.25])
    5.0
    >>> quantile_time([0, 2, 5, 9], [1.0, 0.75, 0.5, 0.25])  # exactly 0.5 from 5 to 9
    7.0
    >>> quantile_time([0, 2, 5], [1.0, 0.75, 0.6])
    nan
    """
    tol = math.sqrt(np.finfo(float).eps)
    times = np.asarray(times, float)
    surv = np.asarray(surv, float)
    ok = ~np.isnan(surv)
    times, surv = times[ok], surv[ok]
    if len(surv) == 0:
        return NAN
    keep = np.r_[True, surv[1:] != surv[:-1]]  # R drops repeated values, keeping the first time
    times, surv = times[keep], surv[keep]
    if len(surv) == 0 or surv[-1] > p + tol:
        return NAN  # not reached
    j = int(np.argmax(surv <= p + tol))
    if abs(surv[j] - p) < tol and (surv < surv[j]).any():
        nxt = int(np.argmax(surv < surv[j]))
        return float((times[j] + times[nxt]) / 2)
    return float(times[j])


@dataclass(frozen=True)
class KMCurve:
    label: str
    n: int
    events: int
    table: pd.DataFrame  # time, at_risk, events, censored, survival, ci_low, ci_high (one row per distinct time, from 0)
    median: float
    median_ci: tuple[float, float]
    reason: str = ""

    def at_risk_at(self, times) -> list[int]:
        """Number at risk at each of `times`: patients still followed (no event, not censored)
        just before t, as R's summary(survfit, times, extend = TRUE)$n.risk. 0 after the last time.

        >>> import pandas as pd
        >>> kaplan_meier(pd.Series([2, 3, 3, 5, 8, 9, 12, 15]), pd.Series([1, 1, 0, 1, 0, 1, 0, 1])).at_risk_at((0, 1, 3, 9.5, 20))
        [8, 8, 7, 2, 0]
        """
        tab = self.table
        if tab.empty:
            return [0 for _ in times]
        t, n = tab["time"].to_numpy(float), tab["at_risk"].to_numpy(int)
        # The first distinct time at or after each requested time holds the count at risk there.
        i = np.searchsorted(t, np.asarray(times, float), side="left")
        return [int(n[j]) if j < len(t) else 0 for j in i]

    def at(self, t: float) -> tuple[float, float, float]:
        """Survival and CI at time t (the step value). Beyond the last observed time it is unknown
        (NaN), unless the curve has reached 0 (everyone had the event), where it stays 0."""
        tab = self.table
        if tab.empty:
            return (NAN, NAN, NAN)
        if t > tab["time"].max():
            return (0.0, NAN, NAN) if tab["survival"].iloc[-1] == 0 else (NAN, NAN, NAN)
        row = tab[tab["time"] <= t].iloc[-1]
        return (float(row["survival"]), float(row["ci_low"]), float(row["ci_high"]))


@dataclass(frozen=True)
class KMSteps:
    """A Kaplan–Meier estimate as arrays, one entry per distinct time from 0: the number (or
    weight) at risk just before it, of events and of all leaving at it, and the survival after it."""

    time: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    removed: np.ndarray
    survival: np.ndarray
    greenwood: np.ndarray  # Σ d / (n (n − d)) up to each time

    def ci(self, z: float = 1.959963984540054) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise 95% limits, exponential Greenwood (log(−log) scale); NaN where the estimate
        is 1 or 0, where the scale is undefined (R: NA)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.log(self.survival)
            spread = z * np.sqrt(self.greenwood) / v
            low = np.exp(-np.exp(np.log(-v) - spread))
            high = np.exp(-np.exp(np.log(-v) + spread))
        undefined = (self.survival >= 1.0) | (self.survival <= 0.0)
        return np.where(undefined, NAN, low), np.where(undefined, NAN, high)


def km_steps(durations: np.ndarray, events: np.ndarray, weights: np.ndarray | None = None) -> KMSteps:
    """The Kaplan–Meier estimate of durations (no missing values) and event flags, with case
    `weights` (1 when None), from one sort: the distinct times (and 0), the weight leaving and
    dying at each, at risk = what leaves at or after it, S = exp(Σ log((n − d) / n)), Greenwood's
    Σ d / (n (n − d)) — lifelines' KaplanMeierFitter's formulas and order of operations (its
    tests/test_survival.py checks every value against lifelines and R's survfit).

    Written here, though lifelines estimates it, for speed: lifelines builds its event table with
    pandas group-bys (11 ms a curve at 50,000 patients; a report draws ten curves per filter
    change), this the distinct times (`ranking.distinct_values`) and two bincounts (3 ms).

    >>> s = km_steps(np.array([2., 3, 3, 5, 8]), np.array([1, 1, 0, 1, 0], bool))
    >>> s.time.tolist(), s.at_risk.tolist(), s.survival.round(3).tolist()
    ([0.0, 2.0, 3.0, 5.0, 8.0], [5.0, 5.0, 4.0, 2.0, 1.0], [1.0, 0.8, 0.6, 0.3, 0.3])
    """
    d = np.asarray(durations, float)
    e = np.asarray(events, bool)
    time, at = distinct_values(d)  # np.unique's answer in linear time (analysis.ranking)
    if weights is None:
        removed = np.bincount(at, minlength=len(time)).astype(float)
        events_at = np.bincount(at[e], minlength=len(time)).astype(float)
    else:
        w = np.asarray(weights, float)
        removed = np.bincount(at, weights=w, minlength=len(time))
        events_at = np.bincount(at[e], weights=w[e], minlength=len(time))
    return _counted_steps(time, removed, events_at)


def _counted_steps(time: np.ndarray, removed: np.ndarray, events_at: np.ndarray) -> KMSteps:
    """`km_steps` from the distinct times (ascending) and the weight leaving and dying at each."""
    if time[0] > 0:  # the curve starts at 1 at time 0, everyone at risk
        time, removed, events_at = np.r_[0.0, time], np.r_[0.0, removed], np.r_[0.0, events_at]
    # At risk: the weight of everyone leaving at or after the time, summed from the last time back
    # (as R's survfit), so that where everyone left at risk has the event the curve reaches 0
    # exactly. (lifelines subtracts what left before from the total; with non-integer weights the
    # rounding can leave a trace at risk, or a negative one, and its curve then stops above 0.)
    at_risk = np.cumsum(removed[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.exp(np.cumsum(np.log(at_risk - events_at) - np.log(at_risk)))
        # lifelines takes the count at risk as an integer here; a term where everyone at risk
        # dies is 0, not infinite.
        n = np.floor(at_risk)
        term = events_at / (n * (n - events_at))
        greenwood = np.cumsum(np.where(np.isinf(term), 0.0, term))
    return KMSteps(time, at_risk, events_at, removed, survival, greenwood)


def kaplan_meier(durations: pd.Series, events: pd.Series, label: str = "") -> KMCurve:
    """Kaplan–Meier estimate (Kaplan & Meier 1958) of one group's survival with pointwise 95% CIs.

    Returns a `KMCurve`: label, n, events, median, median_ci and `table`, one row per distinct time
    from 0: time, at_risk, events, censored, survival, ci_low, ci_high. Patients with a missing
    duration are left out; `events` is True for an event, False for censoring. Method: `km_steps`
    (lifelines' KaplanMeierFitter's formulas); the CI is Greenwood's (1926) variance on the log(−log) scale ("exponential
    Greenwood", Kalbfleisch & Prentice 2002; R's conf.type = "log-log"), NaN where the estimate is 1 or
    0. The median is `quantile_time` of the curve (R's rule); its CI is where the lower and the
    upper confidence curves fall to 0.5, as R's survfit (NaN: not reached). No events: `reason`.

    >>> import pandas as pd
    >>> km = kaplan_meier(pd.Series([2, 3, 3, 5, 8, 9, 12, 15]), pd.Series([1, 1, 0, 1, 0, 1, 1, 0]))
    >>> km.n, km.events, km.median, km.median_ci
    (8, 5, 9.0, (2.0, nan))
    >>> km.table.round(3).iloc[3].tolist()  # time, at_risk, events, censored, survival, ci_low, ci_high
    [5.0, 5.0, 1.0, 0.0, 0.6, 0.195, 0.852]
    >>> [round(v, 3) for v in km.at(6)]
    [0.6, 0.195, 0.852]
    """
    d = pd.to_numeric(durations, errors="coerce").to_numpy(float)
    e = np.asarray(events, dtype=bool)
    ok = ~np.isnan(d)
    return _curve(_steps(d[ok], e[ok]), label)


def _steps(durations: np.ndarray, events: np.ndarray) -> KMSteps | None:
    """`km_steps` of a group's durations (no missing values) and event flags; None when empty."""
    return km_steps(durations, events) if len(durations) else None


def _curve(steps: KMSteps | None, label: str) -> KMCurve:
    """The `KMCurve` of a group's `km_steps` (None: no patients)."""
    if steps is None:
        empty = pd.DataFrame(columns=["time", "at_risk", "events", "censored", "survival", "ci_low", "ci_high"])
        return KMCurve(label, 0, 0, empty, NAN, (NAN, NAN), "no patients")
    low, high = steps.ci()
    table = pd.DataFrame({
        "time": steps.time, "at_risk": steps.at_risk.astype(int), "events": steps.events.astype(int),
        "censored": (steps.removed - steps.events).astype(int), "survival": steps.survival,
        "ci_low": low, "ci_high": high,
    })
    t, s = steps.time, steps.survival
    median = quantile_time(t, s)
    # The CI of the median: where the lower and the upper confidence curves cross 0.5. Where a
    # curve is undefined (estimate 1 or 0) it is skipped, as R does.
    median_ci = (quantile_time(t, low), quantile_time(t, high))
    n, events = int(steps.at_risk[0]), int(steps.events.sum())
    return KMCurve(label, n, events, table, median, median_ci, "" if events else "no events")


def _at_event_times(a: KMSteps | None, b: KMSteps | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """At each distinct event time of two groups (ascending): the number at risk in the first,
    in the second, and the events of the first and of the second, read from each group's
    `km_steps` (its count at risk at its first time at or after the event time)."""
    times = np.unique(np.concatenate([g.time[g.events > 0] for g in (a, b) if g is not None] or [np.zeros(0)]))
    counts = []
    for g in (a, b):
        if g is None:
            counts.append((np.zeros(len(times)), np.zeros(len(times))))
            continue
        i = np.searchsorted(g.time, times, side="left")
        inside = i < len(g.time)
        j = np.minimum(i, len(g.time) - 1)
        counts.append((np.where(inside, g.at_risk[j], 0.0), np.where(inside & (g.time[j] == times), g.events[j], 0.0)))
    (n_a, d_a), (n_b, d_b) = counts
    return n_a, n_b, d_a, d_b


TICK_STEPS_MONTHS = (1.0, 2.0, 3.0, 6.0, 12.0, 24.0)


def time_ticks(curves, max_ticks: int = 9) -> tuple[float, ...]:
    """Ticks (months) for the time axis of Kaplan–Meier curves, from 0 past the last event.

    The axis ends a little after the last event of either curve (a quarter of that time more, so
    the plateau shows), but not beyond the last follow-up; the step is the smallest of 1, 2, 3, 6,
    12 or 24 months that gives at most `max_ticks` ticks, and the last tick is at or after the end,
    so the number-at-risk row under the axis keeps its last column.

    >>> import pandas as pd
    >>> c = kaplan_meier(pd.Series([0.5, 1.2, 2.0, 3.5, 40, 55]), pd.Series([1, 1, 1, 1, 0, 0]))
    >>> time_ticks([c])
    (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
    """
    last_time = max((float(c.table["time"].max()) for c in curves if c.n), default=0.0)
    event_times = [float(c.table.loc[c.table["events"] > 0, "time"].max()) for c in curves if c.events]
    end = min(1.25 * max(event_times), last_time) if event_times else last_time
    end = max(end, 1.0)
    step = next((s for s in TICK_STEPS_MONTHS if end / s <= max_ticks - 1), TICK_STEPS_MONTHS[-1])
    return tuple(float(step * k) for k in range(int(math.ceil(end / step - 1e-9)) + 1))


@dataclass(frozen=True)
class LogRank:
    statistic: float
    p_value: float
    reason: str = ""
    test: str = LOGRANK


def logrank(d_a, e_a, d_b, e_b) -> LogRank:
    """Log-rank test (Mantel 1966) of equal survival in two groups: durations d_a, d_b and event
    flags e_a, e_b (True: event, False: censored).

    Returns a `LogRank`: statistic (χ², 1 df) and its p_value: (O − E)² / V of the first group,
    unweighted, as R's survdiff. NaN with a `reason` when a group is empty or nobody had the event.

    >>> lr = logrank([2, 3, 5, 6, 8, 9], [1, 1, 1, 0, 1, 1], [4, 7, 10, 12, 15, 18], [1, 0, 1, 1, 0, 0])
    >>> round(lr.statistic, 3), round(lr.p_value, 4)
    (5.206, 0.0225)
    >>> logrank([1, 2], [0, 0], [3, 4], [0, 0]).reason
    'no events in either arm'
    """
    d_a, d_b = np.asarray(d_a, float), np.asarray(d_b, float)
    return _logrank(_steps(d_a, np.asarray(e_a, bool)), _steps(d_b, np.asarray(e_b, bool)))


def _logrank(a: KMSteps | None, b: KMSteps | None) -> LogRank:
    """`logrank` of two groups' `km_steps` (None: no patients)."""
    if a is None or b is None:
        arms = "either arm" if a is None and b is None else "the tacrolimus arm" if a is None else "the control arm"
        return LogRank(NAN, NAN, f"no patients in {arms}")
    if a.events.sum() + b.events.sum() == 0:
        return LogRank(NAN, NAN, "no events in either arm")
    excess, variance = _logrank_terms(*_at_event_times(a, b))
    if variance <= 0:
        # The test has no information (R's survdiff: 0 with variance 0), which is not evidence of
        # equal survival (lifelines would report χ² 0 and p 1).
        return LogRank(NAN, NAN, "no information to compare the arms: at every event time one arm has no one "
                                 "at risk, or everyone at risk has the event")
    statistic = excess * excess / variance
    return LogRank(float(statistic), float(stats.chi2.sf(statistic, 1)))


def _logrank_terms(n_a, n_b, deaths_a, deaths_b) -> tuple[float, float]:
    """The first group's observed minus expected events, Σ (dₐ − d·nₐ/n), and the hypergeometric
    variance, Σ nₐ n_b d (n − d) / (n² (n − 1)), over the distinct event times (`_at_event_times`);
    the variance is 0 when the test has no information. Written here rather than calling
    lifelines' logrank_test: it tabulates the times with pandas (30 ms a test at 90,000 patients,
    a report runs four), and it does not expose the variance; here the counts come from the
    groups' Kaplan–Meier steps, already sorted. Checked against R's survdiff in
    tests/test_r_oracle.py."""
    n = n_a + n_b
    deaths = deaths_a + deaths_b
    excess = float((deaths_a - deaths * n_a / n).sum())
    ok = n > 1
    n, n_a, deaths = n[ok], n_a[ok], deaths[ok]
    return excess, float((n_a * (n - n_a) * deaths * (n - deaths) / (n * n * (n - 1))).sum())


@dataclass(frozen=True)
class HazardRatio:
    hazard_ratio: float
    ci: tuple[float, float]
    p_value: float
    n: int
    events: int
    reason: str = ""
    method: str = COX


def _efron_binary_cox(r1: np.ndarray, r0: np.ndarray, d1: np.ndarray, d0: np.ndarray) -> tuple[float, float]:
    """Cox regression on one binary covariate with Efron's tie correction, from the numbers at
    risk (r1 with the covariate, r0 without) and of events (d1, d0) at each distinct event time
    (`_at_event_times`): (coefficient, SE).

    Written here rather than calling lifelines' CoxPHFitter, which gives the same estimate, for
    speed: lifelines loops in Python over the distinct event times (1.1 s per fit with 80,000
    responders, and the report fits 12 models), and its frequency-weighted fit, which would
    compress the data, uses an approximate Efron correction (coefficient −1.15189 instead of
    −1.15245 on the same data). With a single 0/1 covariate the Efron partial likelihood depends
    only on the counts at risk and of events in each group at each distinct event time, so it
    is computed from those counts with array operations. tests/test_r_oracle.py checks the
    hazard ratio, its CI and p against R's coxph (Efron ties) to 1e-6.
    """
    dd = d1 + d0
    # Efron: the l-th of D tied events (l = 0 … D−1) sees the risk set less l/D of the tied set.
    reps = dd.astype(int)
    frac = (np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)) / np.repeat(dd, reps)
    R1, R0, D1, D0 = (np.repeat(v, reps) for v in (r1, r0, d1, d0))
    # Each step's risk sets less its share of the tied deaths, which do not depend on β.
    left1, left0 = R1 - frac * D1, R0 - frac * D0
    beta = 0.0
    for _ in range(100):
        if abs(beta) > 30:  # monotone likelihood: the estimate runs off to infinity
            return NAN, NAN
        w = math.exp(beta)
        s1 = left1 * w
        s0 = s1 + left0
        share = s1 / s0
        score = d1.sum() - share.sum()
        info = (share * (1 - share)).sum()
        if info <= 0:
            return NAN, NAN
        step = score / info
        beta += step
        if abs(step) < 1e-12:
            break
    w = math.exp(beta)
    s1 = left1 * w
    share = s1 / (s1 + left0)
    info = (share * (1 - share)).sum()
    return beta, 1.0 / math.sqrt(info)


def cox_hazard_ratio(durations, events, treated) -> HazardRatio:
    """Hazard ratio of treated (tacrolimus) against untreated (control), Wald 95% CI and p.

    Returns a `HazardRatio`: hazard_ratio = exp(β), ci = exp(β ± 1.96·SE), two-sided Wald p_value,
    n and events (rows with a missing value left out), reason, method. Method: Cox proportional
    hazards regression (Cox 1972) on the one 0/1 covariate, Efron's approximation for tied event
    times (Efron 1977; R's coxph default), maximised by Newton–Raphson in `_efron_binary_cox`; SE
    from the observed information. NaN with a `reason` when an arm is empty, when an arm has no
    events, or when the partial likelihood has no finite maximum (|β| grows past 30, or no information).

    >>> hr = cox_hazard_ratio([2, 3, 5, 6, 8, 9, 4, 7, 10, 12, 15, 18], [1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 0],
    ...                       [True] * 6 + [False] * 6)
    >>> round(hr.hazard_ratio, 3), [round(x, 3) for x in hr.ci], round(hr.p_value, 4), hr.n, hr.events
    (8.688, [0.975, 77.441], 0.0528, 12, 8)
    """
    t, e, tac = np.asarray(durations, float), np.asarray(events, bool), np.asarray(treated, bool)
    ok = ~np.isnan(t)
    t, e, tac = t[ok], e[ok], tac[ok]
    return _hazard_ratio(_steps(t[tac], e[tac]), _steps(t[~tac], e[~tac]))


def _hazard_ratio(treated: KMSteps | None, control: KMSteps | None) -> HazardRatio:
    """`cox_hazard_ratio` of the two arms' `km_steps` (None: no patients)."""
    groups = [g for g in (treated, control) if g is not None]
    n, ev = int(sum(g.at_risk[0] for g in groups)), int(sum(g.events.sum() for g in groups))
    if treated is None or control is None:
        arms = "either arm" if not groups else "the control arm" if control is None else "the tacrolimus arm"
        return HazardRatio(NAN, (NAN, NAN), NAN, n, ev, f"no patients in {arms}")
    if ev == 0:
        return HazardRatio(NAN, (NAN, NAN), NAN, n, ev, "no events in either arm")
    if treated.events.sum() == 0 or control.events.sum() == 0:
        arm = "tacrolimus" if treated.events.sum() == 0 else "control"
        return HazardRatio(NAN, (NAN, NAN), NAN, n, ev, f"no events in the {arm} arm")
    beta, se = _efron_binary_cox(*_at_event_times(treated, control))
    if not (math.isfinite(beta) and math.isfinite(se)):
        return HazardRatio(NAN, (NAN, NAN), NAN, n, ev,
                           "no finite estimate from these events")
    z = stats.norm.ppf(0.975)
    p = float(2 * stats.norm.sf(abs(beta / se)))
    return HazardRatio(math.exp(beta), (math.exp(beta - z * se), math.exp(beta + z * se)), p, n, ev)


@dataclass(frozen=True)
class ArmComparison:
    """Time to an event in both arms: curves, tests and landmarks."""

    curves: dict[str, KMCurve]
    logrank: LogRank
    hazard: HazardRatio
    landmarks: pd.DataFrame  # arm, months, survival, ci_low, ci_high
    at_risk: pd.DataFrame  # arm × RISK_TABLE_MONTHS
    n: dict[str, int] = field(default_factory=dict)


def compare_arms(patients: pd.DataFrame, duration: str, event: str,
                 landmarks: tuple[float, ...] = LANDMARK_MONTHS,
                 risk_times: tuple[float, ...] = RISK_TABLE_MONTHS) -> ArmComparison:
    """Time to an event by arm, from the columns `duration` (time) and `event` (True: event) of
    `patients` (also "arm"). Patients with a missing duration are left out; a missing event flag
    counts as censored.

    Returns an `ArmComparison`: curves (a `kaplan_meier` curve per arm: log(−log) 95% CIs, median
    and its CI), logrank (`logrank`, tacrolimus against control), hazard (`cox_hazard_ratio`,
    tacrolimus against control, Efron ties, Wald CI), landmarks (arm, months, survival, ci_low,
    ci_high: the curve's step value at each landmark, `KMCurve.at`), at_risk (arms × risk_times,
    `KMCurve.at_risk_at`) and n per arm.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"arm": ["tacrolimus"] * 6 + ["control"] * 6,
    ...                    "months": [2, 3, 5, 6, 8, 9, 4, 7, 10, 12, 15, 18],
    ...                    "relapsed": [1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 0]})
    >>> res = compare_arms(df, "months", "relapsed", landmarks=(6.0,), risk_times=(0.0, 6.0, 12.0))
    >>> res.curves["tacrolimus"].median, res.curves["control"].median
    (6.5, 12.0)
    >>> round(res.logrank.p_value, 4), round(res.hazard.hazard_ratio, 3)
    (0.0225, 8.688)
    >>> res.landmarks.round(3)[["arm", "survival"]].values.tolist()
    [['tacrolimus', 0.5], ['control', 0.833]]
    >>> res.at_risk.to_dict("index")
    {'tacrolimus': {0.0: 6, 6.0: 3, 12.0: 0}, 'control': {0.0: 6, 6.0: 5, 12.0: 3}}
    """
    df = patients[["arm", duration, event]].dropna(subset=[duration])
    months = pd.to_numeric(df[duration], errors="coerce").to_numpy(float)
    events = df[event].astype("boolean").fillna(False).to_numpy(bool)
    # One sort per arm: its Kaplan–Meier steps give the curve, and their counts at risk and of
    # events give the log-rank test and the hazard ratio.
    known = ~np.isnan(months)
    masks = {arm: df["arm"].eq(arm).to_numpy(bool, na_value=False) & known for arm in ARMS}
    steps = {arm: _steps(months[m], events[m]) for arm, m in masks.items()}
    curves, rows, risk = {}, [], {}
    for arm in ARMS:
        curves[arm] = _curve(steps[arm], arm)
        for m in landmarks:
            s, lo, hi = curves[arm].at(m)
            rows.append({"arm": arm, "months": m, "survival": s, "ci_low": lo, "ci_high": hi})
        risk[arm] = curves[arm].at_risk_at(risk_times)
    treated, control = (steps[arm] for arm in ARMS)
    at_risk = pd.DataFrame(risk, index=pd.Index(risk_times, name="months")).T
    return ArmComparison(curves, _logrank(treated, control), _hazard_ratio(treated, control), pd.DataFrame(rows),
                         at_risk, {arm: int(masks[arm].sum()) for arm in ARMS})


def subgroup_hazard_ratios(patients: pd.DataFrame, duration: str, event: str) -> pd.DataFrame:
    """Cox HR (tacrolimus vs control) within each diagnosis, sex and age band: a forest plot's rows.

    One row per subgroup: all patients, each diagnosis (ITP, AIHA, ES), each sex (M, F) and each age
    band (<40, 40–59, ≥60; lower bound included). Columns: group, level, n_tacrolimus, n_control,
    events_tacrolimus, events_control, hazard_ratio, ci_low, ci_high, p_value, reason. Each row is a
    separate `cox_hazard_ratio` fit (Efron ties, Wald 95% CI) on the patients with a duration (a
    missing event flag counts as censored); no interaction test, no adjustment for multiplicity.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"arm": ["tacrolimus"] * 6 + ["control"] * 6,
    ...                    "months": [2, 3, 5, 6, 8, 9, 4, 7, 10, 12, 15, 18],
    ...                    "relapsed": [1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 0],
    ...                    "diagnosis": ["ITP", "AIHA"] * 6, "sex": ["M", "F", "F"] * 4,
    ...                    "age": [35, 45, 62, 50, 38, 70, 41, 29, 66, 55, 33, 48]})
    >>> sg = subgroup_hazard_ratios(df, "months", "relapsed")
    >>> sg["level"].tolist()
    ['All', 'ITP', 'AIHA', 'ES', 'M', 'F', '<40', '40–59', '≥60']
    >>> sg["hazard_ratio"].round(3).tolist()[:2], sg.loc[3, "reason"]
    ([8.688, 4.033], 'no patients in either arm')
    """
    # Each fit needs only its arms' counts leaving and dying at each distinct time (`km_steps`),
    # so the times are ranked once, for all patients, and each grouping (diagnosis, sex, age
    # band) counts its levels × arms × times in one bincount. (Ranking each subgroup's times
    # again, the nine fits of 798,175 responders took 0.24 s; this 0.09–0.10 s. The counts,
    # and so every fit, are the same.)
    months = pd.to_numeric(patients[duration], errors="coerce").to_numpy(float)
    known = ~np.isnan(months)
    time, at = distinct_values(months[known])
    events = patients[event].astype("boolean").fillna(False).to_numpy(bool)[known]
    treated = (patients["arm"] == ARM_TACROLIMUS).to_numpy(bool, na_value=False)[known]
    age = pd.to_numeric(patients["age"], errors="coerce").to_numpy(float)[known]
    band = np.full(len(age), -1, dtype=np.intp)
    for i, (_, lo, hi) in enumerate(AGE_BANDS):
        band[(age >= lo) & (age < hi)] = i
    groupings = [
        ("All patients", ("All",), np.zeros(len(at), dtype=np.intp)),
        ("Diagnosis", DIAGNOSES, _level(patients["diagnosis"], DIAGNOSES)[known]),
        ("Sex", SEXES, _level(patients["sex"], SEXES)[known]),
        ("Age", tuple(label for label, _, _ in AGE_BANDS), band),
    ]
    rows = []
    k = len(time)
    for group, levels, level in groupings:
        # (level + 1) × arm (control 0, tacrolimus 1) × time: level −1 (none of them) counted
        # first and dropped, which is cheaper than selecting the others.
        cell = ((level + 1) * 2 + treated) * k + at
        shape = (len(levels) + 1, 2, k)
        removed = np.bincount(cell, minlength=math.prod(shape)).reshape(shape)[1:].astype(float)
        died = np.bincount(cell[events], minlength=math.prod(shape)).reshape(shape)[1:].astype(float)
        for i, name in enumerate(levels):
            control, tacrolimus = (_subgroup_steps(time, removed[i, arm], died[i, arm]) for arm in (0, 1))
            hr = _hazard_ratio(tacrolimus, control)
            rows.append({
                "group": group, "level": name,
                "n_tacrolimus": int(removed[i, 1].sum()), "n_control": int(removed[i, 0].sum()),
                "events_tacrolimus": int(died[i, 1].sum()), "events_control": int(died[i, 0].sum()),
                "hazard_ratio": hr.hazard_ratio, "ci_low": hr.ci[0], "ci_high": hr.ci[1], "p_value": hr.p_value,
                "reason": hr.reason,
            })
    return pd.DataFrame(rows)


def _level(values: pd.Series, levels: tuple[str, ...]) -> np.ndarray:
    """Each value's position in `levels`, −1 for any other value or a missing one."""
    return pd.Categorical(values, categories=levels).codes.astype(np.intp)


def _subgroup_steps(time: np.ndarray, removed: np.ndarray, died: np.ndarray) -> KMSteps | None:
    """`km_steps` of a subgroup's arm from its counts at every patient's distinct times: the times
    where it has patients are its own distinct times. None when it has none."""
    present = removed > 0
    return _counted_steps(time[present], removed[present], died[present]) if present.any() else None
