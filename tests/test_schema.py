"""Validation: one test per kind of problem, each asserting the message names what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.io import raw_from_frames
from analysis.schema import TABLES, validate
from conftest import frames, lab, patient


def problems(raw: dict[str, pd.DataFrame]):
    tables, report = validate(raw_from_frames(raw).tables)
    return tables, report


def only_error(report, *needles: str):
    msgs = [p.message for p in report.errors]
    hits = [m for m in msgs if all(n in m for n in needles)]
    assert hits, f"no error mentions {needles}; errors were: {msgs}"
    return hits[0]


def test_clean_cohort_has_no_problems():
    tables, report = problems(frames([patient("P1", best_response="NR"), patient("P2", arm="tacrolimus", best_response="CR")]))
    assert report.problems == ()
    assert tables is not None and len(tables.patients) == 2


def test_missing_patients_table_names_the_tables_found():
    tables, report = validate({"labs": pd.DataFrame({"patient_id": ["P1"]})})
    assert tables is None
    assert "no 'patients' table" in report.errors[0].message and "'labs'" in report.errors[0].message


def test_missing_required_columns_are_named():
    raw = frames([patient()])
    raw["patients"] = raw["patients"].drop(columns=["arm", "age"])
    _, report = problems(raw)
    msg = only_error(report, "patients", "'arm'", "'age'", "missing")
    assert "columns found" in msg


def test_column_names_differing_in_case_and_spacing_are_accepted():
    raw = frames([patient()])
    raw["patients"].columns = ["Patient ID", "ARM", " Diagnosis", "sex", "Age", "Treatment-Start", "last follow up"]
    tables, report = problems(raw)
    assert report.ok, report.to_text()
    assert tables.patients.loc[0, "arm"] == "control"


def test_codes_are_accepted_in_any_case():
    tables, report = problems(frames([patient(arm="Tacrolimus", diagnosis="itp", sex="f")]))
    assert report.ok
    assert tables.patients.loc[0, ["arm", "diagnosis", "sex"]].tolist() == ["tacrolimus", "ITP", "F"]


def test_wrong_types_name_column_rows_and_values():
    raw = frames([patient("P1", age="forty"), patient("P2", start="01/02/2020"), patient("P3")],
                 adverse_events=[{"patient_id": "P3", "onset_date": "2020-02-01", "term": "rash",
                                  "category": "other", "grade": 2, "serious": "maybe"}])
    _, report = problems(raw)
    age = only_error(report, "column 'age'", "not numbers")
    assert "row 2 (P1): 'forty'" in age
    only_error(report, "column 'treatment_start'", "not dates", "YYYY-MM-DD")
    only_error(report, "adverse_events", "'serious'", "yes/no", "'maybe'")


def test_non_integer_grade_is_a_type_error():
    raw = frames([patient()], adverse_events=[{"patient_id": "P1", "onset_date": "2020-02-01", "term": "rash",
                                               "category": "other", "grade": 2.5, "serious": "no"}])
    _, report = problems(raw)
    only_error(report, "'grade'", "not whole numbers")


def test_unknown_codes_list_the_allowed_ones():
    _, report = problems(frames([patient(arm="placebo"), patient("P2", diagnosis="TTP")]))
    only_error(report, "'arm'", "unknown codes", "tacrolimus, control", "'placebo'")
    only_error(report, "'diagnosis'", "ITP, AIHA, ES", "'TTP'")


def test_empty_required_cells():
    _, report = problems(frames([patient(sex=None), patient("P2")]))
    only_error(report, "'sex'", "empty cells", "row 2")


def test_duplicate_patient_ids():
    _, report = problems(frames([patient("P1"), patient("P2"), patient("P1")]))
    msg = only_error(report, "'patient_id'", "duplicate")
    assert "2 rows" in msg and "row 2" in msg and "row 4" in msg


def test_child_rows_for_unknown_patients():
    _, report = problems(frames([patient("P1")], labs=[lab("P9", "2020-02-01", "PLT", 50)]))
    only_error(report, "labs", "not in the patients table", "P9")


def test_dates_outside_follow_up():
    raw = frames(
        [patient("P1", start="2020-01-01", last="2020-12-31"), patient("P2", start="2020-05-01", last="2020-04-01")],
        labs=[lab("P1", "2021-03-01", "PLT", 50)],
        steroid_doses=[{"patient_id": "P1", "drug": "prednisone", "start_date": "2019-12-01",
                        "end_date": "2020-01-10", "daily_dose_mg": 60}],
        adverse_events=[{"patient_id": "P1", "onset_date": "2019-06-01", "term": "rash", "category": "other",
                         "grade": 1, "serious": False}],
    )
    _, report = problems(raw)
    only_error(report, "patients", "'last_follow_up'", "before treatment_start", "P2")
    only_error(report, "labs", "'date'", "after the patient's last_follow_up")
    only_error(report, "steroid_doses", "'start_date'", "before the patient's treatment_start")
    only_error(report, "adverse_events", "'onset_date'", "before")


def test_old_labs_are_a_warning_not_an_error():
    tables, report = problems(frames([patient()], labs=[lab("P1", "2019-10-01", "PLT", 50)]))
    assert report.ok
    assert any("more than 30 days before" in w.message for w in report.warnings)


def test_end_date_before_start_date():
    raw = frames([patient()], steroid_doses=[{"patient_id": "P1", "drug": "prednisone", "start_date": "2020-03-01",
                                              "end_date": "2020-02-01", "daily_dose_mg": 30}])
    _, report = problems(raw)
    only_error(report, "steroid_doses", "'end_date'", "before start_date")


@pytest.mark.parametrize("table,row,needle", [
    ("labs", lab("P1", "2020-02-01", "PLT", -5), "negative values"),
    ("labs", lab("P1", "2020-02-01", "PLT", 2500), "implausible PLT results above 2,000"),
    ("labs", lab("P1", "2020-02-01", "HGB", 260), "implausible HGB results above 250 g/L"),
    ("steroid_doses", {"patient_id": "P1", "drug": "prednisone", "start_date": "2020-01-01", "end_date": "2020-01-05",
                       "daily_dose_mg": 2500}, "implausible values above 2,000 mg"),
    ("steroid_doses", {"patient_id": "P1", "drug": "prednisone", "start_date": "2020-01-01", "end_date": "2020-01-05",
                       "daily_dose_mg": -10}, "negative values"),
])
def test_negative_and_implausible_values(table, row, needle):
    _, report = problems(frames([patient()], **{table: [row]}))
    only_error(report, table, needle)


def test_implausible_age():
    _, report = problems(frames([patient(age=150)]))
    only_error(report, "'age'", "above 120 years")


def test_tacrolimus_rows_for_a_control_patient():
    raw = frames([patient("P1", arm="control")],
                 tacrolimus=[{"patient_id": "P1", "date": "2020-02-01", "daily_dose_mg": 2, "trough_ng_ml": 6}])
    _, report = problems(raw)
    only_error(report, "tacrolimus", "control", "P1")


def test_recorded_endpoint_dates_are_checked():
    raw = frames([patient(best_response="NR", relapse_date="2020-06-01"),
                  patient("P2", best_response="CR", response_date="2020-03-01", relapse_date="2020-02-01")])
    _, report = problems(raw)
    only_error(report, "'relapse_date'", "best_response is NR")
    only_error(report, "'relapse_date'", "before the response date", "P2")


def test_hemolysis_markers_missing_is_a_warning():
    raw = frames([patient(diagnosis="AIHA")], labs=[lab("P1", "2020-01-01", "HGB", 70), lab("P1", "2020-02-01", "HGB", 125)])
    tables, report = problems(raw)
    assert tables is not None and report.ok
    msg = next(w.message for w in report.warnings if "hemolysis markers" in w.message)
    assert "hemoglobin alone" in msg and "P1" in msg


def test_every_problem_is_reported_at_once():
    raw = frames([patient("P1", arm="placebo", age=-3), patient("P1", sex="X")], labs=[lab("P7", "2020-01-05", "PLT", 10)])
    _, report = problems(raw)
    text = report.to_text()
    for needle in ("'arm'", "'age'", "'sex'", "duplicate", "not in the patients table"):
        assert needle in text
    assert len(report.errors) >= 5


def test_unknown_columns_are_warned_about_and_ignored():
    raw = frames([patient(favourite_colour="blue")])
    tables, report = problems(raw)
    assert report.ok and "favourite_colour" in report.warnings[0].message
    assert "favourite_colour" not in tables.patients.columns


def test_report_frame_has_one_row_per_problem():
    _, report = problems(frames([patient(arm="x"), patient("P1")]))
    df = report.to_frame()
    assert list(df.columns) == ["severity", "table", "column", "rows", "examples", "problem"]
    assert len(df) == len(report.problems) >= 2


def test_docs_describe_every_column_and_code():
    text = (Path(__file__).resolve().parent.parent / "docs" / "cohort-format.md").read_text(encoding="utf-8")
    for table in TABLES.values():
        assert f"`{table.name}`" in text
        for col in table.columns:
            assert f"`{col.name}`" in text, f"docs/cohort-format.md does not describe {table.name}.{col.name}"
            for code in col.codes:
                assert code in text


def test_patients_with_no_response_data_are_warned_about():
    _, report = problems(frames([patient("P1"), patient("P2", best_response="CR")]))
    assert report.ok
    msg = next(w.message for w in report.warnings if "left out of the response" in w.message)
    assert "1 patient " in msg and "P1" in msg and "P2" not in msg


def _every_kind_of_column(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({
        "patient_id": [f"P{i}" for i in range(n)],
        "arm": pd.Categorical(rng.choice(["tacrolimus", "control", None], n)),
        "age": rng.normal(50, 10, n),
        "responded": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
        "any_ae": rng.random(n) < 0.5,
        "count": pd.array(rng.integers(0, 5, n), dtype="Int64"),
        "started": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D"),
        "zoned": pd.date_range("2021-01-01", periods=n, freq="h", tz="Europe/Berlin"),
        "note": pd.array(rng.choice(["a", "b", None], n), dtype="string"),
    }, index=pd.Index(rng.permutation(n) + 1000, name="row"))
    frame.columns.name = "field"
    return frame


@pytest.mark.parametrize("how", ["mask", "positions", "none selected", "all"])
def test_select_rows_is_pandas_selection(how):
    from analysis.schema import select_rows
    frame = _every_kind_of_column()
    mask = np.random.default_rng(3).random(len(frame)) < 0.6
    if how == "none selected":
        mask[:] = False
    selected = {"positions": np.flatnonzero(mask), "all": None}.get(how, mask)
    expected = frame if selected is None else frame.iloc[selected]
    pd.testing.assert_frame_equal(select_rows(frame, selected), expected, check_exact=True)
    columns = ["age", "arm", "zoned", "patient_id"]
    pd.testing.assert_frame_equal(select_rows(frame, selected, columns), expected[columns], check_exact=True)


def test_arm_counts_count_without_taking():
    from analysis.schema import arm_counts
    frame = _every_kind_of_column()
    mask = frame["age"].to_numpy() > 50
    assert arm_counts(frame) == tuple(int((frame["arm"] == a).sum()) for a in ("tacrolimus", "control"))
    assert arm_counts(frame, mask) == tuple(int((frame[mask]["arm"] == a).sum()) for a in ("tacrolimus", "control"))
