"""Survival helpers without R: our Cox against lifelines' on tied data, R's median rule, empty
and tiny groups."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter

from analysis.survival import compare_arms, cox_hazard_ratio, kaplan_meier, km_steps, quantile_time, subgroup_hazard_ratios


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cox_matches_lifelines_on_heavily_tied_data(seed):
    rng = np.random.default_rng(seed)
    n = 400
    x = rng.random(n) < 0.45
    t = np.ceil(rng.exponential(np.where(x, 20, 10)))  # whole months: many ties
    e = rng.random(n) < 0.7
    ours = cox_hazard_ratio(t, e, x)
    cph = CoxPHFitter().fit(pd.DataFrame({"t": t, "e": e.astype(int), "x": x.astype(int)}), "t", "e",
                            fit_options={"precision": 1e-12})
    s = cph.summary.loc["x"]
    np.testing.assert_allclose([ours.hazard_ratio, *ours.ci],
                               [s["exp(coef)"], s["exp(coef) lower 95%"], s["exp(coef) upper 95%"]], rtol=1e-6)
    # p-values near 1e-9 magnify the last digits of z; an absolute tolerance suits them.
    assert ours.p_value == pytest.approx(s["p"], rel=1e-5, abs=1e-12)


def test_quantile_time_rules():
    t = np.array([0, 1, 2, 3, 4.0])
    assert quantile_time(t, np.array([1, 0.8, 0.5, 0.5, 0.2])) == 3.0  # flat at 0.5 from 2: midpoint of 2 and 4
    assert quantile_time(t, np.array([1, 0.9, 0.7, 0.6, 0.55])) != quantile_time(t, np.array([1, 0.9, 0.7, 0.6, 0.4]))
    assert math.isnan(quantile_time(t, np.array([1, 0.9, 0.7, 0.6, 0.55])))  # not reached
    assert quantile_time(t, np.array([1, 0.9, 0.4, 0.3, 0.2])) == 2.0


def test_number_at_risk():
    """At risk at t: durations ≥ t (an event exactly at t still counts), 0 after the last time."""
    curve = kaplan_meier(pd.Series([1, 2, 6, 6, 13]), pd.Series([1, 0, 1, 1, 0]))
    assert curve.at_risk_at((0, 6, 12, 13, 14)) == [5, 3, 1, 1, 0]


def test_empty_and_single_arm():
    empty = kaplan_meier(pd.Series([], dtype=float), pd.Series([], dtype=bool))
    assert empty.n == 0 and empty.reason == "no patients" and math.isnan(empty.median)
    df = pd.DataFrame({"arm": ["tacrolimus"] * 3, "m": [1.0, 2.0, 3.0], "ev": [True, False, True]})
    res = compare_arms(df, "m", "ev")
    assert res.logrank.reason == "no patients in the control arm" and math.isnan(res.hazard.hazard_ratio)
    assert res.curves["control"].n == 0


def test_no_events_in_one_arm_gives_a_reason():
    hr = cox_hazard_ratio([1, 2, 3, 4], [True, True, False, False], [True, True, False, False])
    assert math.isnan(hr.hazard_ratio) and "no events in the control arm" in hr.reason


def test_a_logrank_test_without_information_says_so():
    """Everyone has the event at the same time: lifelines reports χ² 0 and p 1, R's survdiff
    stops (the variance is 0). Neither is evidence that the arms are alike: NaN and a reason."""
    from analysis.survival import logrank

    res = logrank([1.0, 1, 1], [True, True, True], [1.0, 1], [True, True])
    assert math.isnan(res.p_value) and "no information" in res.reason
    ok = logrank([2.0, 3, 4, 5], [1, 1, 0, 1], [1.0, 2, 6, 7], [1, 1, 1, 0])
    assert ok.reason == "" and ok.statistic == pytest.approx(0.1603149, rel=1e-6)  # R's survdiff


@pytest.mark.parametrize("seed", range(6))
def test_km_steps_equal_lifelines(seed):
    """km_steps against lifelines' KaplanMeierFitter: the same times, counts at risk, survival and
    exponential Greenwood limits, on tied, zero and censored durations, with and without weights
    (with weights, where lifelines' curve has not ended: see the R test of weighted curves)."""
    import warnings

    rng = np.random.default_rng(seed)
    for n in (1, 2, 17, 250, 3000):
        time = np.round(rng.exponential(10, n), seed % 3)
        time[: n // 5] = 0.0 if seed % 2 else time[: n // 5]
        event = rng.random(n) < rng.uniform(0.1, 0.9)
        for weights in (None, rng.gamma(2.0, 1.0, n)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # lifelines warns about non-integer weights
                theirs = KaplanMeierFitter().fit(time, event, weights=weights)
            ours = km_steps(time, event, weights)
            table = theirs.event_table
            np.testing.assert_array_equal(ours.time, table.index.to_numpy(float))
            # lifelines subtracts from the total what left before: rounding of the order of the total × ε
            np.testing.assert_allclose(ours.at_risk, table["at_risk"].to_numpy(float), rtol=1e-12,
                                       atol=1e-13 * ours.at_risk[0])
            np.testing.assert_allclose(ours.events, table["observed"].to_numpy(float), rtol=1e-12)
            survival = theirs.survival_function_.iloc[:, 0].reindex(table.index).to_numpy()
            ended = ours.survival <= 0
            np.testing.assert_allclose(ours.survival[~ended], survival[~ended], rtol=1e-10, atol=1e-15)
            if weights is None:
                low, high = ours.ci()
                limits = theirs.confidence_interval_.reindex(table.index).to_numpy()
                defined = (ours.survival < 1) & ~ended
                np.testing.assert_allclose(low[defined], limits[defined, 0], rtol=1e-12)
                np.testing.assert_allclose(high[defined], limits[defined, 1], rtol=1e-12)
                assert np.isnan(low[~defined]).all() and np.isnan(high[~defined]).all()


@pytest.mark.parametrize("seed", [3, 4])
def test_each_subgroup_row_is_its_own_fit(seed):
    """The forest's rows share one ranking of the times; each must equal a separate Cox fit of
    that subgroup's patients, with missing durations, events, ages and levels about."""
    rng = np.random.default_rng(seed)
    n = 3000
    df = pd.DataFrame({
        "arm": rng.choice(["tacrolimus", "control"], n),
        "months": rng.integers(1, 40, n).astype(float),
        "relapsed": pd.array(rng.random(n) < 0.4, dtype="boolean"),
        "diagnosis": pd.Categorical(rng.choice(["ITP", "AIHA", "ES"], n, p=[0.6, 0.38, 0.02])),
        "sex": rng.choice(["M", "F", None], n, p=[0.45, 0.5, 0.05]),
        "age": rng.integers(18, 90, n).astype(float),
    })
    df.loc[rng.random(n) < 0.05, "months"] = np.nan
    df.loc[rng.random(n) < 0.05, "relapsed"] = pd.NA
    df.loc[rng.random(n) < 0.05, "age"] = np.nan
    df.loc[df.index[:5], "age"] = 250.0  # in no age band
    sg = subgroup_hazard_ratios(df, "months", "relapsed")
    masks = {"All": np.ones(n, bool), "ITP": df["diagnosis"].eq("ITP"), "AIHA": df["diagnosis"].eq("AIHA"),
             "ES": df["diagnosis"].eq("ES"), "M": df["sex"].eq("M"), "F": df["sex"].eq("F"),
             "<40": df["age"] < 40, "40–59": (df["age"] >= 40) & (df["age"] < 60), "≥60": (df["age"] >= 60) & (df["age"] < 200)}
    assert sg["level"].tolist() == list(masks)
    for row in sg.itertuples():
        part = df[np.asarray(masks[row.level], bool) & df["months"].notna().to_numpy()]
        tac = part["arm"].eq("tacrolimus").to_numpy()
        ev = part["relapsed"].fillna(False).to_numpy(bool)
        hr = cox_hazard_ratio(part["months"], ev, tac)
        assert (row.n_tacrolimus, row.n_control) == (tac.sum(), (~tac).sum())
        assert (row.events_tacrolimus, row.events_control) == (ev[tac].sum(), ev[~tac].sum())
        assert row.reason == hr.reason
        if hr.reason:
            assert math.isnan(row.hazard_ratio)
        else:
            assert (row.hazard_ratio, row.ci_low, row.ci_high, row.p_value) == (hr.hazard_ratio, *hr.ci, hr.p_value)
