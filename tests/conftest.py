"""Shared fixtures: the shipped cohort, a builder for small hand-made cohorts, and the project's
image for the container tests (tests/container, run by `make container-test` with CONTAINER_TEST=1;
not collected otherwise)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis import cohort as cohort_mod

CONTAINER_TESTS = Path(__file__).resolve().parent / "container"
if os.environ.get("CONTAINER_TEST"):
    sys.path.insert(0, str(CONTAINER_TESTS))  # container_support
    for tool in ("podman", "debootstrap", "runc"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.exit(f"{tool} is missing: apt-get install podman runc debootstrap", returncode=1)
else:
    collect_ignore_glob = ["container/*"]


@pytest.fixture(scope="session")
def image():
    """The real Dockerfile built once for every container test (podman on a local Debian base;
    registries are out of reach; the recipe is in ../shared/TESTING.md), removed after."""
    from container_support import IMAGE, build_image

    yield build_image(IMAGE)
    subprocess.run(["podman", "rmi", "-f", IMAGE], capture_output=True)


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
