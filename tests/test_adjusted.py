"""The adjusted comparison's parts on their own: covariates, the propensity model's refusals,
IPTW (ATE, ATT, truncation, effective sample size), balance, weighted rates, E-values. R checks
the estimates in tests/test_r_oracle.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis import synth
from analysis.adjusted import ATT, adjusted, balance, covariates, e_value, iptw, propensity, varying, weighted_rates
from analysis.cohort import from_frames
from analysis.filters import Filters
from analysis.schema import ARM_TACROLIMUS


def test_missing_baselines_enter_with_an_indicator_and_aliased_columns_go(shipped):
    x = covariates(shipped.endpoints)
    assert not x.isna().any().any()
    aiha = shipped.endpoints["diagnosis"] == "AIHA"
    assert (x.loc[aiha, "baseline_plt_missing"] == 1).all()
    used = varying(x)
    # "platelets not measured" is the AIHA indicator in the shipped cohort: only one of them stays.
    assert not {"diagnosis_AIHA", "baseline_plt_missing"} <= set(used)


def test_weighting_balances_the_shipped_cohort(shipped):
    p = shipped.endpoints
    model = propensity(p)
    assert not model.reason and model.scores.between(0, 1).all()
    w = iptw(model.scores, p["arm"] == "tacrolimus")
    table = balance(p, w.weights).set_index("covariate").loc[list(model.used)]
    # The confounders the generator builds in (analysis/synth.py: tacrolimus to the younger and to
    # lower platelet counts) are clearly imbalanced before and balanced after; no covariate is left
    # far off (the 0-filled Hb, measured in AIHA and Evans only, keeps about 0.11, which the page says).
    assert (table.loc[["age", "baseline_plt"], "smd_before"].abs() > 0.3).all(), table
    assert (table.loc[["age", "baseline_plt"], "smd_after"].abs() < 0.1).all(), table
    assert (table["smd_after"].abs() < 0.15).all(), table
    assert table["smd_after"].abs().sum() < table["smd_before"].abs().sum() / 3
    n = (p["arm"] == "tacrolimus").sum()
    assert 0.5 * n < w.effective_n["tacrolimus"] <= n


def test_att_weights_and_truncation():
    scores = pd.Series([0.2, 0.4, 0.6, 0.3, 0.5, 0.9])
    treated = pd.Series([True, True, True, False, False, False])
    att = iptw(scores, treated, estimand=ATT)
    assert (att.weights[treated] == 1).all()
    assert att.weights[~treated].sum() == pytest.approx(3.0)  # controls weighted to their number
    odds = scores[~treated] / (1 - scores[~treated])
    assert np.allclose(att.weights[~treated], 3 * odds / odds.sum())
    cut = iptw(scores, treated, truncate=True)
    lo, hi = cut.truncated
    assert cut.weights.min() >= lo - 1e-12 and cut.weights.max() <= hi + 1e-12
    with pytest.raises(ValueError, match="ATE or ATT"):
        iptw(scores, treated, estimand="ATC")


def test_a_selection_with_one_arm_gets_a_reason(shipped):
    one_arm = shipped.endpoints[shipped.endpoints["arm"] == "control"]
    model = propensity(one_arm)
    assert model.reason and model.scores.isna().all()
    tiny = Filters(diagnosis=("ES",), sex=("M",)).apply(shipped.endpoints)  # 3 vs 1 patients
    assert propensity(tiny).reason  # separated or too few: a sentence, not a number


def test_weighted_rates_without_weights_are_the_crude_rates():
    y = pd.Series([1, 1, 0, 1, 0, 0, 0, 1.0])
    t = pd.Series([True, True, True, True, False, False, False, False])
    r = weighted_rates(y, t, pd.Series(np.ones(8)))
    assert (r.rate_a, r.rate_b) == (0.75, 0.25)
    assert r.difference == pytest.approx(0.5) and r.odds_ratio == pytest.approx(9.0)
    assert r.difference_ci[0] < 0.5 < r.difference_ci[1]


@pytest.mark.parametrize("seed", range(4))
def test_weighted_rates_equal_statsmodels_weighted_linear_and_logistic_models(seed):
    """The closed forms of weighted_rates against the models they solve, fitted by statsmodels:
    WLS and a binomial GLM with the arm as the covariate, HC0 sandwich × n / (n − 1)."""
    import statsmodels.api as sm

    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, 3000))
    t = rng.random(n) < rng.uniform(0.2, 0.8)
    y = (rng.random(n) < np.where(t, rng.uniform(0.2, 0.9), rng.uniform(0.1, 0.8))).astype(float)
    y[rng.random(n) < 0.05] = np.nan  # unknown outcomes are left out
    w = rng.gamma(2.0, 1.0, n)
    ours = weighted_rates(pd.Series(y), pd.Series(t), pd.Series(w))
    ok = ~np.isnan(y)
    x = sm.add_constant(t[ok].astype(float))
    scale = ok.sum() / (ok.sum() - 1)
    lin = sm.WLS(y[ok], x, weights=w[ok]).fit(cov_type="HC0")
    logit = sm.GLM(y[ok], x, family=sm.families.Binomial(), var_weights=w[ok]).fit(cov_type="HC0")
    z = 1.959963984540054
    se_d, se_b = math.sqrt(lin.cov_params()[1, 1] * scale), math.sqrt(logit.cov_params()[1, 1] * scale)
    np.testing.assert_allclose([ours.difference, ours.difference_ci[1] - ours.difference],
                               [lin.params[1], z * se_d], rtol=1e-9)
    np.testing.assert_allclose([math.log(ours.odds_ratio), math.log(ours.odds_ratio_ci[1] / ours.odds_ratio)],
                               [logit.params[1], z * se_b], rtol=1e-7)
    np.testing.assert_allclose([ours.rate_a, ours.rate_b], lin.params[0] + np.array([lin.params[1], 0.0]), rtol=1e-9)


def test_e_values_as_vanderweele_and_ding_give_them():
    # Their worked example: RR 3.9 (CI 1.8–8.7) gives E-values 7.26 and 3.00.
    point, limit = e_value(3.9, 1.8, common=False)
    assert (round(point, 2), round(limit, 2)) == (7.26, 3.00)
    assert e_value(0.8, 1.1, common=False)[1] == 1.0  # the interval holds 1
    hr = e_value(0.3, 0.5, ratio="HR")[0]  # common outcome: HR → RR by the square-root rule
    rr = (1 - 0.5 ** math.sqrt(0.3)) / (1 - 0.5 ** math.sqrt(1 / 0.3))
    assert hr == pytest.approx(1 / rr + math.sqrt(1 / rr * (1 / rr - 1)))
    assert all(math.isnan(v) for v in e_value(float("nan")))


def test_the_estimand_and_truncation_are_choices_kept_per_selection(shipped):
    from analysis.results import compute

    r = compute(shipped, Filters())
    ate, att, cut = r.adjusted_as(), r.adjusted_as("ATT"), r.adjusted_as("ATE", truncate=True)
    assert ate is r.adjusted and r.adjusted_as("ATT") is att  # each computed once
    assert att.estimand == "ATT" and (att.weights.weights[r.patients["arm"] == "tacrolimus"] == 1).all()
    assert cut.weights.truncated is not None and att.rfs.hazard_ratio != ate.rfs.hazard_ratio


def test_the_page_follows_the_estimand_switch_from_the_url():
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from views import view

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=90)
    at.query_params["estimand"] = "ATT"
    at.run()
    at.switch_page(str(view("adjusted").path)).run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "average treatment effect in the treated (ATT)" in captions


def test_iptw_recovers_the_true_marginal_effect_where_the_crude_comparison_does_not():
    """On a 50,000-patient synthetic cohort with confounding by indication (analysis/synth.py), the
    truth is known: every patient's best response under either arm (`potential_levels`, the same
    random draw under both). The crude risk difference of the derived endpoints misses the true
    average effect by more than its 95% CI; the IPTW (ATE) estimate's 95% CI holds it."""
    gen = synth.generate(50_000, seed=4242)
    truth_frame = gen.latent.set_index("patient_id")
    c = from_frames(gen.tables)
    e = c.endpoints.set_index("patient_id")
    t = truth_frame.loc[e.index]
    a = adjusted(e)
    treated = e["arm"] == ARM_TACROLIMUS
    for name, level, weighted in (("ORR", 1, a.orr), ("CRR", 2, a.crr)):
        truth = float(((t["true_level_tacrolimus"] >= level).astype(float)
                       - (t["true_level_control"] >= level).astype(float)).mean())
        outcome = e["responded" if level == 1 else "complete_response"].astype(float)
        crude = weighted_rates(outcome, treated, pd.Series(1.0, index=e.index))
        lo, hi = weighted.difference_ci
        assert lo <= truth <= hi, (name, truth, weighted.difference, weighted.difference_ci)
        clo, chi = crude.difference_ci
        assert not (clo <= truth <= chi), (name, truth, crude.difference, crude.difference_ci)
        print(f"{name}: truth {truth:.4f}, crude {crude.difference:.4f} ({clo:.4f} to {chi:.4f}), "
              f"IPTW {weighted.difference:.4f} ({lo:.4f} to {hi:.4f})")


def test_weighted_cox_says_why_when_an_arm_has_no_events():
    from analysis.adjusted import weighted_cox

    p = pd.DataFrame({"arm": ["tacrolimus"] * 5 + ["control"] * 5, "t": [1, 2, 3, 4, 5] * 2,
                      "e": [0, 0, 0, 0, 0, 1, 1, 0, 1, 0]})
    h = weighted_cox(p, "t", "e", pd.Series(np.ones(10)))
    assert math.isnan(h.hazard_ratio) and h.reason == "no events in the tacrolimus arm"
    p["e"] = [1, 0, 1, 0, 1, 0, 1, 1, 0, 0]
    h = weighted_cox(p, "t", "e", pd.Series(np.linspace(0.5, 2.0, 10)))
    assert not h.reason and h.ci[0] < h.hazard_ratio < h.ci[1]


def test_a_ratio_that_runs_to_infinity_is_refused_with_a_reason():
    """Every control event comes after the last tacrolimus patient has left follow-up: the
    likelihood rises for ever (R's coxph: "coefficient may be infinite"). No number, a reason, and
    the Markdown report shows no nan."""
    from analysis.adjusted import multivariable_cox, weighted_cox

    p = pd.DataFrame({"arm": ["tacrolimus"] * 4 + ["control"] * 4, "t": [1, 2, 3, 4, 5, 6, 7, 8.0],
                      "e": [1, 0, 1, 0, 1, 1, 0, 1], "age": [30, 40, 50, 60] * 2, "sex": ["F", "M"] * 4,
                      "diagnosis": ["ITP"] * 8, "baseline_plt": [10.0] * 8, "baseline_hgb": [None] * 8})
    for h in (weighted_cox(p, "t", "e", pd.Series(np.ones(8))), multivariable_cox(p, "t", "e")):
        assert math.isnan(h.hazard_ratio) and "no maximum" in h.reason


def test_the_adjusted_markdown_of_a_small_selection_shows_no_raw_values(shipped):
    import re

    from analysis.report import build, markdown

    for f in (Filters(diagnosis=("ITP",), sex=("M",), age_min=60), Filters(diagnosis=("ES",)),
              Filters(diagnosis=("AIHA",), sex=("M",))):
        text = markdown(build(shipped, f))
        assert not re.search(r"(?<![\w.])(nan|inf|None)(?![\w])", text), (f, text[-1500:])


@pytest.mark.parametrize("block", [1, 7, 100])
def test_cox_sums_taken_in_blocks_give_the_same_fit(monkeypatch, block):
    """`cox._Times` sums over the patients a block of whole runs at a time; blocks of one run,
    of a few and of every patient must give one fit (ties across block edges included)."""
    from analysis import cox

    rng = np.random.default_rng(8)
    n = 600
    t = rng.integers(1, 40, n).astype(float)  # many ties: runs of equal times
    e = (rng.random(n) < 0.6).astype(float)
    x = np.c_[rng.random(n) < 0.5, rng.normal(50, 10, n), rng.random(n) < 0.3]
    w = rng.gamma(2.0, 1.0, n)
    whole = cox.fit(t, e, x, w, robust=True)
    monkeypatch.setattr(cox, "BLOCK", block)
    blocked = cox.fit(t, e, x, w, robust=True)
    assert len(cox._Times(t, e, w, x).blocks) > 1
    np.testing.assert_allclose(blocked.coefficients, whole.coefficients, rtol=1e-12)
    np.testing.assert_allclose(blocked.variance, whole.variance, rtol=1e-11)
    assert blocked.log_likelihood == pytest.approx(whole.log_likelihood, rel=1e-14)


def test_a_covariate_constant_in_the_selection_has_no_smd(shipped):
    """With AIHA alone selected, the AIHA indicator is 1 for everyone: no SMD before or after
    weighting (a weighted mean that came out a trace off 1 would give a number here)."""
    p = Filters(diagnosis=("AIHA",)).apply(shipped.endpoints)
    model = propensity(p)
    w = iptw(model.scores, p["arm"] == "tacrolimus")
    row = balance(p, w.weights).set_index("covariate").loc["diagnosis_AIHA"]
    assert math.isnan(row["smd_before"]) and math.isnan(row["smd_after"])


@pytest.mark.parametrize("weighted", [False, True])
def test_cox_of_one_yes_no_covariate_on_groups_equals_the_fit_on_patients(weighted):
    """A single 0/1 covariate is fitted on groups of patients (`cox._cells`); the same covariate
    coded 0/2 takes the row-by-row path: β halves, its variances quarter, the likelihood stays."""
    from analysis import cox

    rng = np.random.default_rng(9)
    n = 3000
    x = (rng.random(n) < 0.45).astype(float)
    t = np.round(rng.exponential(1 / np.exp(0.6 * x)) * 20) + 1
    e = (rng.random(n) < 0.65).astype(float)
    w = rng.gamma(2.0, 0.5, n) if weighted else None
    grouped = cox.fit(t, e, x, w, robust=True)
    rows = cox.fit(t, e, 2 * x, w, robust=True)
    assert len(cox._cells(t, e, x, np.ones(n), None).time) < n / 10  # groups, not patients
    assert grouped.coefficients[0] == pytest.approx(2 * rows.coefficients[0], rel=1e-10)
    assert grouped.variance[0, 0] == pytest.approx(4 * rows.variance[0, 0], rel=1e-9)
    assert grouped.log_likelihood == pytest.approx(rows.log_likelihood, rel=1e-12)
