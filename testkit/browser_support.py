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
APP_FILES = ("server.py", "app.py", "analysis", "hosting", "views", "data", ".streamlit")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the networking flags Chromium keeps trying hosts this machine cannot reach.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def require_chromium() -> None:
    """Skip the calling test module when Debian's Chromium is not installed; in CI, fail instead
    (.ci/run must install it)."""
    import os

    import pytest

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing in CI: .ci/run must install Debian's chromium", pytrace=False)
        pytest.skip("Chromium is not installed (apt-get install chromium); browser tests skipped",
                    allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, seconds: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:  # the server has exited
            return False
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
def serving(log: Path, *flags: str, cwd: Path = ROOT, env: dict[str, str] | None = None, port: int | None = None,
            script: str = "server.py"):
    """`streamlit run server.py --server.port P [flags]` from `cwd`, as `make run` starts it, so
    .streamlit/config.toml decides everything not in `flags`; on the shipped cohort and with
    sign-in off unless `env` says otherwise. Output goes to `log`. Stopped on exit."""
    port = port or free_port()
    full_env = {**os.environ, "COHORT_PATH": ""}
    full_env.pop("DASHBOARD_LOGIN", None)
    full_env.update(env or {})
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port), *flags],
                                cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_healthy(url, 60, proc):
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
    """Wait until the app is drawn, its script has finished running and every figure is drawn
    (Plotly draws a page's figures about 1.4 s after the script ends on this machine, later under
    load: a print or a screenshot taken before would miss them)."""
    pg.wait_for_selector('[data-testid="stApp"]', timeout=60000)
    pg.wait_for_timeout(500)
    pg.wait_for_selector('[data-test-script-state="notRunning"]', timeout=60000)
    pg.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
                         ".every(c => c.querySelector('.main-svg'))", timeout=60000)
    pg.wait_for_timeout(1200)


def tree_rss_mb(pid: int) -> float:
    """Memory of a process and all its descendants (the upload reader's helper and its
    children), in MB: the sum of their proportional set sizes (Pss), in which a page that a
    parent and a forked child share counts half for each, so that nothing is counted twice."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                status = f.read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        p = int(entry)
        children.setdefault(int(fields.get("PPid", "0").strip() or 0), []).append(p)
        rss[p] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
        try:
            with open(f"/proc/{entry}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        rss[p] = int(line.split()[1])
                        break
        except OSError:
            pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total / 1024


class PeakMemory:
    """Samples tree_rss_mb(pid) every 20 ms while open; `.peak` is the largest sample."""

    def __init__(self, pid: int) -> None:
        import threading

        self.pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb(self.pid))
            self._stop.wait(0.02)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss_mb(self.pid))
