"""Whatever cells a cohort holds, loading ends in a Cohort or in a report of sentences, never in
another exception (property-based: hypothesis draws the tables)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from analysis.cohort import _build
from analysis.io import raw_from_frames
from analysis.schema import TABLES, CohortError

WEIRD = st.one_of(
    st.none(),
    st.sampled_from(["", "  ", "abc", "=SUM(A1:A3)", "<script>alert(1)</script>", "Ünïcødé 患者", "NaN", "nan",
                     "2020-13-45", "2020-02-30", "01/02/2020", "yes", "no", "TRUE", "1,5", "1e400", "-0"]),
    st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 1, 1)),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)),
)
PLAUSIBLE = {
    "patient_id": st.sampled_from(["P1", "P2", "P3", 4, 5.0]),
    "arm": st.sampled_from(["tacrolimus", "control", "Control", "x"]),
    "diagnosis": st.sampled_from(["ITP", "AIHA", "ES", "es"]),
    "sex": st.sampled_from(["M", "F", "f"]),
    "test": st.sampled_from(["PLT", "HGB", "RET", "LDH", "TBIL"]),
    "drug": st.sampled_from(["prednisone", "dexamethasone", "methylprednisolone"]),
    "category": st.sampled_from(["steroid", "tacrolimus", "other"]),
    "best_response": st.sampled_from(["CR", "R", "PR", "NR"]),
}


def cell(column: str):
    kind = None
    for t in TABLES.values():
        if column in t.column_names:
            kind = t.column(column).kind
    good = PLAUSIBLE.get(column)
    if good is None and kind == "date":
        good = st.dates(min_value=dt.date(2019, 6, 1), max_value=dt.date(2021, 6, 1)).map(str)
    if good is None and kind in ("number", "integer"):
        good = st.integers(min_value=0, max_value=300)
    if good is None and kind == "bool":
        good = st.booleans()
    if good is None:
        good = st.text(max_size=8)
    return st.one_of(good, good, good, WEIRD)


@st.composite
def table(draw, name: str):
    spec = TABLES[name]
    columns = draw(st.lists(st.sampled_from(spec.column_names), unique=True, min_size=0, max_size=len(spec.columns)))
    if draw(st.booleans()):
        columns = sorted(set(columns) | set(spec.required_columns), key=spec.column_names.index)
    n = draw(st.integers(min_value=0, max_value=6))
    rows = [{c: draw(cell(c)) for c in columns} for _ in range(n)]
    return pd.DataFrame(rows, columns=columns)


@st.composite
def cohorts(draw):
    frames = {"patients": draw(table("patients"))}
    for name in ("labs", "steroid_doses", "tacrolimus", "adverse_events"):
        if draw(st.booleans()):
            frames[name] = draw(table(name))
    return frames


DATES = {
    "treatment_start": st.dates(dt.date(2019, 6, 1), dt.date(2019, 12, 31)),
    "last_follow_up": st.dates(dt.date(2021, 1, 1), dt.date(2021, 6, 1)),
}
CHILD_DATE = st.dates(dt.date(2020, 1, 1), dt.date(2020, 12, 31))


@st.composite
def nearly_valid(draw):
    """A valid cohort with a few cells replaced by odd values: exercises the derivation too."""
    n = draw(st.integers(min_value=1, max_value=6))
    ids = [f"P{i}" for i in range(n)]
    patients = pd.DataFrame({
        "patient_id": ids,
        "arm": [draw(st.sampled_from(["tacrolimus", "control"])) for _ in ids],
        "diagnosis": [draw(st.sampled_from(["ITP", "AIHA", "ES"])) for _ in ids],
        "sex": [draw(st.sampled_from(["M", "F"])) for _ in ids],
        "age": [draw(st.integers(14, 90)) for _ in ids],
        "treatment_start": [draw(DATES["treatment_start"]) for _ in ids],
        "last_follow_up": [draw(DATES["last_follow_up"]) for _ in ids],
        "best_response": [draw(st.sampled_from(["CR", "R", "NR", None])) for _ in ids],
    })
    m = draw(st.integers(min_value=0, max_value=30))
    labs = pd.DataFrame({
        "patient_id": [draw(st.sampled_from(ids)) for _ in range(m)],
        "date": [draw(CHILD_DATE) for _ in range(m)],
        "test": [draw(st.sampled_from(["PLT", "HGB", "LDH"])) for _ in range(m)],
        "value": [draw(st.floats(0, 300)) for _ in range(m)],
        "bleeding": [draw(st.sampled_from([True, False, None])) for _ in range(m)],
    })
    k = draw(st.integers(min_value=0, max_value=6))
    doses = pd.DataFrame({
        "patient_id": [draw(st.sampled_from(ids)) for _ in range(k)],
        "drug": [draw(st.sampled_from(["prednisone", "dexamethasone"])) for _ in range(k)],
        "start_date": [draw(CHILD_DATE) for _ in range(k)],
        "end_date": [dt.date(2020, 12, 31)] * k,
        "daily_dose_mg": [draw(st.floats(0, 100)) for _ in range(k)],
    })
    frames = {"patients": patients, "labs": labs, "steroid_doses": doses}
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        name = draw(st.sampled_from(sorted(frames)))
        df = frames[name]
        if len(df):
            frames[name] = df.astype(object)
            frames[name].iat[draw(st.integers(0, len(df) - 1)), draw(st.integers(0, df.shape[1] - 1))] = draw(WEIRD)
    return frames


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(cohorts(), nearly_valid()))
def test_any_tables_end_in_a_cohort_or_sentences(frames):
    try:
        raw = raw_from_frames(frames)
    except CohortError as err:
        assert err.report.errors
        return
    cohort, report = _build(raw)
    event("loaded" if cohort is not None else "refused with a report")
    assert (cohort is None) == (not report.ok)
    for p in report.problems:
        assert isinstance(p.message, str) and p.message.strip() and "Traceback" not in p.message
    if cohort is not None:
        assert len(cohort.endpoints) == len(cohort.tables.patients)
