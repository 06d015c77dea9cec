"""The offline HTML deck in Debian's Chromium with every request refused: it is one file, every
figure draws, the arrow keys move between slides, and printing gives one slide a page."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from testkit.browser_support import require_chromium

ROOT = Path(__file__).resolve().parents[2]
SLIDES = ROOT / "artifacts" / "slides"

require_chromium()

from playwright.sync_api import sync_playwright  # noqa: E402

from analysis.filters import Filters  # noqa: E402
from analysis.slides import deck, to_html  # noqa: E402
from testkit.browser_support import launch  # noqa: E402


def test_the_html_deck_works_offline(shipped, tmp_path):
    d = deck(shipped, Filters(diagnosis=("ITP", "AIHA")))
    path = tmp_path / "talk.html"
    path.write_text(to_html(d), encoding="utf-8")
    figures = sum(len(s.figures) for s in d.slides)
    requests: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        pg = browser.new_page(viewport={"width": 1920, "height": 1080})
        pg.route("**/*", lambda route: (requests.append(route.request.url), route.abort())
                 if not route.request.url.startswith("file://") else route.continue_())
        pg.goto(path.as_uri())
        pg.wait_for_function(f"document.querySelectorAll('.figure .main-svg').length >= {figures}", timeout=30000)
        assert pg.evaluate("document.body.dataset.slide") == "1"
        SLIDES.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(SLIDES / "html-1.png"))
        for k in range(2, len(d.slides) + 2):
            pg.keyboard.press("ArrowRight")
            assert pg.evaluate("document.body.dataset.slide") == str(k)
            if k in (3, 4):
                pg.screenshot(path=str(SLIDES / f"html-{k}.png"))
        pg.keyboard.press("ArrowRight")  # past the last slide: stays there
        assert pg.evaluate("document.body.dataset.slide") == str(len(d.slides) + 1)
        pg.keyboard.press("ArrowLeft")
        assert pg.evaluate("document.body.dataset.slide") == str(len(d.slides))
        drawn = pg.evaluate("Array.from(document.querySelectorAll('.figure')).filter(f => "
                            "f.querySelector('.main-svg') && f.getBoundingClientRect).length")
        assert drawn == figures
        pdf = tmp_path / "talk.pdf"
        pg.emulate_media(media="print")
        pg.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
        browser.close()
    assert requests == [], requests  # nothing asked of any network
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", info)[1]) == len(d.slides) + 1
    assert "960 x 540 pts" in info  # 13.333 × 7.5 in: one 16:9 slide a page
