"""What the tests and benchmarks that run the app share: a free port, starting the app as `make
run` does and waiting for its health, a copy of the app's files, Debian's Chromium with the flags
this network needs, and waiting for a Streamlit page to settle."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_FILES = ("app.py", "analysis", "pages", "data", ".streamlit")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the networking flags Chromium keeps trying hosts this machine cannot reach.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                return True
        except OSError:
            time.sleep(0.5)
    return False


@dataclass(frozen=True)
class Served:
    url: str
    pid: int


@contextmanager
def serving(log: Path, *flags: str, cwd: Path = ROOT, env: dict[str, str] | None = None, port: int | None = None):
    """`streamlit run app.py --server.port P [flags]` from `cwd`, as `make run` starts it, so
    .streamlit/config.toml decides everything not in `flags`; on the shipped cohort and with
    sign-in off unless `env` says otherwise. Output goes to `log`. Stopped on exit."""
    port = port or free_port()
    full_env = {**os.environ, "COHORT_PATH": ""}
    full_env.pop("DASHBOARD_LOGIN", None)
    full_env.update(env or {})
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), *flags],
                                cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_healthy(url, 60):
            raise RuntimeError(f"the app did not become healthy in 60 s:\n{log.read_text()[-2000:]}")
        yield Served(url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def copy_app(dest: Path) -> Path:
    """The app's files in a folder of their own, for a test that edits them or adds secrets."""
    for name in APP_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def settle(pg) -> None:
    """Wait until the app is drawn and its script has finished running."""
    pg.wait_for_selector('[data-testid="stApp"]', timeout=60000)
    pg.wait_for_timeout(500)
    pg.wait_for_selector('[data-test-script-state="notRunning"]', timeout=60000)
    pg.wait_for_timeout(1200)
