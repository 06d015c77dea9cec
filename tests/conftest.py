"""Shared fixtures: the shipped cohort, and a builder for small hand-made cohorts."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import cohort as cohort_mod


@pytest.fixture(scope="session")
def shipped():
    return cohort_mod.load(cohort_mod.DEFAULT_COHORT)


def patient(pid: str = "P1", arm: str = "control", diagnosis: str = "ITP", sex: str = "F", age: float = 40,
            start: str = "2020-01-01", last: str = "2021-01-01", **extra) -> dict:
    return {"patient_id": pid, "arm": arm, "diagnosis": diagnosis, "sex": sex, "age": age,
            "treatment_start": start, "last_follow_up": last, **extra}


def lab(pid: str, date: str, test: str, value: float, **extra) -> dict:
    return {"patient_id": pid, "date": date, "test": test, "value": value, **extra}


def frames(patients: list[dict], **tables: list[dict]) -> dict[str, pd.DataFrame]:
    """Raw tables as a reader would return them (strings for dates, like a CSV)."""
    out = {"patients": pd.DataFrame(patients)}
    for name, rows in tables.items():
        out[name] = pd.DataFrame(rows)
    return out


def series(pid: str, start: str, days_values: list[tuple[int, float]], test: str = "PLT", **extra) -> list[dict]:
    """Lab rows at day offsets from `start`."""
    base = pd.Timestamp(start)
    return [lab(pid, (base + pd.Timedelta(days=d)).date().isoformat(), test, v, **extra) for d, v in days_values]
