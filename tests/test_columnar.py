"""The columnar pipeline (issue 15): Parquet text read as dictionaries, child tables keyed by
patient number, and the array versions of pandas operations that derivation used to call, each
checked against the pandas operation it replaces on random data, and the shipped cohort's
endpoints against the file the code before the change wrote."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis import criteria, schema
from analysis.cohort import load
from analysis.io import FILE_LIMITS, read_cohort_bytes
from analysis.report import endpoints_table

GOLDEN = Path(__file__).parent / "golden" / "shipped-endpoints.parquet"

# Texts on both sides of each test: hidden characters in ASCII and beyond, a lone surrogate (not
# UTF-8, so Arrow cannot hold the column: the Python path runs), formula prefixes, id lengths.
TRICKY = ["P1", "a\x00b", "x\u200by", "=1", "\tq", "\rq", "-3", "é", "\x7f", "ok\x1f", "+", "@a", "a" * 65,
          "ü" * 64, "ü" * 65, "é\x85", "\u202eabc", "ok", " ", "\ufeffP2", "\U000e0001"]


@pytest.mark.parametrize("texts", [TRICKY, TRICKY + ["\ud800x"]], ids=["utf8", "with a lone surrogate"])
def test_arrow_text_tests_answer_as_the_python_ones(texts):
    u = pd.Series(texts, dtype=object)
    arr = schema._arrow_text(u)
    assert (arr is None) == any("\ud800" in t for t in texts)
    assert schema._hidden(u, arr).tolist() == u.map(schema._has_hidden).tolist()
    assert schema._longer_than(u, arr, schema.MAX_ID_CHARS).tolist() == (u.str.len() > schema.MAX_ID_CHARS).tolist()
    assert schema._starts_with_formula(u, arr).tolist() == u.str.startswith(schema.FORMULA_PREFIXES).tolist()


def _parquet(table: pa.Table, **kw) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **kw)
    return buf.getvalue()


def test_parquet_text_is_read_as_categoricals_and_validated_tables_keep_them(tmp_path):
    rows = 1000
    patients = pa.table({"patient_id": [f"P{i}" for i in range(rows)], "arm": ["tacrolimus", "control"] * (rows // 2),
                         "diagnosis": ["ITP"] * rows, "sex": ["F"] * rows, "age": [40.0] * rows,
                         "treatment_start": pa.array([datetime.date(2020, 1, 1)] * rows, pa.date32()),
                         "last_follow_up": pa.array([datetime.date(2021, 1, 1)] * rows, pa.date32())})
    labs = pa.table({"patient_id": [f"P{i % rows}" for i in range(3 * rows)],
                     "date": pa.array([datetime.date(2020, 2, 1)] * (3 * rows), pa.date32()),
                     "test": ["PLT", " plt", "HGB"] * rows, "value": [50.0] * (3 * rows)})
    for name, t in (("patients", patients), ("labs", labs)):
        pq.write_table(t, tmp_path / f"{name}.parquet")
    cohort = load(tmp_path)
    typed = cohort.tables.get("labs")
    assert isinstance(typed["patient_id"].dtype, pd.CategoricalDtype)
    assert isinstance(typed["test"].dtype, pd.CategoricalDtype)
    # " plt" reads as the code PLT: the categories are the codes, each once.
    assert sorted(typed["test"].cat.categories) == ["HGB", "PLT"]
    assert typed["test"].value_counts().to_dict() == {"PLT": 2 * rows, "HGB": rows}
    assert typed["patient_id"].astype(str).tolist() == [f"P{i % rows}" for i in range(3 * rows)]
    assert len(cohort.endpoints) == rows


def test_a_long_cell_in_a_dictionary_is_found_where_a_row_uses_it():
    long = "x" * (FILE_LIMITS.cell_chars + 1)
    ids = ["P1", "P2", long, "P4"]
    data = _parquet(pa.table({"patient_id": pa.array(ids).dictionary_encode(), "age": [1.0] * 4}))
    with pytest.raises(schema.CohortError) as err:
        read_cohort_bytes("patients.parquet", data, FILE_LIMITS)
    assert f"row 4: {len(long):,} characters" in str(err.value)


def test_a_long_value_no_row_uses_is_not_a_long_cell():
    long = "x" * (FILE_LIMITS.cell_chars + 1)
    column = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int32()), pa.array(["P1", "P2", long]))
    data = _parquet(pa.table({"patient_id": column, "age": [1.0, 2.0, 3.0]}))
    raw = read_cohort_bytes("patients.parquet", data, FILE_LIMITS)
    assert raw.tables["patients"]["patient_id"].astype(str).tolist() == ["P1", "P2", "P1"]


@pytest.mark.parametrize("seed", range(5))
def test_patient_numbers_equal_get_indexer(seed):
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"P{i}" for i in rng.permutation(50)], dtype="string")
    values = [f"P{i}" if i < 60 else None for i in rng.integers(0, 70, 400)]  # orphans P50–P59, missing ids
    column = pd.Series(pd.Categorical(values, categories=[f"P{i}" for i in range(75)]))  # unused categories too
    expected = ids.get_indexer(pd.Series(values, dtype=object))
    assert schema.patient_numbers(column, ids).tolist() == expected.tolist()


def _random_visits(rng, n: int, ids: list) -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": rng.choice(ids, n),
        "date": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 40, n), unit="D"),
        "value": rng.normal(100, 30, n).round(0),
    })


@pytest.mark.parametrize("seed", range(6))
def test_latest_before_equals_merge_asof(seed):
    rng = np.random.default_rng(seed)
    ids = [f"P{i}" for i in range(12)] if seed % 2 else list(range(12))
    left = _random_visits(rng, 300, ids)
    right = _random_visits(rng, 200, ids)  # same-day duplicates included: the last in table order counts
    window = int(rng.integers(0, 9))
    # The pandas operation this replaces, as criteria used it before.
    l = left[["patient_id", "date"]].assign(_pos=np.arange(len(left))).sort_values("date", kind="stable")
    r = right.sort_values("date", kind="stable")
    m = pd.merge_asof(l.assign(patient_id=l["patient_id"].astype(object)),
                      r.assign(patient_id=r["patient_id"].astype(object)), on="date", by="patient_id",
                      direction="backward", tolerance=pd.Timedelta(days=window))
    expected = np.full(len(left), np.nan)
    expected[m["_pos"].to_numpy()] = m["value"].to_numpy(float)
    np.testing.assert_array_equal(criteria._latest_before(left, right, "value", window), expected)


@pytest.mark.parametrize("seed", range(6))
def test_daily_equals_grouping_by_patient_and_day(seed):
    rng = np.random.default_rng(seed)
    ids = [f"P{i}" for i in range(15)] if seed % 2 else list(range(15))
    levels = _random_visits(rng, 500, ids).assign(level=rng.integers(0, 3, 500).astype("int8"),
                                                  hold=rng.integers(0, 3, 500).astype("int8")).drop(columns="value")
    if seed == 4:  # times of day: the dates are ranked, not counted in days
        levels["date"] += pd.to_timedelta(rng.integers(0, 3, 500), unit="h")
    expected = levels.groupby(["patient_id", "date"], sort=True)[["level", "hold"]].min().reset_index()
    pd.testing.assert_frame_equal(criteria._daily(levels), expected)


@pytest.mark.parametrize("seed", range(6))
def test_run_sums_equal_pandas_grouped_sum_to_the_bit(seed):
    """Dose changes summed per (patient, day): runs of one to many values over eight orders of
    magnitude, where Kahan compensation changes the last bits of long runs."""
    from analysis.derive import _run_sums

    rng = np.random.default_rng(seed)
    n = 4000
    values = rng.normal(size=n) * 10.0 ** rng.integers(-3, 6, size=n)
    new_run = rng.random(n) < (0.2, 0.5, 0.9)[seed % 3]
    new_run[0] = True
    expected = pd.Series(values).groupby(np.cumsum(new_run) - 1, sort=False).sum().to_numpy()
    got = _run_sums(values, np.flatnonzero(new_run))
    assert np.array_equal(got, expected)
    assert len(_run_sums(values[:0], np.zeros(0, dtype=np.int64))) == 0


def test_the_shipped_endpoints_are_those_the_code_before_the_columnar_pipeline_derived(shipped):
    """tests/golden/shipped-endpoints.parquet was written by `python -m analysis endpoints data/cohort`
    at ed994ea, before issue 15. Every column and every dtype must still be the same."""
    pd.testing.assert_frame_equal(endpoints_table(shipped), pd.read_parquet(GOLDEN))


@pytest.mark.parametrize("per_chunk", [1, 7, 100])
def test_endpoints_derived_in_chunks_of_patients_are_those_of_one_pass(shipped, monkeypatch, per_chunk):
    """A large cohort's lab courses are derived a chunk of patients at a time (derive.PATIENTS_PER_CHUNK);
    here the shipped cohort is cut into chunks of 1, 7 and 100 patients — chunks with no labs,
    no responders, one diagnosis — and every endpoint, dtype and problem must be as one pass gave."""
    from analysis import derive as derivation

    whole = derivation.derive(shipped.tables)
    monkeypatch.setattr(derivation, "PATIENTS_PER_CHUNK", per_chunk)
    monkeypatch.setattr(derivation, "SEGMENTS_PER_CHUNK", per_chunk * 5)  # the steroid sums, whole patients at a time
    chunked = derivation.derive(shipped.tables)
    pd.testing.assert_frame_equal(chunked.patients, whole.patients)
    pd.testing.assert_frame_equal(chunked.steroid_segments, whole.steroid_segments)
    assert chunked.problems == whole.problems


def test_a_time_of_day_anywhere_in_a_date_column_is_found_block_by_block():
    """Dates are normalised only when some value is not at midnight (schema._all_midnight looks a
    block at a time); a time of day in a later block, next to missing dates, must still be found."""
    times = pd.Series(pd.to_datetime(["2020-01-01", None, "2021-05-03", None, "2021-05-04 13:30", "2021-05-05"], format="mixed"))
    ns = times.to_numpy().view(np.int64)
    assert not schema._all_midnight(ns, block=2)
    assert not schema._all_midnight(ns)
    assert schema._all_midnight(np.delete(ns, 4), block=2)
    assert schema._all_midnight(ns[:0])


@pytest.mark.parametrize("per_check", [1, 3, 1000])
def test_dates_checked_a_block_of_rows_at_a_time_give_the_same_problems(shipped, monkeypatch, per_check):
    """Each child row's date is compared with its patient's treatment start and last follow-up
    schema.ROWS_PER_CHECK rows at a time; a cohort with dates out of range in every child table
    (and a row whose patient is unknown) must get the same sentences naming the same rows."""
    frames = {name: shipped.tables.get(name).copy() for name in ("patients", "labs", "steroid_doses",
                                                                       "tacrolimus", "adverse_events")}
    day = pd.Timedelta(days=1)
    frames["labs"].loc[[3, 50, 51], "date"] -= pd.Timedelta(days=400)
    frames["labs"].loc[[7], "date"] += pd.Timedelta(days=4000)
    frames["steroid_doses"].loc[[2, 9], "end_date"] += pd.Timedelta(days=4000)
    frames["tacrolimus"].loc[[0, 4], "date"] -= pd.Timedelta(days=4000)
    frames["adverse_events"].loc[[1], "onset_date"] += pd.Timedelta(days=4000) + day
    frames["labs"]["patient_id"] = frames["labs"]["patient_id"].astype(object)
    frames["labs"].loc[[11], "patient_id"] = "NOT-A-PATIENT"
    whole = schema.validate(dict(frames))[1]
    monkeypatch.setattr(schema, "ROWS_PER_CHECK", per_check)
    blocks = schema.validate(dict(frames))[1]
    assert blocks.problems == whole.problems
    sentences = " ".join(p.message for p in whole.problems)
    for phrase in ("before treatment_start", "after the patient's last_follow_up", "before the patient's treatment_start",
                   "not in the patients table"):
        assert phrase in sentences


@pytest.mark.parametrize("dtype", ["string", object])
def test_patient_numbers_when_the_categories_are_the_patients_ids(dtype, monkeypatch):
    """A visit table read with the patients' ids as its categories, in their order, takes the
    codes as positions; a missing id stays −1, and categories in another order are looked up."""
    rng = np.random.default_rng(4)
    ids = pd.Index([f"P{i}" for i in rng.permutation(50)], dtype=dtype)
    values = [ids[i] if i < 50 else None for i in rng.integers(0, 55, 400)]
    expected = ids.get_indexer(pd.Series(values, dtype=object))
    same = pd.Series(pd.Categorical(values, categories=list(ids)))
    with monkeypatch.context() as m:  # the ids in order are not looked up (a million take 0.3–0.4 s)
        m.setattr(pd.Index, "get_indexer", lambda *a, **k: pytest.fail("looked up"))
        assert schema.patient_numbers(same, ids).tolist() == expected.tolist()
    shuffled = pd.Series(pd.Categorical(values, categories=list(ids[::-1])))
    assert schema.patient_numbers(shuffled, ids).tolist() == expected.tolist()
