"""Reading cohorts in every accepted shape, and a sentence (never a traceback) for bad files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis import cohort as cohort_mod
from analysis.io import read_cohort, read_cohort_bytes
from analysis.schema import CohortError
from testkit.files import xlsx_bytes, zip_bytes

SHIPPED = cohort_mod.DEFAULT_COHORT


def shipped_frames() -> dict[str, pd.DataFrame]:
    return {f.stem: pd.read_parquet(f) for f in sorted(SHIPPED.glob("*.parquet"))}


def test_folder_of_parquet(shipped):
    assert len(shipped.endpoints) == 318
    assert shipped.synthetic and "Zhang" in shipped.name
    assert len(shipped.sha256) == 64


def test_the_same_cohort_reads_the_same_from_every_shape(shipped, tmp_path):
    frames = shipped_frames()
    parquet = {f"{name}.parquet": (SHIPPED / f"{name}.parquet").read_bytes() for name in frames}
    from_zip = cohort_mod.from_bytes("cohort.zip", zip_bytes(parquet))
    from_xlsx = cohort_mod.from_bytes("cohort.xlsx", xlsx_bytes(frames))
    for other in (from_zip, from_xlsx):
        pd.testing.assert_frame_equal(
            other.endpoints.drop(columns=[]).reset_index(drop=True),
            shipped.endpoints.reset_index(drop=True),
            check_dtype=False,
        )


def test_one_csv_of_patients_with_recorded_endpoints():
    csv = (
        "\ufeffPatient ID;Arm;Diagnosis;Sex;Age;Treatment start;Last follow-up;Best response;Response date;Relapse date\n"
        "A1;tacrolimus;ITP;F;44;2020-01-01;2021-01-01;CR;2020-01-20;\n"
        "A2;control;AIHA;M;60;2020-02-01;2021-02-01;PR;2020-03-01;2020-09-01\n"
    ).encode("utf-8")
    c = cohort_mod.from_bytes("patients.csv", csv)
    e = c.endpoints.set_index("patient_id")
    assert list(e["endpoint_source"]) == ["recorded", "recorded"]
    assert e.loc["A2", "relapsed"] == True  # noqa: E712
    assert e.loc["A1", "rfs_months"] == pytest.approx(347 / 30.4375)


def test_one_parquet_file_of_patients(tmp_path):
    df = pd.DataFrame({"patient_id": ["A1"], "arm": ["control"], "diagnosis": ["ITP"], "sex": ["F"], "age": [50],
                       "treatment_start": pd.to_datetime(["2020-01-01"]), "last_follow_up": pd.to_datetime(["2020-12-01"]),
                       "best_response": ["NR"]})
    path = tmp_path / "mine.parquet"
    df.to_parquet(path)
    c = cohort_mod.load(path)
    assert c.name == "mine" and not c.synthetic and c.endpoints.loc[0, "best_response"] == "NR"


def test_excel_ids_typed_as_numbers_stay_ids():
    frames = {"patients": pd.DataFrame({"patient_id": [1001, 1002], "arm": ["control", "tacrolimus"],
                                        "diagnosis": ["ITP", "ITP"], "sex": ["F", "M"], "age": [30, 40],
                                        "treatment_start": pd.to_datetime(["2020-01-01"] * 2),
                                        "last_follow_up": pd.to_datetime(["2021-01-01"] * 2),
                                        "best_response": ["CR", "NR"]})}
    c = cohort_mod.from_bytes("ids.xlsx", xlsx_bytes(frames))
    assert list(c.endpoints["patient_id"]) == ["1001", "1002"]


def test_extra_sheets_are_ignored_with_a_warning():
    frames = shipped_frames()
    frames["Notes"] = pd.DataFrame({"x": [1]})
    c = cohort_mod.from_bytes("with-notes.xlsx", xlsx_bytes(frames))
    assert any("'Notes'" in w.message and "ignored" in w.message for w in c.report.warnings)


def error_of(filename: str, data: bytes) -> str:
    with pytest.raises(CohortError) as info:
        cohort_mod.from_bytes(filename, data)
    message = str(info.value)
    assert "Traceback" not in message
    return message


@pytest.mark.parametrize("filename,data,needle", [
    ("empty.xlsx", b"", "is empty"),
    ("empty.csv", b"", "is empty"),
    ("blank.csv", b"\n\n  \n", "is empty"),
    ("notes.txt.parquet", b"hello, this is not parquet", "not a Parquet file"),
    ("cut.parquet", (SHIPPED / "patients.parquet").read_bytes()[:3000], "truncated or damaged"),
    ("image.xlsx", b"\x89PNG\r\n\x1a\n" + b"0" * 100, "not an Excel .xlsx workbook"),
    ("old.xls", b"\xd0\xcf\x11\xe0" + b"0" * 100, "old-style Excel"),
    ("photo.jpg", b"\xff\xd8\xff", "not a cohort file"),
    ("binary.csv", b"\x00\x01\x02abc", "not a CSV text file"),
    ("latin1.csv", "patient_id;âge\nA;é\n".encode("latin-1"), "not UTF-8"),
    ("broken.zip", b"PK\x03\x04garbage", "not a readable .zip"),
])
def test_bad_files_get_a_sentence(filename, data, needle):
    assert needle in error_of(filename, data)


def test_zip_of_the_wrong_things():
    msg = error_of("stuff.zip", zip_bytes({"holiday.png": b"\x89PNG", "notes.docx": b"PK"}))
    assert "no Parquet or CSV files named after the cohort tables" in msg and "holiday.png" in msg


def test_wrong_sheet_names_are_listed():
    frames = shipped_frames()
    msg = error_of("renamed.xlsx", xlsx_bytes({"Sheet1": frames["patients"], "Sheet2": frames["labs"]}))
    assert "no 'patients' sheet" in msg and "'Sheet1'" in msg and "'Sheet2'" in msg


def test_folder_without_tables(tmp_path):
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(CohortError, match="holds no Parquet or CSV tables"):
        read_cohort(tmp_path)


def test_content_hash_follows_content(tmp_path):
    a = read_cohort_bytes("a.csv", b"patient_id,arm\nA,control\n")
    b = read_cohort_bytes("b.csv", b"patient_id,arm\nA,control\n")
    c = read_cohort_bytes("a.csv", b"patient_id,arm\nA,tacrolimus\n")
    assert a.sha256 == b.sha256 != c.sha256


def test_rows_are_numbered_as_in_a_spreadsheet():
    raw = read_cohort_bytes("p.csv", b"patient_id,arm\nA,control\nB,control\n")
    assert list(raw.tables["patients"].index) == [2, 3]


def test_nothing_is_written_to_disk_when_reading_an_upload(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(Path(tmp_path).rglob("*"))
    cohort_mod.from_bytes("cohort.xlsx", xlsx_bytes(shipped_frames()))
    assert set(Path(tmp_path).rglob("*")) == before


def _parquet(frame: pd.DataFrame) -> bytes:
    import io

    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def test_a_file_on_disk_decoded_two_columns_at_a_time_reads_as_one_at_a_time(shipped):
    """A file of more than one batch has its columns decoded on two threads (io.FILE_LIMITS);
    every column, dtype and row is as one thread reads it, and a damaged column is named as
    one thread names it: the first."""
    import dataclasses

    from analysis.io import FILE_LIMITS, _read_parquet

    labs = shipped.tables.get("labs")
    data = _parquet(labs)
    small = dataclasses.replace(FILE_LIMITS, batch_rows=1000)  # 16 batches a column
    assert small.threads == 2
    two = _read_parquet(data, "labs.parquet", small)
    one = _read_parquet(data, "labs.parquet", dataclasses.replace(small, threads=1))
    pd.testing.assert_frame_equal(two, one, check_exact=True)
    assert isinstance(two["patient_id"].dtype, pd.CategoricalDtype)
    long = labs.assign(patient_id=labs["patient_id"].astype(str), test=labs["test"].astype(str))
    long.loc[5000, "test"] = "x" * 2000
    long.loc[9000, "patient_id"] = "y" * 3000
    messages = []
    for limits in (small, dataclasses.replace(small, threads=1)):
        with pytest.raises(CohortError) as err:
            _read_parquet(_parquet(long), "labs.parquet", limits)
        messages.append(str(err.value))
    assert messages[0] == messages[1] and "column 'patient_id', row 9,002" in messages[0], messages
