"""The settings in effect in a running app, started the way `make run` starts it (only the port on
the command line, so `.streamlit/config.toml` decides), read over Streamlit's WebSocket protocol and
HTTP: telemetry off, viewer toolbar, no error details, XSRF and CORS on, 50 MB uploads, no file
watcher, no public-IP lookup at start. A second server started with those settings undone shows
that the checks catch each regression. The container test runs the same checks on the image."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

import hardening
from testkit.browser_support import copy_app, serving
from testkit.st_client import Session


@pytest.fixture(scope="module")
def app_copy(tmp_path_factory) -> Path:
    """The app's files in a folder of their own, so the file-watcher test may edit app.py."""
    return copy_app(tmp_path_factory.mktemp("app"))


@pytest.fixture(scope="module")
def served(app_copy):
    log = app_copy / "server.log"
    with serving(log, cwd=app_copy) as app:
        yield app.url, log


def test_settings_in_effect_are_the_hardened_ones(served):
    url, log = served
    deadline = time.time() + 20  # the start-up banner comes just after the health endpoint answers
    while "You can now view" not in log.read_text() and time.time() < deadline:
        time.sleep(0.2)
    assert "URL: http://localhost:" in log.read_text()  # the banner is there, and names no other address
    assert hardening.startup_problems(log.read_text()) == []
    assert hardening.problems(url) == []


def test_make_run_listens_on_this_machine_only(served):
    """`make run` binds 127.0.0.1: from another address of this machine the port is closed."""
    import socket

    url, _ = served
    port = int(url.rsplit(":", 1)[1])
    others = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)} - {"127.0.0.1"}
    others |= {a for a in _interface_addresses() if not a.startswith("127.")}
    if not others:
        pytest.skip("this machine has no address but loopback")
    for address in others:
        with socket.socket() as s:
            s.settimeout(3)
            assert s.connect_ex((address, port)) != 0, f"the dashboard answers on {address}:{port}"
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        pass


def _interface_addresses() -> set[str]:
    """IPv4 addresses of this machine's interfaces (from `ip`, when it is there)."""
    import shutil
    import subprocess

    if not shutil.which("ip"):
        return set()
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    return {line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3}


def test_editing_the_app_on_disk_does_not_reach_open_sessions(served, app_copy):
    """fileWatcherType = none: no watcher, so an edited script is neither noticed nor rerun."""
    url, _ = served

    async def events_after_edit() -> list[str]:
        s = await Session.open(url)
        await s.run()
        app = app_copy / "app.py"
        app.write_text(app.read_text() + "\n# edited while a session is open\n")
        seen = []
        try:
            async with asyncio.timeout(4):
                while True:
                    fm = ForwardMsg()
                    fm.ParseFromString(await s.ws.recv())
                    if fm.WhichOneof("type") == "session_event":
                        seen.append(fm.session_event.WhichOneof("type"))
        except TimeoutError:
            pass
        await s.close()
        return seen

    assert asyncio.run(events_after_edit()) == []


def test_the_checks_catch_a_server_with_the_settings_undone(app_copy, tmp_path):
    undone = ("--browser.gatherUsageStats", "true", "--client.toolbarMode", "developer",
              "--client.showErrorDetails", "full", "--server.enableXsrfProtection", "false",
              "--server.enableCORS", "false", "--server.maxUploadSize", "200", "--server.fileWatcherType", "poll",
              "--server.enableAgentApi", "true", "--server.address", "0.0.0.0")
    # Served without server.py, too: no security headers, no browser cookie.
    with serving(tmp_path / "log", *undone, cwd=app_copy, script="app.py") as app:
        found = "\n".join(hardening.problems(app.url))
    for what in ("usage statistics", "toolbar mode", "client.showErrorDetails", "server.enableXsrfProtection",
                 "server.enableCORS", "server.maxUploadSize", "server.fileWatcherType", "allows [200] MB",
                 "without the XSRF token", "foreign origin is allowed", "WebSocket session from",
                 "server.enableAgentApi", "server.address", "X-Frame-Options", "Content-Security-Policy",
                 "X-Content-Type-Options", "Referrer-Policy", "browser cookie", "server.py is 'no"):
        assert what in found, f"{what!r} not reported:\n{found}"


def test_the_server_does_not_start_without_the_browser_identity(tmp_path):
    """Without server.trustedUserHeaders every anonymous visitor has the same identity, and a
    session id alone would resume a session: server.py refuses to serve, with a sentence."""
    (tmp_path / "app").mkdir()
    app = copy_app(tmp_path / "app")
    config = app / ".streamlit" / "config.toml"
    config.write_text("\n".join(line for line in config.read_text().splitlines() if not line.startswith("trustedUserHeaders")))
    log = tmp_path / "log"
    with pytest.raises(RuntimeError):
        with serving(log, cwd=app, port=None):
            pass
    assert "server.trustedUserHeaders must map x-dashboard-browser" in log.read_text()
