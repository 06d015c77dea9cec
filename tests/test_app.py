"""The app starts on the configured cohort, and explains a broken one (AppTest, no browser)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def test_app_shows_the_shipped_cohort(monkeypatch):
    monkeypatch.delenv("COHORT_PATH", raising=False)
    at = AppTest.from_string((ROOT / "app.py").read_text(encoding="utf-8"), default_timeout=60).run()
    assert not at.exception
    patients = [m.value for m in at.metric if m.label == "Patients"]
    assert patients == ["144", "174"]  # tacrolimus row, then control row
    assert any("Synthetic data" in i.value for i in at.info)


def test_app_explains_a_broken_cohort_without_a_traceback(monkeypatch, tmp_path):
    bad = tmp_path / "patients.csv"
    bad.write_text("patient_id,arm\nA,placebo\n")
    monkeypatch.setenv("COHORT_PATH", str(bad))
    at = AppTest.from_string((ROOT / "app.py").read_text(encoding="utf-8"), default_timeout=60).run()
    assert not at.exception
    assert "could not be loaded" in at.error[0].value and "COHORT_PATH" in at.error[0].value
    problems = at.table[0].value
    assert problems["problem"].str.contains("required columns").any()
