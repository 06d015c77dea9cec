"""The corpus of broken cohorts (tests/corpus/cases.csv, written by make_corpus.py): through the
validator and through the upload path, each gives the sentence its line promises, never a
traceback; files that are not broken load with a warning."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cohort import check, from_bytes
from analysis.schema import CohortError
from testkit.files import shipped_subset, xlsx_bytes

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = list(csv.DictReader(open(CORPUS / "cases.csv", encoding="utf-8")))
LOADS = {"unicode-names.csv"}  # not broken: loads, with a warning


def test_the_corpus_is_large_enough_and_complete():
    assert len(CASES) >= 40
    for case in CASES:
        assert (CORPUS / case["file"]).exists(), case["file"]


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_validator_says_what_is_wrong(case):
    report = check(CORPUS / case["file"])
    text = report.to_text()
    assert case["the user is told"] in text, text
    assert "Traceback" not in text
    assert report.ok == (case["file"] in LOADS)


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_upload_says_the_same(case):
    data = (CORPUS / case["file"]).read_bytes()
    if case["file"] in LOADS:
        cohort = from_bytes(case["file"], data)
        assert any(case["the user is told"] in w.message for w in cohort.report.warnings)
        return
    with pytest.raises(CohortError) as info:
        from_bytes(case["file"], data)
    messages = " ".join(p.message for p in info.value.report.problems)
    assert case["the user is told"] in messages


def test_a_million_patients_with_one_bad_row(tmp_path):
    n = 1_000_000
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "patient_id": [f"P{i:07d}" for i in range(n)],
        "arm": np.where(rng.random(n) < 0.5, "tacrolimus", "control"),
        "diagnosis": "ITP", "sex": "F", "age": rng.integers(14, 90, n),
        "treatment_start": "2020-01-01", "last_follow_up": "2021-01-01", "best_response": "NR",
    })
    df.loc[765_432, "age"] = -1
    path = tmp_path / "patients.csv"
    df.to_csv(path, index=False)
    report = check(path)
    assert len(report.errors) == 1
    assert "negative values in 1 row (row 765434 (P0765432): -1)" in report.errors[0].message


def test_the_app_refuses_each_file_and_keeps_the_cohort_in_use():
    """Every broken file through the Data page's uploader, one after another in one session that
    has loaded a cohort of its own: each is refused with its sentence and no exception, and the
    cohort in use (120 patients) stays, through to the Overview at the end."""
    from test_pages import PAGES, fresh

    at = fresh().run()
    at.switch_page(PAGES[-1]).run()
    at.file_uploader(key="upload").set_value(("department.xlsx", xlsx_bytes(shipped_subset(120)), "application/octet-stream")).run()
    in_use = "n = 120 of 120 patients"

    def sidebar() -> str:
        return " ".join(m.value for m in at.sidebar.markdown).replace("**", "")

    assert in_use in sidebar()
    for case in CASES:
        if case["file"] in LOADS:
            continue
        at.file_uploader(key="upload").set_value(
            (case["file"], (CORPUS / case["file"]).read_bytes(), "application/octet-stream")).run()
        name = case["file"]
        assert not at.exception, name
        errors = [e.value.replace("\\", "") for e in at.error]
        assert any(f"{name} was not loaded" in e and "The cohort in use has not changed" in e for e in errors), (name, errors)
        problems = " ".join(at.table[0].value["problem"]).replace("\\", "")
        assert case["the user is told"] in problems, (name, problems)
        assert in_use in sidebar(), name
    at.switch_page(PAGES[0]).run()
    assert not at.exception
    assert in_use in sidebar() and "Patients" in [m.label for m in at.metric]
