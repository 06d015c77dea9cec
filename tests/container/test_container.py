"""The real Dockerfile, built with podman on a local Debian base and run: it becomes healthy, runs
as a non-root user, holds no tests or .git, has the hardened settings in effect (tests/hardening.py)
and serves the Overview in Chromium without an exception. Everything it starts is removed. Run with
`make container-test` (CONTAINER_TEST=1); the recipe is in ../shared/TESTING.md (podman + runc;
debootstrap because registries are out of reach)."""

from __future__ import annotations

import asyncio
import subprocess
from contextlib import contextmanager

import pytest

import hardening
from container_support import READ_ONLY, ROOT, RUNC, ULIMITS, sh  # the image fixture: conftest.py
from testkit.browser_support import free_port, launch, settle, wait_healthy


@contextmanager
def running(image: str, *run_args: str):
    """Start the image (extra `podman run` arguments before it), wait for health, remove it after."""
    port = free_port()
    cid = sh("podman", *RUNC, "run", "-d", "--network", "host", *ULIMITS, *run_args, image,
             f"--server.port={port}").stdout.strip()
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_healthy(url, 90):
            logs = subprocess.run(["podman", "logs", cid], capture_output=True, text=True).stdout
            raise AssertionError(f"the container did not become healthy in 90 s:\n{logs[-2000:]}")
        yield cid, url
    finally:
        subprocess.run(["podman", *RUNC, "rm", "-f", cid], capture_output=True)


@pytest.fixture(scope="module")
def container(image):
    with running(image, *READ_ONLY) as started:
        yield started


def test_an_upload_is_read_in_the_read_only_container(container):
    """The upload reader's helper and child run inside the image, on a read-only root file system."""
    from testkit.files import shipped_subset, xlsx_bytes
    from testkit.st_client import Session

    _, url = container

    async def upload():
        tab = await Session.open(url)
        await tab.run()
        await tab.run(page="data")
        run = await tab.upload("Cohort file", "department.xlsx", xlsx_bytes(shipped_subset(120)))
        await tab.close()
        return run

    run = asyncio.run(upload())
    assert not run.exceptions and "n = 120 of 120 patients" in run.plain


def test_a_cohort_mounted_read_only_is_served(image, tmp_path):
    """The README's line: -v /srv/cohort:/data:ro -e COHORT_PATH=/data (here 120 patients)."""
    from testkit.files import shipped_subset
    from testkit.st_client import one_run

    cohort = tmp_path / "cohort"
    cohort.mkdir()
    for name, df in shipped_subset(120).items():
        df.to_parquet(cohort / f"{name}.parquet", index=False)
    cohort.chmod(0o755)
    for f in cohort.iterdir():
        f.chmod(0o644)

    with running(image, *READ_ONLY, "-v", f"{cohort}:/data:ro", "-e", "COHORT_PATH=/data") as (cid, url):
        run = asyncio.run(one_run(url))
        assert not run.exceptions
        assert "n = 120 of 120 patients" in run.text
        assert "Synthetic data" not in run.text  # a department's cohort, not the shipped one
        write = subprocess.run(["podman", *RUNC, "exec", cid, "touch", "/data/x"], capture_output=True, text=True)
        assert write.returncode != 0  # read-only inside the container


def test_runs_as_non_root_with_only_the_app(container):
    cid, _ = container
    assert sh("podman", *RUNC, "exec", cid, "id", "-u").stdout.strip() == "10001"
    listing = set(sh("podman", *RUNC, "exec", cid, "ls", "-A", "/app").stdout.split())
    assert {"server.py", "app.py", "analysis", "hosting", "views", "data", ".streamlit"} <= listing
    assert not listing & {"tests", ".git", "bench", ".venv", "Makefile"}


def test_hardened_settings_in_effect(container):
    """The entry point's flags as the running container applies them (tests/hardening.py)."""
    cid, url = container
    logs = subprocess.run(["podman", "logs", cid], capture_output=True, text=True)
    assert hardening.startup_problems(logs.stdout + logs.stderr) == []
    assert hardening.problems(url, address="0.0.0.0") == []


def test_health_check_is_declared(image):
    import json

    info = json.loads(sh("podman", "image", "inspect", image).stdout)[0]
    health = json.dumps(info.get("Healthcheck") or info.get("HealthCheck") or info.get("Config", {}).get("Healthcheck") or {})
    assert "_stcore/health" in health and "urllib" in health


def test_overview_renders_in_chromium(container):
    from playwright.sync_api import sync_playwright

    _, url = container
    with sync_playwright() as p:
        b = launch(p)
        pg = b.new_page(viewport={"width": 1440, "height": 1000})
        pg.goto(url)
        settle(pg)
        assert pg.locator("h1").first.inner_text() == "Tacrolimus + steroid vs steroid alone"
        assert pg.get_by_test_id("stException").count() == 0
        assert "n = 318 of 318 patients" in pg.get_by_test_id("stSidebar").inner_text()
        shots = ROOT / "artifacts" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(shots / "container-overview.png"), full_page=True)
        b.close()


def test_the_slide_deck_is_drawn_in_the_read_only_container(image, container):
    """The PowerPoint deck's figures are drawn by the image's own Chromium, as the non-root user, on
    a read-only root file system; the layer that installs it is measured for the README."""
    import io

    from pptx import Presentation

    from testkit.st_client import Session

    _, url = container

    async def fetch():
        tab = await Session.open(url)
        try:
            await tab.run()
            run = await tab.run(page="data")
            return tab.get(run.links["Slides (PowerPoint)"])
        finally:
            await tab.close()

    status, body, _ = asyncio.run(fetch())
    assert status == 200, body[:300]
    pictures = [sh for s in Presentation(io.BytesIO(body)).slides for sh in s.shapes if sh.shape_type == 13]
    assert len(pictures) == 9 and all(len(p.image.blob) > 20_000 for p in pictures)
    history = sh("podman", "history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", image).stdout
    layer = next((line for line in history.splitlines() if "install" in line and "chromium" in line), "")
    assert layer, history[:2000]
    size = sh("podman", "image", "inspect", "--format", "{{.Size}}", image).stdout.strip()
    out = ROOT / "artifacts" / "container-image.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"image {int(size) / 1e6:.0f} MB; Chromium layer {layer.split(chr(9))[0]}\n")
