"""Two replicas of the real image behind Debian's HAProxy running the project's own config
(deploy/haproxy.cfg), as deploy/compose.yaml runs them: the replicas on a podman network with DNS,
found by their shared name; HAProxy on this machine, asking that network's DNS server.

- An upload in one browser reaches its own replica and is seen on every page of that browser, and
  not in another browser.
- One replica stops in the middle of a load: the sessions on the other see no error; a browser
  tab on the stopped one reconnects to the survivor, works, and says its session was restarted.

Run with `make scale-test` (or `make container-test`, which runs every container test)."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from container_support import READ_ONLY, ROOT, RUNC, ULIMITS, sh
from testkit.browser_support import free_port, launch, settle

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
SHOTS = ROOT / "artifacts" / "screenshots"
RESTARTED = "This session was restarted"
COOKIE = "dashboard_replica"


@dataclass
class Cluster:
    url: str
    replicas: list[str]  # container names
    log: Path


def replica_cookie(url: str, jar: dict[str, str] | None = None) -> str | None:
    """The replica cookie HAProxy sets on a request without one (None once the request has one)."""
    req = urllib.request.Request(url + "/_stcore/health",
                                 headers={"Cookie": "; ".join(f"{k}={v}" for k, v in (jar or {}).items())})
    with urllib.request.urlopen(req, timeout=10) as resp:
        for header in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            if name.strip() == COOKIE:
                return rest.split(";", 1)[0]
    return None


@pytest.fixture(scope="module")
def cluster(image, tmp_path_factory):
    if not Path(HAPROXY).exists():
        pytest.fail("haproxy is missing: apt-get install haproxy", pytrace=False)
    tag = f"{os.getpid()}-{random.randrange(10**6)}"
    net = f"dashboard-scale-{tag}"
    names = [f"dashboard-{tag}-{i}" for i in (1, 2)]
    sh("podman", "network", "create", net)
    log = tmp_path_factory.mktemp("haproxy") / "haproxy.log"
    proc = None
    try:
        for name in names:
            sh("podman", *RUNC, "run", "-d", "--name", name, "--network", net, "--network-alias", "dashboard",
               *ULIMITS, *READ_ONLY, image)
        gateway = sh("podman", "network", "inspect", net, "--format",
                     "{{range .Subnets}}{{.Gateway}}{{end}}").stdout.strip()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {"PATH": "/usr/sbin:/usr/bin:/bin", "DASHBOARD_DNS": f"{gateway}:53",
               "DASHBOARD_BIND": f"127.0.0.1:{port}", "DASHBOARD_ORIGIN": url, "DASHBOARD_COOKIE_KEY": f"scale-{tag}"}
        with log.open("w") as out:
            proc = subprocess.Popen([HAPROXY, "-db", "-f", str(ROOT / "deploy" / "haproxy.cfg")], env=env,
                                    stdout=out, stderr=subprocess.STDOUT)
        # Both replicas serving through the balancer: two different replica cookies handed out.
        seen: set[str] = set()
        deadline = time.time() + 180
        while len(seen) < 2 and time.time() < deadline:
            try:
                value = replica_cookie(url)
                if value:
                    seen.add(value)
            except OSError:
                pass
            time.sleep(0.5)
        assert len(seen) == 2, f"the balancer did not reach two replicas in 180 s:\n{log.read_text()[-3000:]}"
        yield Cluster(url, names, log)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        for name in names:
            subprocess.run(["podman", *RUNC, "rm", "-f", name], capture_output=True)
        subprocess.run(["podman", "network", "rm", "-f", net], capture_output=True)


def sidebar_count(page) -> str:
    return page.get_by_test_id("stSidebar").inner_text()


def test_an_upload_reaches_its_replica_and_stays_in_its_browser(cluster):
    from playwright.sync_api import sync_playwright

    from testkit.files import shipped_subset, xlsx_bytes

    with sync_playwright() as p:
        browser = launch(p)
        a = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = a.new_page()
        page.goto(cluster.url + "/data")
        settle(page)
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
            files=[{"name": "department.xlsx", "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "buffer": xlsx_bytes(shipped_subset(120))}])
        page.get_by_text("n = 120 of 120 patients").first.wait_for(timeout=90_000)
        for name in ("Overview", "Response", "Relapse-free survival", "Steroid taper", "Safety & cost",
                     "Adjusted comparison", "Data"):
            page.get_by_role("link", name=name).first.click()
            settle(page)
            assert "n = 120 of 120 patients" in sidebar_count(page), name
            assert page.get_by_test_id("stException").count() == 0, name
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "scale-upload.png"))
        # Another browser, on whichever replica the balancer picks: the configured cohort.
        for _ in range(2):
            other = browser.new_context().new_page()
            other.goto(cluster.url + "/rfs")
            settle(other)
            assert "n = 318 of 318 patients" in sidebar_count(other)
            other.context.close()
        browser.close()


def test_a_replica_that_stops_mid_load_costs_only_its_own_sessions(cluster):
    """Ten protocol-level sessions act every second and two browser tabs sit on different replicas;
    one replica is stopped. Every error belongs to a session of the stopped replica; the tab that
    was there goes on, on the survivor, and says its session was restarted; the other tab says
    nothing."""
    from playwright.sync_api import sync_playwright

    from testkit.st_client import Session, cookies

    errors: dict[str, list[str]] = {}  # replica cookie → errors of its sessions
    stop_at = time.monotonic() + 12
    deadline = stop_at + 18

    async def one(i: int) -> None:
        jar = await asyncio.to_thread(cookies, cluster.url)
        mine = errors.setdefault(jar.get(COOKIE, "?"), [])
        try:
            s = await Session.open(cluster.url, jar=jar)
            pages = ["", "response", "rfs", "steroids"]
            first = True
            while time.monotonic() < deadline:
                run = await s.run(page=None if first else pages[i % len(pages)])  # the first run learns the pages
                first = False
                if run.exceptions:
                    mine.append(f"session {i}: exception shown")
                i += 1
                await asyncio.sleep(1)
            await s.close()
        except Exception as err:  # the replica went away under this session
            mine.append(f"session {i}: {type(err).__name__}")

    async def load() -> None:
        await asyncio.gather(*(one(i) for i in range(10)))

    with sync_playwright() as p:
        browser = launch(p)
        tabs = {}
        while len(tabs) < 2:  # one tab on each replica
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = ctx.new_page()
            page.goto(cluster.url + "/rfs?dx=ITP")
            settle(page)
            value = next(c["value"] for c in ctx.cookies() if c["name"] == COOKIE)
            tabs.setdefault(value, page)
        loader = __import__("threading").Thread(target=lambda: asyncio.run(load()))
        loader.start()
        time.sleep(max(0.0, stop_at - time.monotonic()))
        # Which replica is which: the one whose sessions are cut off when it stops.
        stopped = cluster.replicas[0]
        sh("podman", *RUNC, "stop", "-t", "2", stopped)
        loader.join()
        failed = {value for value, errs in errors.items() if errs}
        assert len(failed) <= 1, errors  # only the stopped replica's sessions
        survivors = [value for value in errors if value not in failed]
        assert survivors and all(not errors[v] for v in survivors), errors
        # The browser tabs: the one on the stopped replica reconnects and says so; the other does not.
        lost = failed.pop() if failed else next(v for v in tabs if v not in survivors)
        for value, page in tabs.items():
            page.get_by_role("link", name="Response").first.click()
            if value == lost:
                page.get_by_text(RESTARTED).wait_for(timeout=60_000)
            settle(page)
            assert page.locator("h1").first.inner_text() == "Response"
            assert "n = 261 of 318 patients" in sidebar_count(page)
            assert page.get_by_test_id("stException").count() == 0
            assert (page.get_by_text(RESTARTED).count() > 0) == (value == lost)
        tabs[lost].screenshot(path=str(SHOTS / "scale-restarted.png"))
        browser.close()
    sh("podman", *RUNC, "start", stopped)
