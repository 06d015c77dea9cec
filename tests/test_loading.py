"""Loading a cohort says what it is doing and how long each step took: the steps reported in
order by analysis.cohort.load, the page's progress while a cohort not yet in memory is read, and
the Data page's timings."""

from __future__ import annotations

import shutil
from pathlib import Path

from analysis.cohort import CHECKING, DEFAULT_COHORT, DERIVING, READING, load

ROOT = Path(__file__).resolve().parent.parent


def test_load_reports_its_steps_in_order_and_times_them():
    seen = []
    c = load(DEFAULT_COHORT, progress=lambda step, number, of: seen.append((step, number, of)))
    assert seen == [(READING, 1, 3), (CHECKING, 2, 3), (DERIVING, 3, 3)]
    assert list(c.timings) == [READING, CHECKING, DERIVING] and all(v > 0 for v in c.timings.values())


def test_the_page_shows_the_steps_and_the_data_page_the_times(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from views import view

    cohort = tmp_path / "cohort"  # a path no other test has loaded: read while the page waits
    shutil.copytree(DEFAULT_COHORT, cohort)
    monkeypatch.setenv("COHORT_PATH", str(cohort))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    labels = [s.label for s in at.status]
    assert any(label.startswith("Cohort loaded in ") and label.endswith(" s") for label in labels), labels
    at.switch_page(str(view("data").path)).run()
    captions = " ".join(c.value for c in at.caption)
    assert "Loaded in reading the cohort's files" in captions and "s in all" in captions
