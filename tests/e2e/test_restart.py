"""A page whose server stops and comes back (a restart, or a replica behind the balancer that
stopped): the page reconnects, its next action runs in a new session, and it says so in a
sentence; a first visit and an ordinary page switch do not."""

from __future__ import annotations

import time
from pathlib import Path

from testkit.browser_support import require_chromium

require_chromium()

from playwright.sync_api import sync_playwright  # noqa: E402

from testkit.browser_support import free_port, launch, serving, settle  # noqa: E402

SENTENCE = "This session was restarted"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def test_a_page_that_outlives_its_server_says_its_session_was_restarted(tmp_path):
    port = free_port()
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        with serving(tmp_path / "first.log", port=port) as served:
            page.goto(f"{served.url}/rfs?dx=ITP")
            settle(page)
            page.get_by_role("link", name="Response").first.click()
            settle(page)
            assert page.get_by_text(SENTENCE).count() == 0  # a first visit and a page switch
        time.sleep(2)
        with serving(tmp_path / "second.log", port=port):
            time.sleep(6)  # the page reconnects by itself
            page.get_by_role("link", name="Relapse-free survival").first.click()
            page.get_by_text(SENTENCE).wait_for(timeout=30_000)
            settle(page)
            assert page.locator("h1").first.inner_text() == "Relapse-free survival"
            assert "dx=ITP" in page.url and "n = 261 of 318 patients" in page.inner_text("section[data-testid=stSidebar]")
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "restarted-session.png"))
            page.get_by_role("link", name="Response").first.click()
            settle(page)
            assert page.get_by_text(SENTENCE).count() == 0  # said once
        browser.close()
