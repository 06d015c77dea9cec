"""The reviewer's definitions (analysis/definitions.py) as switches: what each one changes on the
shipped cohort, counted here from the default endpoints and the raw tables rather than taken from
the code under test; that the report, the endpoints file, the command line and every page follow
them and name them. The rules at their edges are in tests/test_criteria.py."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest

from analysis.definitions import Definitions
from analysis.filters import Filters
from analysis.report import build, endpoints_csv, endpoints_table, markdown

ROOT = Path(__file__).resolve().parent.parent
ALL_ON = Definitions(**{f.name: True for f in fields(Definitions)})


def by_arm(e: pd.DataFrame, column: str) -> dict[str, int]:
    return {arm: int(e.loc[e["arm"] == arm, column].fillna(False).astype(bool).sum()) for arm in ("tacrolimus", "control")}


def test_steroid_dependent_responders_leave_the_responders(shipped):
    default = build(shipped)
    under = build(shipped, Filters(definitions=Definitions(steroid_dependence_is_nonresponse=True)))
    dependent = by_arm(shipped.endpoints, "steroid_dependent")
    assert sum(dependent.values()) > 0
    for arm in ("tacrolimus", "control"):
        assert under["response"]["orr"][arm]["responders"] == default["response"]["orr"][arm]["responders"] - dependent[arm]
        assert under["relapse"]["responders"][arm] == default["relapse"]["responders"][arm] - dependent[arm]


def test_steroid_dependence_is_counted_from_the_steroid_periods(shipped):
    """Independently of the derivation: responders whose prescriptions on day 183 add up to more
    than 5 mg prednisone-equivalent, followed up past it, with no relapse by then."""
    from analysis.schema import PREDNISONE_EQUIVALENT

    e = shipped.endpoints.set_index("patient_id")
    doses = shipped.tables.get("steroid_doses")
    day = doses["patient_id"].map(e["treatment_start"] + pd.Timedelta(days=183))
    on = doses[(doses["start_date"] <= day) & (doses["end_date"] >= day)]
    mg = (on["daily_dose_mg"] * on["drug"].map(PREDNISONE_EQUIVALENT)).groupby(on["patient_id"], observed=True).sum()
    d183 = e["treatment_start"] + pd.Timedelta(days=183)
    expected = (e["responded"].fillna(False).astype(bool) & mg.reindex(e.index).fillna(0).gt(5)
                & (e["last_follow_up"] >= d183) & (e["relapse_date"].isna() | (e["relapse_date"] > d183)))
    assert expected.sum() > 0
    assert e["steroid_dependent"].fillna(False).astype(bool).equals(expected)


def test_relapse_as_loss_of_cr_adds_relapses_only_among_cr_patients(shipped):
    default = shipped.endpoints.set_index("patient_id")
    under = shipped.endpoints_under(Definitions(relapse_on_loss_of_cr=True)).set_index("patient_id")
    more = under["relapsed"].fillna(False).astype(bool) & ~default["relapsed"].fillna(False).astype(bool)
    assert more.sum() > 0
    assert (default.loc[more, "best_response"] == "CR").all()
    # A CR patient's loss of CR comes no later than their loss of response.
    both = default["relapse_date"].notna() & under["relapse_date"].notna()
    assert (under.loc[both, "relapse_date"] <= default.loc[both, "relapse_date"]).all()
    assert (under["responded"].astype("boolean") == default["responded"].astype("boolean")).fillna(True).all()


def test_haemolysis_rule_takes_cr_on_hb_alone_away(shipped):
    default = shipped.endpoints.set_index("patient_id")
    under = shipped.endpoints_under(Definitions(haemolysis_normal_for_cr=True)).set_index("patient_id")
    assert default["cr_on_hb_alone"].sum() > 0 and under["cr_on_hb_alone"].sum() == 0
    lost = default["complete_response"].fillna(False).astype(bool) & ~under["complete_response"].fillna(False).astype(bool)
    gained = ~default["complete_response"].fillna(False).astype(bool) & under["complete_response"].fillna(False).astype(bool)
    assert gained.sum() == 0
    assert default.loc[lost, "diagnosis"].isin(["AIHA", "ES"]).all()
    assert (default.loc[lost, "cr_on_hb_alone"]).all()  # only a CR that rested on Hb alone can go


def test_the_report_names_the_definitions_and_the_claims_still_hold(shipped):
    rep = build(shipped, Filters(definitions=ALL_ON))
    assert rep["definitions"] == {**ALL_ON.as_dict(), "in_force": ALL_ON.sentences()} and len(rep["definitions"]["in_force"]) == 3
    json.dumps(rep, allow_nan=False)
    text = markdown(rep)
    assert "Reviewer's definitions in force" in text and "IWG 2009" in text
    # The abstract's directions hold under every reading (STUDY.md): CRR higher, relapse lower.
    assert rep["response"]["crr"]["p_value"] < 0.05 and rep["response"]["crr"]["difference"] > 0
    assert rep["relapse"]["p_value"] < 0.05 and rep["relapse"]["rate"]["difference"] < 0
    assert rep["adjusted"]["rfs"]["ci"][1] < 1 and rep["adjusted"]["crr"]["odds_ratio_ci"][0] > 1
    default = build(shipped)
    assert default["definitions"]["in_force"] == [] and "Reviewer's" not in markdown(default)


def test_the_endpoints_file_follows_the_definitions(shipped):
    f = Filters(definitions=Definitions(steroid_dependence_is_nonresponse=True))
    table = pd.read_csv(io.BytesIO(endpoints_csv(endpoints_table(shipped, f))))
    dependent = table["steroid_dependent"].astype(str).eq("True") | table["steroid_dependent"].astype(str).eq("true")
    assert dependent.sum() > 0
    assert (table.loc[dependent, "best_response"] == "NR").all() and table.loc[dependent, "rfs_months"].isna().all()


def test_filters_name_the_definitions_in_captions_and_file_names():
    f = Filters(diagnosis=("ITP",), definitions=Definitions(relapse_on_loss_of_cr=True))
    assert f.describe() == "ITP; relapse = loss of CR"
    assert Filters().describe() == "all patients"
    assert f != Filters(diagnosis=("ITP",)) and hash(f) != hash(Filters(diagnosis=("ITP",)))  # its own cache entry


def test_the_command_line_has_a_flag_per_definition(tmp_path):
    out = subprocess.run([sys.executable, "-m", "analysis", "report", "--relapse-on-loss-of-cr",
                          "--haemolysis-normal-for-cr"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["definitions"]["relapse_on_loss_of_cr"] and rep["definitions"]["haemolysis_normal_for_cr"]
    assert not rep["definitions"]["steroid_dependence_is_nonresponse"]
    helped = subprocess.run([sys.executable, "-m", "analysis", "endpoints", "--help"], capture_output=True, text=True,
                            cwd=ROOT, timeout=120).stdout
    for f in fields(Definitions):
        assert "--" + f.name.replace("_", "-") in helped


@pytest.mark.parametrize("view_name", ["response", "rfs", "adjusted"])
def test_every_page_follows_the_switch_in_the_url_and_says_so(view_name, shipped):
    from streamlit.testing.v1 import AppTest

    from analysis.results import compute
    from views import view

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["steroid_dependent_nr"] = "true"
    at.run()
    at.switch_page(str(view(view_name).path)).run()
    assert not at.exception
    shown = " ".join(i.value for i in at.info)
    assert "Reviewer's definitions in force" in shown and "steroid-dependent" in shown
    captions = " ".join(c.value for c in at.caption)
    assert "steroid-dependent = NR" in captions
    r = compute(shipped, Filters(definitions=Definitions(steroid_dependence_is_nonresponse=True)))
    if view_name == "response":  # the table's control responders are the reduced count
        table = at.dataframe[0].value
        orr = table[table["Endpoint"] == "Best ORR"].iloc[0]
        default = compute(shipped, Filters()).response.orr
        assert orr["Steroid alone"] == f"{r.response.orr.b.events}/{r.response.orr.b.n}"
        assert r.response.orr.b.events < default.b.events


def test_the_slides_name_the_definitions(shipped):
    from analysis.slides import deck

    d = deck(shipped, Filters(definitions=ALL_ON))
    assert "relapse = loss of CR" in d.footer and "relapse = loss of CR" in " ".join(d.facts)
    said = next(s for s in d.slides if s.title == "Definitions in force")
    assert list(said.lines[1:]) == ALL_ON.sentences()
    assert d.slides[-1].title == "Methods"
    assert any("(loss of CR)" in line for line in d.slides[-1].lines)  # the relapse rule in force
    assert not any("loss of CR" in line for line in deck(shipped).slides[-1].lines)
    assert not any(s.title == "Definitions in force" for s in deck(shipped).slides)


def test_a_recorded_course_without_a_stop_date_is_not_steroid_dependence():
    """Patients with recorded endpoints and only a recorded cumulative dose: nothing says whether
    they took steroids on day 183, so none is called dependent."""
    from analysis.cohort import from_frames
    from conftest import frames, patient

    c = from_frames(frames([
        patient("P1", best_response="CR", response_date="2020-01-20", cumulative_steroid_mg=3000),
        patient("P2", best_response="CR", response_date="2020-01-20", steroid_stop_date="2020-09-01"),
        patient("P3", best_response="CR", response_date="2020-01-20", steroid_stop_date="2020-04-01"),
    ]))
    e = c.endpoints_under(Definitions(steroid_dependence_is_nonresponse=True)).set_index("patient_id")
    assert e["steroid_dependent"].tolist() == [False, True, False]
    assert e.loc["P1", "best_response"] == "CR" and e.loc["P2", "best_response"] == "NR"


@pytest.mark.parametrize("switches", [s for s in __import__("itertools").product([False, True], repeat=3)])
def test_the_abstracts_claims_hold_under_every_reading(shipped, switches):
    """STUDY.md's directions on the shipped cohort under each of the eight combinations of the
    switches: ORR comparable, CRR higher, relapse lower, RFS longer (all, ITP, AIHA), less steroid
    and sooner stopped, fewer steroid adverse events; and CRR and RFS still favour tacrolimus after
    weighting."""
    from analysis.results import compute

    d = Definitions(*switches)
    r = compute(shipped, Filters(definitions=d))
    assert r.response.orr.p_value >= 0.05
    assert r.response.crr.p_value < 0.05 and r.response.crr.difference > 0
    assert r.relapse_rate.p_value < 0.05 and r.relapse_rate.difference < 0
    assert r.rfs.logrank.p_value < 0.05 and r.rfs.hazard.hazard_ratio < 1
    for dx in ("ITP", "AIHA"):
        assert compute(shipped, Filters(diagnosis=(dx,), definitions=d)).rfs.logrank.p_value < 0.05, dx
    assert r.steroids.cumulative.p_value < 0.05 and r.steroids.discontinuation.logrank.p_value < 0.05
    assert r.safety.incidence["steroid_ae"].p_value < 0.05 and r.safety.incidence["steroid_ae"].difference < 0
    assert r.adjusted.crr.odds_ratio_ci[0] > 1 and r.adjusted.rfs.ci[1] < 1


def test_every_reading_keeps_the_patients_in_the_order_the_visit_lookup_assumes(shipped):
    """Results find a selection's trough levels and adverse events through the cohort's
    patient_rows, positions in the default endpoints; each other reading must list the same
    patients in the same order, and the sections must equal those that look the ids up."""
    import numpy as np

    from analysis.results import compute
    from analysis.safety import by_term
    from analysis.steroids import trough_summary

    default = shipped.endpoints["patient_id"].tolist()
    for flags in ({"relapse_on_loss_of_cr": True}, {"steroid_dependence_is_nonresponse": True},
                  {"haemolysis_normal_for_cr": True}):
        definitions = Definitions(**flags)
        assert shipped.endpoints_under(definitions)["patient_id"].tolist() == default
        for filters in (Filters(definitions=definitions), Filters(diagnosis=("AIHA", "ES"), sex=("F",), definitions=definitions)):
            r = compute(shipped, filters)
            tac, ae = shipped.tables.tacrolimus, shipped.tables.adverse_events
            looked_up = trough_summary(r.patients, tac)
            assert r.steroids.troughs == looked_up and looked_up.patients > 0
            pd.testing.assert_frame_equal(r.safety.by_term, by_term(r.patients, ae))
            rows = r._in_selection("tacrolimus")
            assert set(np.unique(rows[rows >= 0])) <= set(range(len(r.patients)))
