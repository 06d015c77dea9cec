"""`python -m analysis validate` and `synth` as a person runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_validate_shipped_cohort():
    r = run("validate")
    assert r.returncode == 0 and "No problems found" in r.stdout


def test_validate_broken_cohort_exits_non_zero_with_sentences(tmp_path):
    bad = tmp_path / "patients.csv"
    bad.write_text("patient_id,arm,diagnosis,sex,age,treatment_start,last_follow_up\nA,placebo,ITP,F,-4,2020-01-01,2019-01-01\n")
    r = run("validate", str(bad))
    assert r.returncode == 1
    assert "'arm'" in r.stdout and "'placebo'" in r.stdout and "negative" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_validate_not_a_table(tmp_path):
    junk = tmp_path / "cohort.xlsx"
    junk.write_bytes(b"\x00" * 100)
    r = run("validate", str(junk))
    assert r.returncode == 1 and "not an Excel .xlsx workbook" in r.stdout and "Traceback" not in r.stderr


def test_synth_writes_a_valid_cohort(tmp_path):
    r = run("synth", "--patients", "40", "--seed", "9", "--out", str(tmp_path / "c"))
    assert r.returncode == 0, r.stderr
    assert run("validate", str(tmp_path / "c")).returncode == 0
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "adverse_events.parquet", "cohort.json", "labs.parquet", "patients.parquet", "steroid_doses.parquet", "tacrolimus.parquet",
    ]
