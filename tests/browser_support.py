"""What the browser and container tests share: a free port, waiting for health, Debian's
Chromium with the flags this network needs, and waiting for a Streamlit page to settle."""

from __future__ import annotations

import shutil
import socket
import time
import urllib.request

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


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def settle(pg) -> None:
    """Wait until the app is drawn and its script has finished running."""
    pg.wait_for_selector('[data-testid="stApp"]', timeout=60000)
    pg.wait_for_timeout(500)
    pg.wait_for_selector('[data-test-script-state="notRunning"]', timeout=60000)
    pg.wait_for_timeout(1200)
