"""What the container tests share: the image's names, podman with runc, and a shell helper."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE = "localhost/debian-python:bookworm"
IMAGE = "localhost/tacrolimus-dashboard:test"
RUNC = ["--runtime", shutil.which("runc") or "/usr/sbin/runc"]
# runc in this sandbox cannot raise limits above the session's: give the container explicit ones.
ULIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
READ_ONLY = ("--read-only", "--tmpfs", "/tmp")  # as the README runs it


def sh(*args: str, timeout: int = 900, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=True, capture_output=True, text=True, timeout=timeout, **kw)
