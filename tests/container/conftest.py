"""The real Dockerfile built once for every container test (test_container.py, test_scale.py):
podman on a local Debian base (registries are out of reach; the recipe is in ../shared/TESTING.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from container_support import BASE, IMAGE, ROOT, sh  # noqa: E402

if not os.environ.get("CONTAINER_TEST"):
    collect_ignore_glob = ["test_*.py"]
else:
    for tool in ("podman", "debootstrap", "runc"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.exit(f"{tool} is missing: apt-get install podman runc debootstrap", returncode=1)


@pytest.fixture(scope="session")
def image():
    if subprocess.run(["podman", "image", "exists", BASE]).returncode != 0:
        with tempfile.TemporaryDirectory() as rootfs:
            sh("debootstrap", "--variant=minbase", "--include=python3,python3-venv,python3-pip,ca-certificates",
               "bookworm", rootfs, timeout=1200)
            tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
            subprocess.run(["podman", "import", "-", BASE], stdin=tar.stdout, check=True, capture_output=True)
            tar.wait()
    certs = "/etc/ssl/certs/ca-certificates.crt"
    volume = ["-v", f"{certs}:{certs}:ro"] if Path(certs).exists() else []
    sh("podman", "build", "--format", "docker", "--isolation", "chroot", "--build-arg", f"BASE_IMAGE={BASE}",
       *volume, "-t", IMAGE, str(ROOT), timeout=1800)
    yield IMAGE
    subprocess.run(["podman", "rmi", "-f", IMAGE], capture_output=True)
