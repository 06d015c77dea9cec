"""Response and relapse rules at their edges, on hand-made lab series run through the whole
derivation (validate → derive), as a department's data would be."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import criteria
from analysis.cohort import from_frames
from analysis.definitions import Definitions
from conftest import frames, patient, series

START = "2020-01-01"


def derive_one(diagnosis: str, labs: list[dict], definitions: Definitions = Definitions(), **tables) -> pd.Series:
    c = from_frames(frames([patient("P1", diagnosis=diagnosis, start=START, last="2021-06-30")], labs=labs, **tables))
    return c.endpoints_under(definitions).set_index("patient_id").loc["P1"]


def itp(days_values, baseline=10.0, definitions: Definitions = Definitions(), **extra) -> pd.Series:
    return derive_one("ITP", series("P1", START, [(0, baseline)] + days_values, **extra), definitions)


@pytest.mark.parametrize("value,expected", [(100, "CR"), (99, "R")])
def test_itp_cr_needs_exactly_100(value, expected):
    assert itp([(7, value), (14, value)]).best_response == expected


@pytest.mark.parametrize("baseline,value,expected", [
    (15, 30, "R"),   # exactly 30 and exactly 2× baseline
    (16, 30, "NR"),  # 30 but below 2× baseline (32)
    (10, 29, "NR"),  # above 2× baseline but below 30
])
def test_itp_response_needs_30_and_twice_baseline(baseline, value, expected):
    assert itp([(7, value), (14, value)], baseline=baseline).best_response == expected


@pytest.mark.parametrize("gap,expected", [(6, "NR"), (7, "CR")])
def test_confirmation_needs_two_counts_7_days_apart(gap, expected):
    e = itp([(10, 150), (10 + gap, 150)])
    assert e.best_response == expected
    if expected == "CR":
        assert e.best_response_date == pd.Timestamp("2020-01-11")
        assert e.best_response_confirmed_date == pd.Timestamp("2020-01-18")
        assert e.rfs_months == pytest.approx((pd.Timestamp("2021-06-30") - pd.Timestamp("2020-01-11")).days / 30.4375)


def test_a_low_count_between_breaks_the_confirmation():
    assert itp([(7, 150), (10, 20), (14, 150)]).best_response == "NR"


def test_bleeding_makes_a_count_no_response():
    assert itp([(7, 150), (14, 150)], bleeding=True).best_response == "NR"


def test_best_response_is_the_highest_confirmed_level():
    e = itp([(7, 50), (14, 60), (21, 150), (24, 140), (28, 160)])
    assert e.best_response == "CR"
    assert e.response_date == pd.Timestamp("2020-01-08")  # first response (R) reached on day 7
    assert e.best_response_date == pd.Timestamp("2020-01-22")  # CR run began on day 21


def test_relapse_needs_two_consecutive_low_counts():
    one_low = itp([(7, 150), (14, 150), (60, 20), (90, 150)])
    assert one_low.relapsed == False  # noqa: E712  (pandas boolean)
    two_low = itp([(7, 150), (14, 150), (60, 20), (61, 25), (90, 150)])
    assert two_low.relapsed == True  # noqa: E712
    assert two_low.relapse_date == pd.Timestamp("2020-03-01")
    assert two_low.rfs_months == pytest.approx((pd.Timestamp("2020-03-01") - pd.Timestamp("2020-01-08")).days / 30.4375)


def test_losing_cr_but_keeping_r_is_not_a_relapse():
    e = itp([(7, 150), (14, 150), (60, 60), (61, 55)])
    assert e.best_response == "CR" and e.relapsed == False  # noqa: E712


LOSS_OF_CR = Definitions(relapse_on_loss_of_cr=True)


def test_under_the_loss_of_cr_definition_losing_cr_is_a_relapse():
    e = itp([(7, 150), (14, 150), (60, 60), (61, 55)], definitions=LOSS_OF_CR)
    assert e.best_response == "CR" and e.relapsed == True  # noqa: E712
    assert e.relapse_date == pd.Timestamp("2020-03-01")
    assert e.rfs_months == pytest.approx((pd.Timestamp("2020-03-01") - pd.Timestamp("2020-01-08")).days / 30.4375)


def test_under_the_loss_of_cr_definition_one_count_below_cr_and_r_patients_are_as_before():
    one_dip = itp([(7, 150), (14, 150), (60, 60), (90, 150)], definitions=LOSS_OF_CR)
    assert one_dip.relapsed == False  # noqa: E712
    # A dip below CR before CR was confirmed does not count: R on day 7, CR confirmed on day 28.
    early = itp([(7, 50), (14, 150), (17, 60), (18, 55), (21, 150), (28, 150)], definitions=LOSS_OF_CR)
    assert early.best_response == "CR" and early.relapsed == False  # noqa: E712
    r_only = itp([(7, 60), (14, 60), (60, 40), (61, 45)], definitions=LOSS_OF_CR)
    assert r_only.best_response == "R" and r_only.relapsed == False  # noqa: E712


def test_under_the_loss_of_cr_definition_an_earlier_loss_of_response_stays_a_relapse():
    # R on day 7, lost (two counts below 30) on days 40–41, then CR confirmed from day 60.
    e = itp([(7, 50), (14, 60), (40, 10), (41, 12), (60, 150), (67, 150), (90, 150)], definitions=LOSS_OF_CR)
    default = itp([(7, 50), (14, 60), (40, 10), (41, 12), (60, 150), (67, 150), (90, 150)])
    assert e.best_response == default.best_response == "CR"
    assert e.relapse_date == default.relapse_date == pd.Timestamp("2020-02-10")


def test_non_responders_have_no_rfs():
    e = itp([(7, 12), (14, 15)])
    assert e.best_response == "NR" and pd.isna(e.rfs_months) and pd.isna(e.relapsed)


def aiha(hb_days, markers=(), baseline=70.0, transfusions=(), definitions: Definitions = Definitions()):
    labs = series("P1", START, [(0, baseline)] + list(hb_days), test="HGB")
    for test, d, v in markers:
        labs += series("P1", START, [(d, v)], test=test)
    for d in transfusions:
        for row in labs:
            if row["date"] == (pd.Timestamp(START) + pd.Timedelta(days=d)).date().isoformat() and row["test"] == "HGB":
                row["transfused"] = True
    return derive_one("AIHA", labs, definitions)


NORMAL_MARKERS = [("LDH", 20, 180), ("TBIL", 20, 12), ("RET", 20, 1.5)]


@pytest.mark.parametrize("hb,expected", [(120, "CR"), (119, "PR"), (100, "PR"), (99, "NR")])
def test_aiha_thresholds(hb, expected):
    # Baseline 85: a rise to 99 is 14 g/L, below the 20 g/L rule, so only the Hb thresholds decide.
    e = aiha([(20, hb), (27, hb)], markers=NORMAL_MARKERS + [(m, 27, v) for m, _, v in NORMAL_MARKERS], baseline=85)
    assert e.best_response == expected
    assert e.cr_on_hb_alone == False  # noqa: E712


def test_aiha_rise_of_exactly_20_is_pr():
    assert aiha([(20, 80), (27, 80)], baseline=60).best_response == "PR"
    assert aiha([(20, 79), (27, 79)], baseline=60).best_response == "NR"


def test_aiha_hemolysis_prevents_cr():
    e = aiha([(20, 130), (27, 130)], markers=[("LDH", 20, 400), ("LDH", 27, 380)])
    assert e.best_response == "PR"


def test_aiha_cr_without_markers_rests_on_hb_alone():
    e = aiha([(20, 130), (27, 130)])
    assert e.best_response == "CR" and e.cr_on_hb_alone == True  # noqa: E712


@pytest.mark.parametrize("transfused_day,expected", [(13, "NR"), (12, "PR")])
def test_aiha_transfusion_in_previous_7_days(transfused_day, expected):
    # Hb counts on days 20 and 27; a transfusion on day 13 lies within 7 days of day 20.
    labs_days = [(transfused_day, 75), (20, 105), (27, 105)]
    assert aiha(labs_days, transfusions=[transfused_day]).best_response == expected


def evans(plt_days, hb_days):
    labs = series("P1", START, [(0, 10)] + plt_days) + series("P1", START, [(0, 70)] + hb_days, test="HGB")
    return derive_one("ES", labs)


@pytest.mark.parametrize("plt,hb,expected", [
    (150, 130, "CR"),  # CR in both lineages
    (150, 105, "R"),   # CR + PR: response, not complete
    (150, 80, "NR"),   # one lineage without response
    (50, 80, "NR"),
])
def test_evans_needs_both_lineages(plt, hb, expected):
    assert evans([(7, plt), (14, plt)], [(7, hb), (14, hb)]).best_response == expected


def test_evans_relapse_in_either_lineage():
    e = evans([(7, 150), (14, 150), (60, 150), (61, 150)], [(7, 130), (14, 130), (60, 80), (61, 82)])
    assert e.best_response == "CR" and e.relapsed == True  # noqa: E712
    assert e.relapse_date == pd.Timestamp("2020-03-01")


def test_evans_lineages_measured_on_different_days_are_carried_forward():
    e = evans([(7, 150), (14, 150), (21, 150)], [(9, 130), (16, 130)])
    assert e.best_response == "CR"
    assert e.best_response_date == pd.Timestamp("2020-01-10")  # both lineages at CR from day 9


def test_course_on_levels_directly():
    levels = pd.DataFrame({
        "patient_id": ["A"] * 4 + ["B"] * 2,
        "date": pd.to_datetime(["2020-01-01", "2020-01-08", "2020-02-01", "2020-02-02", "2020-01-01", "2020-01-07"]),
        "level": [2, 2, 0, 0, 1, 1],
    })
    out = criteria.course(levels)
    assert out.loc["A", "best_level"] == 2 and out.loc["A", "relapse_onset"] == pd.Timestamp("2020-02-01")
    assert out.loc["B", "best_level"] == 0 and pd.isna(out.loc["B", "relapse_onset"])


def test_thresholds_are_named_constants():
    assert (criteria.ITP_CR_PLATELETS, criteria.ITP_R_PLATELETS, criteria.ITP_R_FOLD_OVER_BASELINE) == (100, 30, 2)
    assert (criteria.AIHA_CR_HEMOGLOBIN, criteria.AIHA_PR_HEMOGLOBIN, criteria.AIHA_PR_RISE_FROM_BASELINE) == (120, 100, 20)
    assert (criteria.CONFIRM_RESPONSE_DAYS, criteria.CONFIRM_LOSS_DAYS, criteria.TRANSFUSION_FREE_DAYS) == (7, 1, 7)


HAEMOLYSIS = Definitions(haemolysis_normal_for_cr=True)


def test_under_the_haemolysis_definition_cr_needs_a_normal_marker_within_the_window():
    assert aiha([(20, 130), (27, 130)], definitions=HAEMOLYSIS).best_response == "PR"
    window = criteria.MARKER_WINDOW_DAYS
    marked = [(m, 20, v) for m, _, v in NORMAL_MARKERS] + [("LDH", 27 - window, 180)]
    assert aiha([(20, 130), (27, 130)], markers=marked, definitions=HAEMOLYSIS).best_response == "CR"
    # The marker of day 20 is one day too old for the count of day 28.
    late = [(m, 20, v) for m, _, v in NORMAL_MARKERS]
    assert aiha([(20, 130), (20 + window + 1, 130)], markers=late, definitions=HAEMOLYSIS).best_response == "PR"
    assert aiha([(20, 130), (20 + window + 1, 130)], markers=late).best_response == "CR"


def dose(start_day: int, end_day: int, mg: float) -> dict:
    day = lambda d: (pd.Timestamp(START) + pd.Timedelta(days=d)).date().isoformat()  # noqa: E731
    return {"patient_id": "P1", "drug": "prednisone", "start_date": day(start_day), "end_date": day(end_day),
            "daily_dose_mg": mg}


DEPENDENCE = Definitions(steroid_dependence_is_nonresponse=True)


@pytest.mark.parametrize("doses,dependent", [
    ([dose(0, 200, 10)], True),                      # 10 mg/day on day 183
    ([dose(0, 182, 10)], False),                     # stopped the day before
    ([dose(0, 150, 20), dose(151, 200, 5)], False),  # 5 mg/day on day 183: replacement, not dependence
])
def test_steroid_dependence_is_read_from_the_periods(doses, dependent):
    counts = [(7, 150), (14, 150), (300, 150)]
    labs = series("P1", START, [(0, 10.0)] + counts)
    default = derive_one("ITP", labs, steroid_doses=doses)
    assert default.best_response == "CR" and default.steroid_dependent == dependent
    under = derive_one("ITP", labs, DEPENDENCE, steroid_doses=doses)
    assert under.steroid_dependent == dependent
    if dependent:
        assert under.best_response == "NR" and under.responded == False  # noqa: E712
        assert pd.isna(under.rfs_months) and pd.isna(under.relapsed)
    else:
        assert under.best_response == "CR" and under.rfs_months == default.rfs_months


def test_a_relapse_before_day_183_is_not_steroid_dependence():
    labs = series("P1", START, [(0, 10.0), (7, 150), (14, 150), (100, 10), (101, 12)])
    e = derive_one("ITP", labs, DEPENDENCE, steroid_doses=[dose(0, 250, 20)])
    assert e.steroid_dependent == False and e.best_response == "CR" and e.relapsed == True  # noqa: E712


def test_a_missing_marker_is_not_a_loss_of_cr_under_both_switches():
    """With CR needing markers and relapse = loss of CR, counts at CR level without a marker
    neither confirm nor lose a CR that markers confirmed."""
    both = Definitions(relapse_on_loss_of_cr=True, haemolysis_normal_for_cr=True)
    marked = [(m, d, v) for m, _, v in NORMAL_MARKERS for d in (20, 27)]
    counts = [(20, 130), (27, 130), (60, 132), (61, 131), (120, 133)]  # days 60, 61, 120: no marker
    e = aiha(counts, markers=marked, definitions=both)
    assert e.best_response == "CR" and e.relapsed == False  # noqa: E712
    fallen = aiha([(20, 130), (27, 130), (60, 110), (61, 108)], markers=marked, definitions=both)
    assert fallen.relapsed == True  # noqa: E712  (Hb below 120: CR lost)
