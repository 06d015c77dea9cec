"""The comparison adjusted for measured confounders: propensity score, inverse probability of
treatment weights, covariate balance, weighted outcomes with robust confidence intervals, and
E-values. Pure functions on the per-patient table; every estimate is checked against R
(`glm`, `survey::svyglm`, `survival::coxph`) in tests/test_r_oracle.py.

The covariates are those a clinician would name for the choice of tacrolimus: age, sex,
diagnosis and the baseline count of the affected lineage. A baseline that is not measured (the
platelet count of an AIHA patient, the haemoglobin of an ITP patient) enters as 0 with an
indicator that it is missing (the missing-indicator method), so no patient is dropped.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from . import cox
from .schema import AIHA, ARM_TACROLIMUS, ARMS, ES
from .survival import km_steps

NAN = float("nan")
ATE, ATT = "ATE", "ATT"
COVARIATES = ("age", "male", "diagnosis_AIHA", "diagnosis_ES", "baseline_plt", "baseline_plt_missing",
              "baseline_hgb", "baseline_hgb_missing")
COVARIATE_LABELS = {
    "age": "Age, years", "male": "Male sex", "diagnosis_AIHA": "Diagnosis AIHA (vs ITP)",
    "diagnosis_ES": "Diagnosis Evans syndrome (vs ITP)", "baseline_plt": "Baseline platelets, ×10⁹/L",
    "baseline_plt_missing": "Baseline platelets not measured", "baseline_hgb": "Baseline hemoglobin, g/L",
    "baseline_hgb_missing": "Baseline hemoglobin not measured",
}


def covariates(patients: pd.DataFrame) -> pd.DataFrame:
    """The covariate matrix of the propensity model, a row per patient (same index), columns
    `COVARIATES`: age; male (1/0); diagnosis AIHA and ES against ITP (1/0); baseline platelets and
    haemoglobin, 0 where not measured, each with a 1/0 column saying it was not measured.

    >>> import pandas as pd
    >>> p = pd.DataFrame({"age": [30, 50], "sex": ["M", "F"], "diagnosis": ["ITP", "AIHA"],
    ...                   "baseline_plt": [12.0, None], "baseline_hgb": [None, 70.0]})
    >>> covariates(p).to_dict("list")["baseline_plt_missing"]
    [0.0, 1.0]
    """
    # One block of floats (a frame built column by column held eight, and every model copied them
    # into a matrix again), a contiguous row per covariate as pandas holds a block: each column,
    # and the columns a model takes (`_columns`), stay contiguous.
    columns = {"age": pd.to_numeric(patients["age"], errors="coerce").to_numpy(float, na_value=np.nan),
               "male": (patients["sex"] == "M").astype(float).to_numpy(),
               "diagnosis_AIHA": (patients["diagnosis"] == AIHA).astype(float).to_numpy(),
               "diagnosis_ES": (patients["diagnosis"] == ES).astype(float).to_numpy()}
    for column in ("baseline_plt", "baseline_hgb"):
        value = pd.to_numeric(patients[column], errors="coerce").to_numpy(float, na_value=np.nan)
        missing = np.isnan(value)
        columns[column] = np.where(missing, 0.0, value)
        columns[f"{column}_missing"] = missing.astype(float)
    return pd.DataFrame(np.vstack([columns[c] for c in COVARIATES]).T, index=patients.index,
                        columns=list(COVARIATES), copy=False)


def _columns(first: np.ndarray, x: pd.DataFrame, names: list[str]) -> np.ndarray:
    """The matrix of `first` and the columns `names` of `x`, column-major (LAPACK's order, and
    `cox.fit` takes each column without a copy)."""
    out = np.empty((len(first), 1 + len(names)), order="F")
    out[:, 0] = first
    # Column by column from `covariates`' one block, seen as a matrix without a copy (selecting
    # the columns as a frame first copied them twice: 15 ms a model at a million patients).
    values = x.to_numpy(float)
    for j, name in enumerate(names, start=1):
        out[:, j] = values[:, x.columns.get_loc(name)]
    return out


def _varies(values: pd.Series) -> bool:
    """Two or more distinct values (missing ones aside): nunique() ≥ 2, without hashing every value."""
    v = values.to_numpy(dtype=float, na_value=np.nan)
    lowest = np.fmin.reduce(v) if len(v) else np.nan  # NaN only when every value is NaN
    return not np.isnan(lowest) and lowest != np.fmax.reduce(v)


def varying(x: pd.DataFrame) -> list[str]:
    """The covariates a model can use in this selection: those that vary, less any that the others
    (and the intercept) already determine — in the shipped format "baseline platelets not measured"
    is the AIHA indicator, so one of them goes (R's `glm` and `coxph` would report it as NA)."""
    kept: list[str] = []
    names = [c for c in COVARIATES if _varies(x[c])]
    full = _columns(np.ones(len(x)), x, names)
    # One QR decomposition of the intercept and every candidate: a set of columns of `full` is
    # Q times the same columns of R, and Q keeps lengths, so R's columns have the singular values
    # of the n-row matrix. numpy's matrix_rank on each n-row trial, with its own tolerance
    # (largest singular value × n × machine epsilon), took 30 ms a model at 100,000 patients
    # (ITP and AIHA), this 10 ms.
    r = _r_factor(full)
    for j, c in enumerate(names, start=1):
        columns = [0, *(1 + names.index(k) for k in kept), j]
        trial = r[:, columns]
        singular = np.linalg.svd(trial, compute_uv=False)
        tolerance = singular.max() * max(len(x), len(columns)) * np.finfo(float).eps
        if (singular > tolerance).sum() == len(columns):
            kept.append(c)
    return kept


def _r_factor(a: np.ndarray, rows: int = 65_536) -> np.ndarray:
    """R of the QR decomposition of a tall matrix (up to the signs of its rows, which leave its
    singular values as they are), a block of rows at a time: the R of each block, stacked, and
    their R (TSQR, Demmel et al. 2012). The same orthogonal steps as one decomposition in another
    order; on 900,000 rows and 9 columns 24 ms instead of LAPACK's 75 ms on the whole, as each
    block stays in cache."""
    if len(a) <= rows:
        return np.linalg.qr(a, mode="r")
    return np.linalg.qr(np.vstack([np.linalg.qr(a[i:i + rows], mode="r") for i in range(0, len(a), rows)]), mode="r")


@dataclass(frozen=True)
class Propensity:
    """The propensity score model: P(tacrolimus | covariates) by logistic regression."""

    scores: pd.Series  # per patient, same index as the patients
    used: tuple[str, ...]  # the covariates in the model (those that vary in the selection)
    coefficients: pd.Series  # log-odds per unit, intercept first
    reason: str = ""  # why no model could be fitted, "" when it was


def propensity(patients: pd.DataFrame, x: pd.DataFrame | None = None) -> Propensity:
    """Propensity score of tacrolimus by logistic regression on `covariates` (statsmodels' Logit,
    maximum likelihood by Newton–Raphson: the same model and estimate as R's
    `glm(family = binomial)`; statsmodels' GLM, fitted by IRLS with a least-squares solve of the
    whole design at each step, took 2.0 s on a synthetic design of a million rows and six columns,
    Logit 0.42 s). Covariates that do not vary under the filters (for example diagnosis when one
    is selected), or that the others determine, are left out (`varying`) and named by their
    absence in `used`. A selection without both arms, or with complete separation, gets NaN
    scores and a reason. `x`: the patients' `covariates`, when already computed."""
    treated = (patients["arm"] == ARM_TACROLIMUS).astype(float)
    empty = pd.Series(NAN, index=patients.index)
    if treated.nunique() < 2:
        return Propensity(empty, (), pd.Series(dtype=float), "the selection has patients in one arm only")
    x = covariates(patients) if x is None else x
    used = tuple(varying(x))
    design = sm.add_constant(x[list(used)], has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # perfect separation and non-convergence are reported below
        try:
            # check_rank=False: `varying` has kept only columns of full rank (statsmodels' own
            # check is a second QR decomposition of the whole design, 27 ms at a million patients).
            fit = sm.Logit(treated, design, check_rank=False).fit(method="newton", maxiter=100, disp=0)
        except Exception:  # singular design (e.g. collinear covariates in a tiny selection)
            return Propensity(empty, used, pd.Series(dtype=float), "the model cannot be fitted to so few patients")
    scores = pd.Series(fit.predict(design), index=patients.index)
    converged = bool(fit.mle_retvals.get("converged", False))
    if not converged or (scores.min() < 1e-8) or (scores.max() > 1 - 1e-8):
        return Propensity(empty, used, fit.params, "the covariates separate the arms completely: there is no "
                                                    "overlap to compare within")
    return Propensity(scores, used, fit.params)


@dataclass(frozen=True)
class Weights:
    """Inverse probability of treatment weights and what they do to the sample."""

    weights: pd.Series  # per patient
    estimand: str  # ATE (everyone) or ATT (the patients who got tacrolimus)
    truncated: tuple[float, float] | None  # the limits applied, or None
    effective_n: dict[str, float]  # per arm: (Σw)² / Σw² (Kish)


def iptw(scores: pd.Series, treated: pd.Series, estimand: str = ATE, truncate: bool = False) -> Weights:
    """Stabilised inverse probability of treatment weights (Robins, Hernán & Brumback 2000;
    Austin & Stuart 2015). ATE: P(T) / e for tacrolimus patients and (1 − P(T)) / (1 − e) for
    controls, e the propensity score and P(T) the share on tacrolimus. ATT: 1 for tacrolimus and
    e / (1 − e) for controls, scaled so that the controls' weights sum to their number. `truncate`
    clips the weights at their 1st and 99th percentiles.

    >>> import pandas as pd
    >>> w = iptw(pd.Series([0.5, 0.25, 0.5, 0.75]), pd.Series([True, True, False, False]))
    >>> [round(v, 3) for v in w.weights], round(w.effective_n["tacrolimus"], 3)
    ([1.0, 2.0, 1.0, 2.0], 1.8)
    """
    t = np.asarray(treated, bool)
    e = np.asarray(scores, float)
    if estimand == ATE:
        share = t.mean()
        w = np.where(t, share / e, (1 - share) / (1 - e))
    elif estimand == ATT:
        odds = e / (1 - e)
        w = np.where(t, 1.0, odds * (~t).sum() / odds[~t].sum())
    else:
        raise ValueError(f"estimand is {ATE} or {ATT}, not {estimand!r}")
    limits = None
    if truncate:
        limits = (float(np.percentile(w, 1)), float(np.percentile(w, 99)))
        w = np.clip(w, *limits)
    ess = {arm: float(w[m].sum() ** 2 / (w[m] ** 2).sum()) if m.any() else 0.0
           for arm, m in (("tacrolimus", t), ("control", ~t))}
    return Weights(pd.Series(w, index=scores.index), estimand, limits, ess)


def _weighted_mean_var(x: np.ndarray, w: np.ndarray | None) -> tuple[float, float]:
    """Mean and variance Σw(x − m)² / Σw; without weights numpy's mean and variance, which are
    the same numbers with every weight 1 (the same sums, divided by n) without a weight array."""
    if w is None:
        return float(np.mean(x)), float(np.var(x))
    mean = float(np.sum(w * x) / np.sum(w))
    var = float(np.sum(w * (x - mean) ** 2) / np.sum(w))
    return mean, var


def smd(x: pd.Series, treated: pd.Series, weights: pd.Series | None = None) -> float:
    """Standardised mean difference of one covariate, tacrolimus minus control, over the pooled
    standard deviation: (m₁ − m₀) / √((s₁² + s₀²) / 2), with weighted means and weighted
    variances Σw(x − m)² / Σw when `weights` are given (Austin & Stuart 2015). For a 0/1 covariate
    this is the difference of proportions over √((p₁(1 − p₁) + p₀(1 − p₀)) / 2). NaN when both
    arms are constant.

    >>> import pandas as pd
    >>> round(smd(pd.Series([1.0, 2, 3, 4]), pd.Series([True, True, False, False])), 4)
    -4.0
    """
    v = np.asarray(x, float)
    t = np.asarray(treated, bool)
    if weights is None:
        return _smd(v[t], None, v[~t], None)
    w = np.asarray(weights, float)
    return _smd(v[t], w[t], v[~t], w[~t])


def _smd(x1: np.ndarray, w1: np.ndarray | None, x0: np.ndarray, w0: np.ndarray | None) -> float:
    """`smd` of the values and weights of the tacrolimus arm (x1, w1) and of the control arm."""
    m1, v1 = _weighted_mean_var(x1, w1)
    m0, v0 = _weighted_mean_var(x0, w0)
    pooled = math.sqrt((v1 + v0) / 2)
    return (m1 - m0) / pooled if pooled > 0 else NAN


def balance(patients: pd.DataFrame, weights: pd.Series, x: pd.DataFrame | None = None) -> pd.DataFrame:
    """The balance table (the love plot's rows): per covariate its label and the SMD before and
    after weighting. A weighted |SMD| above 0.1 is the usual sign of residual imbalance. `x`: the
    patients' `covariates`, when already computed."""
    x = covariates(patients) if x is None else x
    t = (patients["arm"] == ARM_TACROLIMUS).to_numpy(bool, na_value=False)
    w = np.asarray(weights, float)
    # The covariates split by arm once, a contiguous row per covariate (`smd` on each column split
    # them again: 16 splits of every column per table).
    columns = x[list(COVARIATES)].to_numpy(float).T
    arms = [(columns[:, m], w[m]) for m in (t, ~t)]
    rows = []
    for j, c in enumerate(COVARIATES):
        (v1, w1), (v0, w0) = ((values[j], weight) for values, weight in arms)
        rows.append({"covariate": c, "label": COVARIATE_LABELS[c],
                     "smd_before": _smd(v1, None, v0, None), "smd_after": _smd(v1, w1, v0, w0)})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class WeightedRates:
    """An outcome's weighted proportion per arm and their difference and odds ratio, each with a
    robust (sandwich) 95% CI."""

    rate_a: float
    rate_b: float
    difference: float
    difference_ci: tuple[float, float]
    odds_ratio: float
    odds_ratio_ci: tuple[float, float]
    p_value: float
    reason: str = ""


def weighted_rates(outcome: pd.Series, treated: pd.Series, weights: pd.Series) -> WeightedRates:
    """Weighted proportions of a yes/no outcome by arm; the risk difference from a weighted linear
    model and the odds ratio from a weighted logistic model, both with the design-based
    (sandwich) variance of a weighted sample, as R's `survey::svyglm` with
    `svydesign(ids = ~1, weights = ~w)`: the HC0 sandwich scaled by n / (n − 1). p is the Wald
    test of the difference.

    Both models have one 0/1 covariate, so they are saturated and solved in closed form rather
    than by statsmodels' WLS and GLM (which the tests compare them with, and R's svyglm): each
    arm's fitted risk is its weighted rate m = Σwy / Σw, the coefficient of the arm is
    m₁ − m₀ (linear) or logit m₁ − logit m₀ (logistic), and the sandwich is the sum of the squared
    influence of each patient, wᵢ(yᵢ − m) / Σw on the risk and that over m(1 − m) on its logit.
    Two statsmodels fits per outcome took 35 ms at 90,000 patients (a report has two outcomes per
    estimand), this well under 1 ms."""
    y = np.asarray(outcome, float)
    t = np.asarray(treated, bool)
    w = np.asarray(weights, float)
    ok = ~np.isnan(y)
    y, t, w = y[ok], t[ok], w[ok]
    if t.all() or not t.any():
        return WeightedRates(NAN, NAN, NAN, (NAN, NAN), NAN, (NAN, NAN), NAN, "the selection has one arm only")
    n = len(y)
    z = stats.norm.ppf(0.975)
    rates, spread = [], []
    for arm in (t, ~t):
        yk, wk = y[arm], w[arm]
        total = float(np.sum(wk))
        m = float(np.sum(wk * yk) / total)
        rates.append(m)
        # Σ (wᵢ (yᵢ − m))² / (Σw)²: the variance of the arm's weighted rate (HC0)
        spread.append(float(np.sum(np.square(wk * (yk - m)))) / (total * total))
    (a, b), (va, vb) = rates, spread
    scale = n / (n - 1)  # svyglm's design-based variance is HC0 × n / (n − 1)
    diff = a - b
    se_d = math.sqrt((va + vb) * scale)
    if 0 < a < 1 and 0 < b < 1:
        beta = _logit(a) - _logit(b)
        se_b = math.sqrt((va / (a * (1 - a)) ** 2 + vb / (b * (1 - b)) ** 2) * scale)
        odds, odds_ci = math.exp(beta), (math.exp(beta - z * se_b), math.exp(beta + z * se_b))
        reason = ""
    else:
        odds, odds_ci, reason = NAN, (NAN, NAN), "an arm has the outcome in all or none of its patients"
    p = float(2 * stats.norm.sf(abs(diff / se_d))) if se_d > 0 else NAN
    return WeightedRates(a, b, diff, (diff - z * se_d, diff + z * se_d), odds, odds_ci, p, reason)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def e_value(estimate: float, limit: float | None = None, common: bool = True, ratio: str = "HR") -> tuple[float, float]:
    """The E-value of a ratio estimate and of the confidence limit closest to 1 (VanderWeele & Ding
    2017): the minimum strength of association, on the risk-ratio scale, that an unmeasured
    confounder would need with both treatment and outcome to explain the estimate away. A hazard
    ratio of a common outcome is first turned into a risk ratio by (1 − 0.5^√HR) / (1 − 0.5^√(1/HR)),
    an odds ratio of a common outcome by its square root (both from the same paper); a rare outcome's
    ratio is used as it is. The limit's E-value is 1 when the interval holds 1.

    >>> [round(v, 3) for v in e_value(0.5, 0.7, common=False)]
    [3.414, 2.211]
    """
    def as_rr(x: float) -> float:
        if not common:
            return x
        if ratio == "HR":
            return (1 - 0.5 ** math.sqrt(x)) / (1 - 0.5 ** math.sqrt(1 / x))
        return math.sqrt(x)

    def ev(rr: float) -> float:
        rr = 1 / rr if rr < 1 else rr
        return rr + math.sqrt(rr * (rr - 1))

    if not (estimate > 0 and math.isfinite(estimate)):
        return NAN, NAN
    point = ev(as_rr(estimate))
    if limit is None or not (limit > 0 and math.isfinite(limit)):
        return point, NAN
    crosses = (estimate < 1 <= limit) or (limit <= 1 < estimate)
    return point, 1.0 if crosses else ev(as_rr(limit))


@dataclass(frozen=True)
class AdjustedHazard:
    """A hazard ratio, tacrolimus vs control, from a Cox model that adjusts: by weighting (robust
    SE) or by covariates in the model."""

    hazard_ratio: float
    ci: tuple[float, float]
    p_value: float
    method: str
    reason: str = ""


WEIGHTED_COX = "Cox proportional hazards weighted by IPTW (Efron ties), robust (sandwich) 95% CI"
MULTIVARIABLE_COX = "Cox proportional hazards, arm and the propensity covariates (Efron ties), Wald 95% CI"


# Beyond this |log hazard ratio| (a ratio above 22,000 or below 1/22,000) the likelihood has no
# maximum: the arms' events do not overlap in time (R's coxph warns "coefficient may be infinite").
LOG_HR_LIMIT = 10.0


def _not_estimable(e: np.ndarray, tacrolimus: np.ndarray, method: str) -> AdjustedHazard | None:
    """The reason a Cox model of the arm cannot be fitted to these event flags and arms (1/0), as
    an answer; None when it can."""
    # Counted as sums and a dot product of the 0/1 arrays (whole numbers, exact), without
    # selecting each arm's events (33 ms a model at a million patients).
    treated = int(np.count_nonzero(tacrolimus == 1.0))
    events = float(np.sum(e))
    if treated == len(tacrolimus) or treated == 0 or events == 0:
        return AdjustedHazard(NAN, (NAN, NAN), NAN, method, "no events, or one arm only")
    # An arm without events makes the likelihood rise for ever: the hazard ratio is 0 or infinite.
    events_treated = float(e @ (tacrolimus == 1.0))
    eventless = [name for count, name in ((events_treated, "tacrolimus"), (events - events_treated, "control")) if count == 0]
    if eventless:
        return AdjustedHazard(NAN, (NAN, NAN), NAN, method, f"no events in the {eventless[0]} arm")
    return None


def _answer(hr: float, ci: tuple[float, float], p: float, method: str) -> AdjustedHazard:
    """A fitted hazard ratio, or the reason it is not an estimate (infinite, or the fit ran away)."""
    if not all(math.isfinite(v) for v in (hr, *ci, p)) or hr <= 0 or abs(math.log(hr)) > LOG_HR_LIMIT:
        return AdjustedHazard(NAN, (NAN, NAN), NAN, method, "in this selection the likelihood has no maximum (the arms' "
                                                            "events do not overlap in time), so the ratio runs to 0 or "
                                                            "infinity")
    return AdjustedHazard(hr, ci, p, method)


def _cox(t: np.ndarray, e: np.ndarray, x: np.ndarray, weights: np.ndarray | None, robust: bool,
         method: str, order: np.ndarray | None = None) -> AdjustedHazard:
    """Hazard ratio of the first column of `x` (the arm, 1/0) from a Cox model of time t and event
    e (1/0), Efron ties, fitted by `analysis.cox` (R's coxph likelihood and variance, vectorised).
    Rows with a missing value (in t, x or the weights) are left out, as R's na.omit. `order`:
    `cox.time_order(t)`, when already found (used when no row is left out)."""
    known = ~np.isnan(t) & ~np.isnan(x).any(axis=1)
    if weights is not None:
        known &= ~np.isnan(weights)
    if not known.all():
        t, e, x = t[known], e[known], x[known]
        weights = weights[known] if weights is not None else None
        order = None
    refused = _not_estimable(e, x[:, 0], method)
    if refused:
        return refused
    with np.errstate(all="ignore"):
        try:
            fit = cox.fit(t, e, x, weights, robust=robust, order=order)
        except (np.linalg.LinAlgError, ValueError, OverflowError, ZeroDivisionError):
            return AdjustedHazard(NAN, (NAN, NAN), NAN, method, "the model does not converge for this selection")
    log_hr = float(fit.coefficients[0])
    if not math.isfinite(log_hr) or abs(log_hr) > LOG_HR_LIMIT:  # climbing towards 0 or infinity
        return _answer(NAN, (NAN, NAN), NAN, method)
    if not fit.converged:
        return AdjustedHazard(NAN, (NAN, NAN), NAN, method, "the model does not converge for this selection")
    try:
        hr, ci, p = fit.hazard_ratio()
    except (OverflowError, ValueError):  # a standard error without bound
        return _answer(NAN, (NAN, NAN), NAN, method)
    return _answer(hr, ci, p, method)


def _outcome(patients: pd.DataFrame, duration: str, event: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time (NaN: not known), event (1/0, unknown = censored) and arm (tacrolimus 1/0) per patient."""
    return (pd.to_numeric(patients[duration], errors="coerce").to_numpy(float, na_value=np.nan),
            patients[event].astype("boolean").fillna(False).to_numpy(float),
            (patients["arm"] == ARM_TACROLIMUS).to_numpy(float, na_value=0.0))


def weighted_cox(patients: pd.DataFrame, duration: str, event: str, weights: pd.Series) -> AdjustedHazard:
    """Hazard ratio of tacrolimus from a Cox model weighted by `weights`, with the robust sandwich
    variance, Efron ties: R's `coxph(…, weights = w, robust = TRUE)`, computed by `analysis.cox`
    (vectorised; lifelines' robust variance is a loop over patients and differs from R's for tied
    times — see that module)."""
    return _weighted_cox(*_outcome(patients, duration, event), weights.reindex(patients.index).to_numpy(float))


def multivariable_cox(patients: pd.DataFrame, duration: str, event: str, x: pd.DataFrame | None = None) -> AdjustedHazard:
    """Hazard ratio of tacrolimus from a Cox model with the arm and the propensity covariates that
    vary in the selection (Efron ties; R: `coxph(Surv(t, e) ~ tacrolimus + …)`), by `analysis.cox`,
    as the weighted model: one implementation for the page (the relapse model of 100,000 patients:
    lifelines 0.33 s, this 0.12 s). `x`: covariates of these patients or more (same index), when
    already computed."""
    if x is None:
        x = covariates(patients)
    elif not x.index.equals(patients.index):
        x = x.loc[patients.index]
    return _multivariable_cox(*_outcome(patients, duration, event), x)


def _weighted_cox(t: np.ndarray, e: np.ndarray, arm: np.ndarray, weights: np.ndarray,
                  order: np.ndarray | None = None) -> AdjustedHazard:
    """`weighted_cox` of an outcome as `_outcome` gives it and the weights of the same rows
    (`order`: `cox.time_order(t)`, when found already)."""
    return _cox(t, e, arm[:, None], weights, True, WEIGHTED_COX, order)


def _multivariable_cox(t: np.ndarray, e: np.ndarray, arm: np.ndarray, x: pd.DataFrame,
                       order: np.ndarray | None = None) -> AdjustedHazard:
    """`multivariable_cox` of an outcome as `_outcome` gives it and the covariates of the same
    rows (`order` as `_weighted_cox`'s)."""
    used = varying(x)
    return _cox(t, e, _columns(arm, x, used), None, False, MULTIVARIABLE_COX, order)


def weighted_km(durations: pd.Series, events: pd.Series, weights: pd.Series) -> pd.DataFrame:
    """Kaplan–Meier estimate with case weights (`survival.km_steps`, lifelines' formulas; R:
    `survfit(…, weights = w)`): time and survival, one row per distinct time from 0."""
    d = np.asarray(pd.to_numeric(durations, errors="coerce"), float)
    e = np.asarray(events, bool)
    w = np.asarray(weights, float)
    ok = ~(np.isnan(d) | np.isnan(w))
    if not ok.any():
        return pd.DataFrame({"time": [], "survival": []})
    steps = km_steps(d[ok], e[ok], w[ok])
    return pd.DataFrame({"time": steps.time, "survival": steps.survival})


def _weighted_curves(t: np.ndarray, e: np.ndarray, in_arm: dict[str, np.ndarray], weights: np.ndarray) -> dict[str, pd.DataFrame]:
    """`weighted_km` of each arm (in the arms' alphabetical order) of the rows with a time: t and
    e as `_outcome` gives them, `in_arm` each arm's rows as a mask (a patient of neither arm is in
    neither curve)."""
    known = ~np.isnan(t)
    masks = {a: known & in_arm[a] for a in sorted(ARMS)}
    return {a: weighted_km(t[m], e[m].astype(bool), weights[m]) for a, m in masks.items() if m.any()}


@dataclass(frozen=True)
class Adjusted:
    """The adjusted comparison of one selection: the propensity model, the weights, balance,
    weighted response rates, IPTW and multivariable Cox for relapse-free survival and steroid
    discontinuation, weighted RFS curves per arm and E-values. `reason` says why there is none."""

    model: Propensity
    weights: Weights | None
    balance: pd.DataFrame
    orr: WeightedRates | None
    crr: WeightedRates | None
    rfs: AdjustedHazard | None
    rfs_multivariable: AdjustedHazard | None
    steroid_stop: AdjustedHazard | None
    steroid_stop_multivariable: AdjustedHazard | None
    rfs_curves: dict
    e_values: dict
    steroid_curves: dict  # weighted Kaplan–Meier of staying on steroids, per arm
    estimand: str = ATE
    reason: str = ""


def adjusted(patients: pd.DataFrame, estimand: str = ATE, truncate: bool = False) -> Adjusted:
    """Every adjusted number for a selection of patients (see the module's description)."""
    x = covariates(patients)
    model = propensity(patients, x)
    if model.reason:
        return Adjusted(model, None, pd.DataFrame(), None, None, None, None, None, None, {}, {}, {}, estimand,
                        model.reason)
    treated = patients["arm"] == ARM_TACROLIMUS
    w = iptw(model.scores, treated, estimand, truncate)
    known = patients["responded"].notna()
    responded = patients.loc[known, "responded"].astype(float)
    complete = patients.loc[known, "complete_response"].astype(float)
    orr = weighted_rates(responded, treated[known], w.weights[known])
    crr = weighted_rates(complete, treated[known], w.weights[known])
    # Each outcome's rows as positions in the selection, its time, event and arm as arrays, and
    # the weights and covariates taken by position (a look-up of the patients' ids cost 5 ms a
    # subset at 100,000 patients, and each model took its own).
    weights = w.weights.to_numpy(float)
    rfs_rows = np.flatnonzero(patients["responded"].astype("boolean").fillna(False).to_numpy(bool))
    stop_rows = np.flatnonzero(patients["steroid_stopped"].notna().to_numpy(bool))
    # Each arm's patients as a mask, compared once (on the Categorical's codes, not 1 M names).
    in_arm = {a: (patients["arm"] == a).to_numpy(bool, na_value=False) for a in ARMS}
    models = {}
    for name, rows, duration, event in (("rfs", rfs_rows, "rfs_months", "relapsed"),
                                        ("stop", stop_rows, "steroid_stop_months", "steroid_stopped")):
        t, e, arm = (values[rows] for values in _outcome(patients, duration, event))
        order = cox.time_order(t)  # both models of the outcome sort its times once
        models[name] = (_weighted_cox(t, e, arm, weights[rows], order), _multivariable_cox(t, e, arm, x.take(rows), order),
                        _weighted_curves(t, e, {a: m[rows] for a, m in in_arm.items()}, weights[rows]))
    (rfs, rfs_mv, curves), (stop, stop_mv, on_steroids) = models["rfs"], models["stop"]
    closest = lambda est, ci: ci[1] if est < 1 else ci[0]  # noqa: E731  the limit nearer to 1
    e = {}
    for name, h in (("rfs", rfs), ("steroid_stop", stop)):
        if not h.reason:
            e[name] = e_value(h.hazard_ratio, closest(h.hazard_ratio, h.ci), ratio="HR")
    for name, r in (("orr", orr), ("crr", crr)):
        if not r.reason and math.isfinite(r.odds_ratio):
            e[name] = e_value(r.odds_ratio, closest(r.odds_ratio, r.odds_ratio_ci), ratio="OR")
    return Adjusted(model, w, balance(patients, w.weights, x), orr, crr, rfs, rfs_mv, stop, stop_mv, curves, e,
                    on_steroids, estimand)


def estimate_rows(orr, crr, rfs, steroid_stop, a: Adjusted) -> list[dict]:
    """The rows of the crude-vs-adjusted figure: for response the odds ratio (crude from the 2 × 2
    table, IPTW-weighted), for relapse and steroid discontinuation the hazard ratio (crude Cox,
    IPTW-weighted Cox, multivariable Cox). `orr`, `crr`: crude `Comparison`s; `rfs`,
    `steroid_stop`: crude `ArmComparison`s."""
    rows = []
    for name, crude, weighted in (("ORR", orr, a.orr), ("CRR", crr, a.crr)):
        rows.append(dict(endpoint=name, method="crude", estimate=crude.odds_ratio, low=crude.odds_ratio_ci[0],
                         high=crude.odds_ratio_ci[1], reason=crude.odds_ratio_reason or crude.reason))
        rows.append(dict(endpoint=name, method="IPTW", estimate=weighted.odds_ratio if weighted else NAN,
                         low=weighted.odds_ratio_ci[0] if weighted else NAN,
                         high=weighted.odds_ratio_ci[1] if weighted else NAN,
                         reason=(weighted.reason if weighted else a.reason)))
    for name, crude, weighted, mv in (("Relapse (RFS)", rfs, a.rfs, a.rfs_multivariable),
                                      ("Steroid stop", steroid_stop, a.steroid_stop, a.steroid_stop_multivariable)):
        h = crude.hazard
        rows.append(dict(endpoint=name, method="crude", estimate=h.hazard_ratio, low=h.ci[0], high=h.ci[1],
                         reason=h.reason))
        for method, est in (("IPTW", weighted), ("multivariable", mv)):
            rows.append(dict(endpoint=name, method=method, estimate=est.hazard_ratio if est else NAN,
                             low=est.ci[0] if est else NAN, high=est.ci[1] if est else NAN,
                             reason=(est.reason if est else a.reason)))
    return rows
