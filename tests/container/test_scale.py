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
import threading
import time

import pytest

from container_support import REPLICA_COOKIE as COOKIE
from container_support import ROOT, RUNC, balanced, sh
from testkit.browser_support import launch, settle

SHOTS = ROOT / "artifacts" / "screenshots"
RESTARTED = "This session was restarted"


@pytest.fixture(scope="module")
def cluster(image, tmp_path_factory):
    with balanced(image, 2, tmp_path_factory.mktemp("haproxy") / "haproxy.log", wait=180) as started:
        yield started


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
        loader = threading.Thread(target=lambda: asyncio.run(load()))
        loader.start()
        time.sleep(max(0.0, stop_at - time.monotonic()))
        # Which replica is which: the one whose sessions are cut off when it stops.
        stopped = cluster.replicas[0]
        sh("podman", *RUNC, "stop", "-t", "2", stopped)
        loader.join()
        failed = {value for value, errs in errors.items() if errs}
        assert len(failed) == 1, errors  # the stopped replica's sessions, and only those
        survivors = [value for value in errors if value not in failed]
        assert survivors and all(not errors[v] for v in survivors), errors
        # The browser tabs: the one on the stopped replica reconnects and says so; the other does not.
        lost = failed.pop()
        assert set(tabs) == {lost, *survivors}, (tabs.keys(), errors.keys())
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
