"""Proportions, Table 1, steroid exposure and safety on small hand-made data with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.baseline import smd_categorical, smd_continuous, table1
from analysis.cohort import from_frames
from analysis.filters import Filters
from analysis.proportions import CHI2, FISHER, choose_test, compare, proportion
from analysis.safety import by_term
from analysis.steroids import daily_dose_by_arm, steroids
from conftest import frames, patient


def test_newcombe_interval_is_built_from_the_two_wilson_intervals():
    c = compare(30, 50, 20, 60)
    p1, (l1, u1) = 30 / 50, proportion(30, 50).ci
    p2, (l2, u2) = 20 / 60, proportion(20, 60).ci
    d = p1 - p2
    assert c.difference == pytest.approx(d)
    assert c.difference_ci[0] == pytest.approx(d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2))
    assert c.difference_ci[1] == pytest.approx(d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def test_test_choice_follows_expected_counts():
    assert choose_test(np.array([[3, 7], [8, 2]])) == FISHER
    assert choose_test(np.array([[30, 70], [80, 20]])) == CHI2


def test_empty_arm_and_no_events_have_reasons():
    assert compare(0, 0, 3, 10).reason == "the tacrolimus arm has no patients"
    none = compare(0, 10, 0, 12, what="relapses")
    assert math.isnan(none.p_value) and none.reason == "no relapses in either arm"


def test_smd():
    a = pd.Series(["M", "F", "F", "F"])
    b = pd.Series(["M", "M", "F", "F"])
    p, q = 0.25, 0.5  # share of M
    binary = abs(p - q) / math.sqrt((p * (1 - p) + q * (1 - q)) / 2)
    assert smd_categorical(a, b, ["F", "M"]) == pytest.approx(binary)
    assert smd_continuous(pd.Series([1.0, 2, 3]), pd.Series([1.0, 2, 3])) == 0


def test_table1_rows_and_tests(shipped):
    t = table1(shipped.endpoints)
    rows = t.set_index(["variable", "level"])
    assert rows.loc[("Patients, n", ""), ["tacrolimus", "control"]].tolist() == ["144", "174"]
    assert rows.loc[("Sex, n (%)", "M"), "test"] == CHI2
    assert rows.loc[("Age, years", "median [IQR]"), "test"] == "Mann–Whitney U test"
    assert t["smd"].dropna().ge(0).all()


def dose(pid, start, end, mg, drug="prednisone"):
    return {"patient_id": pid, "drug": drug, "start_date": start, "end_date": end, "daily_dose_mg": mg}


@pytest.fixture
def two_patients():
    pats = [patient("T1", arm="tacrolimus", start="2020-01-01", last="2020-12-31", best_response="CR"),
            patient("C1", arm="control", start="2020-01-01", last="2020-02-15", best_response="NR")]
    doses = [dose("T1", "2020-01-01", "2020-01-14", 60), dose("T1", "2020-01-15", "2020-01-28", 30),
             dose("C1", "2020-01-01", "2020-02-15", 40)]
    return from_frames(frames(pats, steroid_doses=doses))


def test_daily_dose_curve(two_patients):
    c = two_patients
    curve = daily_dose_by_arm(c.endpoints, c.steroid_segments).set_index(["arm", "day"])
    assert curve.loc[("tacrolimus", 0), "median"] == 60
    assert curve.loc[("tacrolimus", 14), "median"] == 30
    assert curve.loc[("tacrolimus", 28), "median"] == 0  # off steroids, still followed
    assert curve.loc[("control", 42), "median"] == 40
    assert curve.loc[("control", 49), "followed"] == 0 and math.isnan(curve.loc[("control", 49), "median"])


def test_steroid_free_share_is_one_minus_km(two_patients):
    res = steroids(two_patients.endpoints, two_patients.tables.tacrolimus)
    free = res.steroid_free.set_index(["arm", "months"])
    assert free.loc[("tacrolimus", 3.0), "share"] == 1.0  # stopped at day 28
    assert math.isnan(free.loc[("control", 3.0), "share"])  # followed 1.5 months only
    assert res.cumulative.a.median == 60 * 14 + 30 * 14


def test_adverse_events_by_term():
    pats = [patient("T1", arm="tacrolimus", best_response="CR"), patient("T2", arm="tacrolimus", best_response="CR"),
            patient("C1", best_response="CR")]
    ae = [{"patient_id": p, "onset_date": "2020-03-01", "term": t, "category": c, "grade": 1, "serious": False}
          for p, t, c in (("T1", "tremor", "tacrolimus"), ("T1", "tremor", "tacrolimus"), ("T2", "tremor", "tacrolimus"),
                          ("C1", "insomnia", "steroid"))]
    c = from_frames(frames(pats, adverse_events=ae))
    t = by_term(c.endpoints, c.tables.adverse_events).set_index("term")
    assert t.loc["tremor", ["tacrolimus_patients", "control_patients"]].tolist() == [2, 0]
    assert t.loc["tremor", "tacrolimus_rate"] == 1.0 and t.loc["insomnia", "control_rate"] == 1.0


def test_filters():
    e = pd.DataFrame({"diagnosis": ["ITP", "AIHA", "ES"], "sex": ["M", "F", "F"], "age": [20, 40, 60]})
    assert len(Filters(diagnosis=("ITP", "ES")).apply(e)) == 2
    assert len(Filters(sex=("F",), age_min=41).apply(e)) == 1
    with pytest.raises(ValueError, match="'TTP'"):
        Filters(diagnosis=("TTP",))
    with pytest.raises(ValueError, match="above age_max"):
        Filters(age_min=50, age_max=40)


def test_landmark_table_text():
    from analysis.format import landmark_table
    lm = pd.DataFrame({"arm": ["control", "tacrolimus"], "months": [12.0, 12.0], "survival": [0.61, 0.867],
                       "ci_low": [0.522, float("nan")], "ci_high": [0.687, float("nan")]})
    t = landmark_table(lm, "survival", "RFS at {months} months")
    assert list(t.index) == ["Tacrolimus + steroid", "Steroid alone"]
    assert t.loc["Steroid alone", "RFS at 12 months"] == "61.0% (52.2–68.7)"
    assert t.loc["Tacrolimus + steroid", "RFS at 12 months"] == "86.7%"


def test_export_config_names_view_and_filters():
    from analysis.plots import export_config
    cfg = export_config("rfs", Filters(diagnosis=("ITP",), age_min=30).describe())
    assert cfg["toImageButtonOptions"] == {"format": "png", "scale": 2, "filename": "rfs_ITP_age_30"}
    assert export_config("rfs", "all patients", "svg")["toImageButtonOptions"]["format"] == "svg"


def test_km_figure_at_risk_row_is_counted_at_its_own_ticks(shipped):
    """The numbers under the time axis are the counts at the ticks shown, for default ticks and
    for ticks a view sets (the time-to-response figure used to show the 6-month counts under 1)."""
    from analysis.plots import km
    from analysis.results import compute
    from analysis.survival import time_ticks

    ttr = compute(shipped, Filters()).response.time_to_response
    for ticks in (None, (0.0, 1.0, 2.0, 3.0, 6.0)):
        fig = km(ttr, "t", "y", cumulative=True, risk_times=ticks)
        shown = tuple(fig.layout.xaxis.tickvals)
        assert shown == (ticks or time_ticks(list(ttr.curves.values())))
        rows = [tr for tr in fig.data if tr.mode == "text"]
        for arm, row in zip(("tacrolimus", "control"), rows):
            assert tuple(row.x) == shown
            assert [int(t) for t in row.text] == ttr.curves[arm].at_risk_at(shown)
    fig = km(ttr, "t", "y", cumulative=True, risk_times=(0.0, 1.0, 2.0, 3.0, 6.0))
    # Counted here from the endpoints, independently of the curve: tacrolimus patients with a known
    # response still without one (or still followed) at 1 month.
    e = shipped.endpoints[(shipped.endpoints["arm"] == "tacrolimus") & shipped.endpoints["responded"].notna()]
    t = e["time_to_response_months"].where(e["responded"].astype(bool), e["follow_up_months"])
    assert [int(t) for t in [tr for tr in fig.data if tr.mode == "text"][0].text][1] == int((t >= 1.0).sum())
    assert max(time_ticks(list(ttr.curves.values()))) <= 12  # responses happen in the first months


@pytest.mark.parametrize("kind", ["ties", "no ties", "one value in one arm", "large", "shifted"])
def test_mann_whitney_normal_approximation_is_scipys(kind):
    """The p-value of the normal approximation, computed from `analysis.ranking`'s ranks, is
    scipy's mannwhitneyu(method="asymptotic") to 1e-12 (U itself to the bit)."""
    from scipy import stats as scipy_stats

    from analysis.continuous import _mann_whitney_normal_p, _ranked, mann_whitney_p

    rng = np.random.default_rng({"ties": 1, "no ties": 2, "one value in one arm": 3, "large": 4, "shifted": 5}[kind])
    if kind == "ties":
        x, y = rng.integers(0, 12, 300).astype(float), rng.integers(0, 14, 250).astype(float)
    elif kind == "no ties":
        x, y = rng.normal(size=80), rng.normal(0.3, size=70)
    elif kind == "one value in one arm":
        x, y = np.full(60, 4.0), rng.integers(0, 9, 90).astype(float)
    elif kind == "large":
        x, y = rng.integers(18, 90, 60_000).astype(float), rng.integers(18, 90, 40_000).astype(float)
    else:
        x, y = rng.integers(0, 400, 5_000) / 30.4375, rng.integers(40, 440, 4_000) / 30.4375
    expected = scipy_stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic", use_continuity=True).pvalue
    assert _mann_whitney_normal_p(len(x), len(y), *_ranked(x, y)[1:]) == pytest.approx(expected, rel=1e-12, abs=1e-300)
    if len(x) >= 50 or len(y) >= 50:  # the page's test takes this path for such groups
        assert mann_whitney_p(pd.Series(x), pd.Series(y))[0] == pytest.approx(expected, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_arms_summary_is_numpys(seed):
    """compare_values takes each arm's quartiles from the ranking both arms share; they, and the
    rest of each summary, must be numpy's own numbers for that arm alone."""
    from analysis.continuous import compare_values

    rng = np.random.default_rng(seed)
    a = pd.Series(np.r_[rng.integers(0, 40, 997) * 2.5, [np.nan, np.nan]])
    b = pd.Series(rng.lognormal(3, 1, 1200).round(1)).astype(object)
    b[5] = "not a number"
    g = compare_values(a, b)
    for summary, values in ((g.a, a.dropna().to_numpy(float)), (g.b, pd.to_numeric(b, errors="coerce").dropna().to_numpy(float))):
        q1, med, q3 = np.percentile(values, [25, 50, 75])
        assert (summary.n, summary.q1, summary.median, summary.q3) == (len(values), q1, med, q3)
        assert (summary.minimum, summary.maximum, summary.mean, summary.sd) == (values.min(), values.max(), values.mean(), np.std(values, ddof=1))
    x, y = a.dropna().to_numpy(float), pd.to_numeric(b, errors="coerce").dropna().to_numpy(float)
    from scipy import stats as scipy_stats
    assert g.p_value == pytest.approx(scipy_stats.mannwhitneyu(x, y, method="asymptotic").pvalue, rel=1e-12)


def test_adverse_events_by_term_counts_each_patient_once_per_term():
    """by_term on many events (repeats, events of patients outside the selection, a missing term)
    against a plain pandas count of distinct patients per term, category and arm."""
    rng = np.random.default_rng(5)
    pats = pd.DataFrame({"patient_id": [f"P{i}" for i in range(400)], "arm": rng.choice(["tacrolimus", "control"], 400)})
    terms = {"Tremor": "Neurological", "Insomnia": "Psychiatric", "Hyperglycaemia": "Metabolic", "Rash": "Skin"}
    term = rng.choice([*terms, None], 3000, p=[0.4, 0.3, 0.2, 0.09, 0.01])
    ae = pd.DataFrame({"patient_id": [f"P{i}" for i in rng.integers(0, 450, 3000)], "term": term,
                       "category": [terms.get(t) for t in term]})
    got = by_term(pats, ae).set_index("term")
    known = ae.dropna().merge(pats, on="patient_id").drop_duplicates(["patient_id", "term"])
    expected = known.groupby(["term", "arm"]).size().unstack(fill_value=0)
    assert sorted(got.index) == sorted(expected.index)
    for t in expected.index:
        assert got.loc[t, "tacrolimus_patients"] == expected.loc[t, "tacrolimus"]
        assert got.loc[t, "control_patients"] == expected.loc[t, "control"]
        assert got.loc[t, "category"] == terms[t]
        assert got.loc[t, "tacrolimus_rate"] == expected.loc[t, "tacrolimus"] / (pats["arm"] == "tacrolimus").sum()


@pytest.mark.parametrize("seed", [1, 2])
def test_summary_of_counts_is_numpys(seed):
    """Values ranked once and counted: quartiles, n, minimum and maximum numpy's to the bit, mean
    and SD to 1e-12; a NaN among the distinct values is not counted."""
    from analysis.continuous import summary_of_counts
    from analysis.ranking import distinct_values

    rng = np.random.default_rng(seed)
    values = np.round(rng.lognormal(2, 0.4, 20_000), 1)
    values[rng.random(20_000) < 0.05] = np.nan
    distinct, index = distinct_values(values, compact=True)
    chosen = rng.random(20_000) < 0.7
    s = summary_of_counts(distinct, np.bincount(index[chosen], minlength=len(distinct)))
    v = values[chosen & ~np.isnan(values)]
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    assert (s.n, s.q1, s.median, s.q3, s.minimum, s.maximum) == (len(v), q1, med, q3, v.min(), v.max())
    assert s.mean == pytest.approx(v.mean(), rel=1e-12) and s.sd == pytest.approx(np.std(v, ddof=1), rel=1e-12)


def test_trough_summary_from_ranked_levels_equals_the_levels_themselves(shipped):
    from analysis.ranking import distinct_values
    from analysis.steroids import trough_summary

    tac = shipped.tables.tacrolimus
    patients = Filters(diagnosis=("ITP", "AIHA")).apply(shipped.endpoints)
    ranked = distinct_values(tac["trough_ng_ml"].to_numpy(float), compact=True)
    a, b = trough_summary(patients, tac), trough_summary(patients, tac, ranked=ranked)
    assert a == b and a.measurements > 100
    levels = tac.loc[tac["patient_id"].isin(patients["patient_id"]), "trough_ng_ml"].dropna()
    assert a.measurements == len(levels) and a.values.median == levels.median()
    assert a.in_range == levels.between(5, 10).mean() and a.below == (levels < 5).mean()
