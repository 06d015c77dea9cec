"""A real browser (Playwright driving Debian's Chromium) against the running app: every page from
the sidebar, a filter change that moves n and the KM figure, a reload that keeps the filters, a
broken upload and a valid one. Screenshots of every page go to artifacts/screenshots/."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"

from testkit.browser_support import require_chromium  # noqa: E402

require_chromium()

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from testkit.browser_support import launch, serving, settle  # noqa: E402

PAGES = ["Overview", "Response", "Relapse-free survival", "Steroid taper", "Safety & cost", "Data"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("server") / "log", "--server.address", "127.0.0.1") as app:
        yield app.url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(browser) -> Page:
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = ctx.new_page()
    yield pg
    ctx.close()


def sidebar_count(pg: Page) -> str:
    return pg.get_by_test_id("stSidebar").get_by_text("of 318 patients").inner_text()


def km_at_risk(pg: Page) -> list[str]:
    """The KM figure's number-at-risk row (both arms, tick by tick): its first number is n."""
    pg.get_by_test_id("stPlotlyChart").first.locator(".textpoint").first.wait_for()
    return pg.get_by_test_id("stPlotlyChart").first.locator(".textpoint").all_text_contents()


def test_every_page_from_the_sidebar(server, page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(server)
    settle(page)
    for i, title in enumerate(PAGES):
        page.get_by_test_id("stSidebarNavLink").filter(has_text=title).first.click()
        settle(page)
        assert page.get_by_test_id("stException").count() == 0, title
        expect(page.get_by_text("content hash").first).to_be_visible()
        if title != "Data" and title != "Overview":
            assert page.get_by_test_id("stPlotlyChart").count() >= 1, title
        page.screenshot(path=str(SHOTS / f"{i + 1}-{title.lower().replace(' ', '-').replace('&', 'and')}.png"), full_page=True)


def test_filter_moves_n_and_the_km_figure_and_survives_a_reload(server, page):
    page.goto(server + "/rfs")
    settle(page)
    assert "n = 318 of 318 patients" in sidebar_count(page)
    before = km_at_risk(page)
    from analysis.cohort import load

    e = load().endpoints  # tacrolimus responders at month 0, counted from the endpoints
    responders = str(int(((e["arm"] == "tacrolimus") & e["rfs_months"].notna()).sum()))
    assert before[0] == responders
    dx = page.get_by_test_id("stMultiSelect").first
    dx.get_by_role("button", name="Remove ITP").click() if dx.get_by_role("button", name="Remove ITP").count() else \
        dx.locator('[data-baseweb="tag"]').filter(has_text="ITP").locator('span[role="presentation"]').click()
    settle(page)
    assert "n = 57 of 318 patients" in sidebar_count(page)
    after = km_at_risk(page)
    assert after != before and after[0] != responders  # the figure was redrawn for AIHA + ES
    assert "dx=" in page.url
    page.reload()
    settle(page)
    assert "n = 57 of 318 patients" in sidebar_count(page)
    page.screenshot(path=str(SHOTS / "rfs-aiha-and-evans.png"), full_page=True)


@pytest.mark.parametrize("path,title,count", [
    ("/data", "Data", "n = 318 of 318 patients"),
    ("/rfs?dx=ITP", "Relapse-free survival", "n = 261 of 318 patients"),
    ("/steroids?dx=AIHA&sex=Female", "Steroid taper", "of 318 patients"),
])
def test_a_link_opens_that_view_in_a_new_session(server, browser, path, title, count):
    """A shared link opens the same view with its filters, sidebar and all, in a fresh session."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = ctx.new_page()
    pg.goto(server + path)
    settle(pg)
    assert pg.locator("h1").first.inner_text() == title
    assert count in sidebar_count(pg)
    assert pg.get_by_test_id("stException").count() == 0
    assert pg.get_by_text("Page not found").count() == 0
    ctx.close()


def upload(page: Page, name: str, data: bytes, mime: str) -> None:
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files({"name": name, "mimeType": mime, "buffer": data})
    page.wait_for_timeout(1500)
    settle(page)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_broken_upload_shows_the_problems_and_keeps_the_cohort(server, page):
    page.goto(server + "/data")
    settle(page)
    upload(page, "broken.csv", b"patient_id,arm,diagnosis\nA,placebo,ITP\n", "text/csv")
    expect(page.get_by_text("broken.csv was not loaded")).to_be_visible()
    expect(page.get_by_text("required columns").first).to_be_visible()
    assert "n = 318 of 318 patients" in sidebar_count(page)
    assert page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(SHOTS / "data-broken-upload.png"), full_page=True)


def test_a_hostile_workbook_is_answered_with_a_sentence(server, page):
    """A 2 KB workbook whose only cell is at XFD1048576 (it used to take the server down)."""
    from testkit import hostile

    page.goto(server + "/data")
    settle(page)
    data = (hostile.STORED / "far-cell.xlsx").read_bytes()
    upload(page, "far-cell.xlsx", data, XLSX)
    expect(page.get_by_text("far-cell.xlsx was not loaded")).to_be_visible()
    expect(page.get_by_text("has a value in column 16,384").first).to_be_visible()
    assert "n = 318 of 318 patients" in sidebar_count(page)
    assert page.get_by_test_id("stException").count() == 0
    page.screenshot(path=str(SHOTS / "data-hostile-upload.png"), full_page=True)


def test_html_and_markdown_in_cells_are_shown_as_text(server, page):
    page.goto(server + "/data")
    settle(page)
    upload(page, "odd.csv", b"patient_id,arm\nA,![x](http://127.0.0.1:9/x.png) <b>bold</b> =SUM(A1)\n", "text/csv")
    table = page.get_by_test_id("stTable")
    expect(table.get_by_text("![x](http://127.0.0.1:9/x.png) <b>", exact=False).first).to_be_visible()
    assert table.locator("img").count() == 0 and table.locator("b").count() == 0


def test_valid_workbook_switches_the_app(server, page):
    from testkit.files import shipped_subset, xlsx_bytes

    page.goto(server + "/data")
    settle(page)
    upload(page, "department.xlsx", xlsx_bytes(shipped_subset(120)), XLSX)
    expect(page.get_by_text("In use: department")).to_be_visible(timeout=60000)
    assert "of 120 patients" in page.get_by_test_id("stSidebar").inner_text()
    expect(page.get_by_text("uploaded in this browser session")).to_be_visible()
    page.screenshot(path=str(SHOTS / "data-uploaded.png"), full_page=True)
    page.get_by_test_id("stSidebarNavLink").filter(has_text="Overview").first.click()
    settle(page)
    expect(page.get_by_text("Data in use: department")).to_be_visible()
    page.screenshot(path=str(SHOTS / "overview-uploaded.png"), full_page=True)


def test_downloads_are_built_on_click_for_the_filters_in_use(server, page):
    """The Data page's downloads are built when clicked: the report carries the page's filters and
    numbers, the endpoints CSV has the filtered patients, the template is a workbook."""
    import json

    from openpyxl import load_workbook

    page.goto(server + "/data?dx=ITP&sex=Female")
    settle(page)
    count = sidebar_count(page)

    def download(label: str) -> bytes:
        """The template is Streamlit's download button; patient data are links to this session's
        own download route (hosting/downloads.py), which open in a new tab that downloads."""
        button = page.get_by_role("button", name=label)
        if button.count():
            with page.expect_download(timeout=60000) as info:
                button.click()
            return Path(info.value.path()).read_bytes()
        with page.context.expect_event("download", timeout=60000) as info:
            page.get_by_role("link", name=label).click()
        return Path(info.value.path()).read_bytes()

    report = json.loads(download("Report (JSON)"))
    assert report["filters"]["diagnosis"] == ["ITP"] and report["filters"]["sex"] == ["F"]
    n = sum(report["n"].values())
    assert f"n = {n} of 318 patients" in count
    endpoints = pd.read_csv(io.BytesIO(download("Endpoints per patient (CSV)")))
    assert len(endpoints) == n and set(endpoints["diagnosis"]) == {"ITP"} and set(endpoints["sex"]) == {"F"}
    assert download("Report (Markdown)").decode().lstrip().startswith("#")
    wb = load_workbook(io.BytesIO(download("Download the template workbook (.xlsx)")))
    assert "patients" in wb.sheetnames
    assert page.get_by_test_id("stException").count() == 0
