"""The talk (analysis/slides.py): the PPTX read back with python-pptx — slides in order, the
provenance and a number on every slide, Table 1 as a native table, every takeaway number equal to
the report — for three filter sets, one of them too small to compare; a real office suite renders
it; the HTML deck is one file that escapes the cohort's text."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pptx import Presentation

from analysis import format as fmt
from analysis.cohort import from_frames
from analysis.filters import Filters
from analysis.report import build
from analysis.slides import deck, to_html, to_pptx
from testkit.files import shipped_subset

ROOT = Path(__file__).resolve().parent.parent
SLIDES = ROOT / "artifacts" / "slides"
FILTERS = {"all": Filters(), "itp-women": Filters(diagnosis=("ITP",), sex=("F",)),
           "aiha-men-to-59": Filters(diagnosis=("AIHA",), sex=("M",), age_max=59)}
TITLES = ["Patients", "Response", "Relapse-free survival", "Relapse-free survival by subgroup", "Steroid taper",
          "Time to steroid discontinuation", "Safety", "Cost", "Methods"]
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cfc00000030101007d3d2ed50000000049454e44ae426082")


def pptx_of(cohort, filters) -> tuple[Presentation, object]:
    d = deck(cohort, filters)
    figures = sum(len(s.figures) for s in d.slides)
    return Presentation(io.BytesIO(to_pptx(d, images=[PNG] * figures))), d


def slide_text(slide) -> str:
    return "\n".join(sh.text_frame.text for sh in slide.shapes if sh.has_text_frame)


@pytest.mark.parametrize("name", list(FILTERS))
def test_the_deck_says_what_the_report_says(shipped, name):
    filters = FILTERS[name]
    prs, d = pptx_of(shipped, filters)
    rep = build(shipped, filters)
    slides = list(prs.slides)
    assert [slide_text(s).splitlines()[0] for s in slides[1:]] == TITLES
    assert slide_text(slides[0]).startswith("Does adding tacrolimus")
    n = rep["n"]
    for number, s in enumerate(slides, start=1):
        text = slide_text(s)
        assert "synthetic — not real patients" in text and filters.describe() in text, number
        assert f"n = {n['tacrolimus']} tacrolimus + steroid, {n['control']} steroid alone" in text, number
        assert re.search(rf"(^|\n){number}(\n|$)", text), number  # the slide number
        assert s.has_notes_slide and s.notes_slide.notes_text_frame.text.strip(), number
        assert not re.search(r"(?<![\w.])(nan|inf|None)(?![\w])", text + s.notes_slide.notes_text_frame.text), number

    table = next(sh.table for sh in slides[1].shapes if sh.has_table)  # Table 1, native and editable
    cells = [[table.cell(i, j).text for j in range(len(table.columns))] for i in range(len(table.rows))]
    assert cells[0][:4] == ["Characteristic", "", "Tacrolimus + steroid", "Steroid alone"]
    for row, expected in zip(cells[1:], rep["baseline"]["table"]):
        assert row[2:4] == [expected["tacrolimus"], expected["control"]]
        assert row[4] == fmt.p_number(expected["p_value"], none="")

    if name == "aiha-men-to-59":  # 1 vs 3 patients, no tacrolimus responder: the RFS slides say why, no blank figure
        for s in slides[3:5]:
            assert "relapse-free survival cannot be compared" in slide_text(s)
            assert not [sh for sh in s.shapes if sh.shape_type == 13]
        return
    orr, crr = rep["response"]["orr"], rep["response"]["crr"]
    response = slide_text(slides[2])
    for key, c in (("ORR", orr), ("CRR", crr)):
        lo, hi = c["difference_ci"]
        assert (f"{key} {fmt.percent(c['tacrolimus']['rate'])} vs {fmt.percent(c['control']['rate'])}, difference "
                f"{100 * c['difference']:+.1f} points (95% CI {100 * lo:+.1f} to {100 * hi:+.1f}), "
                f"{fmt.p_value(c['p_value'])}") in response
    rfs = rep["relapse"]["rfs"]
    text = slide_text(slides[3])
    assert f"RFS at 12 months {fmt.percent(rfs['at_12_months']['tacrolimus'])} vs " \
           f"{fmt.percent(rfs['at_12_months']['control'])}" in text
    assert f"HR {rfs['hazard_ratio']:.2f} ({rfs['hazard_ratio_ci'][0]:.2f}–{rfs['hazard_ratio_ci'][1]:.2f})" in text
    assert f"log-rank {fmt.p_value(rfs['logrank_p'])}" in text
    cum = rep["steroids"]["cumulative_mg"]
    assert (f"median {fmt.number(cum['tacrolimus']['median'], 0)} vs {fmt.number(cum['control']['median'], 0)} mg, "
            f"Mann–Whitney U {fmt.p_value(cum['p_value'])}") in slide_text(slides[5])
    cost = rep["cost"]["drug_cost_18m"]
    assert f"median {fmt.number(cost['tacrolimus']['median'], 0)} vs {fmt.number(cost['control']['median'], 0)}" in \
           slide_text(slides[8])


def test_a_small_selection_says_why_on_every_result_slide(shipped):
    prs, d = pptx_of(shipped, Filters(diagnosis=("ES",), age_min=80))
    texts = [slide_text(s) for s in prs.slides]
    assert all("cannot be compared" in t for t in texts[2:9]), texts[2:9]
    assert not [sh for s in prs.slides for sh in s.shapes if sh.shape_type == 13]  # no pictures


def test_cohort_text_is_text_in_the_html_deck(shipped):
    frames = shipped_subset(40)
    cohort = from_frames(frames, name="<img src=x onerror=alert(1)> **Ward 5**", metadata={"synthetic": False})
    page = to_html(deck(cohort, Filters()))
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt; **Ward 5**" in page
    assert "default-src 'none'" in page  # the deck may not fetch anything
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=", page)  # nothing loaded from elsewhere
    assert page.count("<section") == len(deck(cohort, Filters()).slides) + 1


@pytest.mark.skipif(shutil.which("soffice") is None and not os.environ.get("CI"),
                    reason="LibreOffice is not installed (apt-get install libreoffice-impress)")
def test_an_office_suite_renders_the_deck_with_its_figures(shipped, tmp_path):
    """The deck with figures drawn by kaleido, converted by LibreOffice Impress (headless) to PDF and
    by pdftoppm to PNG: every page has ink on it. The PNGs stay in artifacts/slides/."""
    from PIL import Image

    pptx = tmp_path / "talk.pptx"
    pptx.write_bytes(to_pptx(deck(shipped, Filters())))
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to", "pdf",
                    "--outdir", str(tmp_path), str(pptx)], check=True, capture_output=True, timeout=240)
    SLIDES.mkdir(parents=True, exist_ok=True)
    for old in SLIDES.glob("slide-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(tmp_path / "talk.pdf"), str(SLIDES / "slide")], check=True)
    pages = sorted(SLIDES.glob("slide-*.png"))
    assert len(pages) == len(TITLES) + 1
    for page in pages:
        gray = Image.open(page).convert("L")
        dark = sum(gray.histogram()[:200])
        assert dark > 0.005 * gray.width * gray.height, page.name  # text or figures, not a blank page
    # The figure slides hold pictures of ink, not empty frames: the RFS slide is the darkest but one.
    inks = [sum(Image.open(p).convert("L").histogram()[:200]) for p in pages]
    assert inks[4] > inks[0]


def test_the_data_page_serves_both_decks_for_its_filters(tmp_path):
    """Through a running server, as a browser gets them: the Data page's two slide links, built
    on click for the filters in the URL, served to that session."""
    import asyncio

    from testkit.browser_support import serving
    from testkit.st_client import Session

    async def fetch(url):
        tab = await Session.open(url)
        try:
            await tab.run()
            run = await tab.run(page="data", query_string="dx=AIHA")
            links = run.links
            return {label: tab.get(links[label]) for label in ("Slides (PowerPoint)", "Slides (HTML, offline)")}
        finally:
            await tab.close()

    with serving(tmp_path / "server.log") as app:
        got = asyncio.run(fetch(app.url))
    status, body, headers = got["Slides (HTML, offline)"]
    assert status == 200 and headers.get("content-type", "").startswith("text/html")
    assert b"Filters: AIHA" in body and body.count(b"<section") == len(TITLES) + 1
    status, body, headers = got["Slides (PowerPoint)"]
    assert status == 200 and "presentationml" in headers.get("content-type", "")
    prs = Presentation(io.BytesIO(body))
    assert len(prs.slides) == len(TITLES) + 1 and "AIHA" in slide_text(prs.slides[0])
    pictures = [sh for s in prs.slides for sh in s.shapes if sh.shape_type == 13]
    # 2 response, RFS, forest, 2 steroid taper, discontinuation, safety, cost: drawn figures, not blanks
    assert len(pictures) == 9 and all(len(p.image.blob) > 20_000 for p in pictures)


def test_without_a_browser_the_powerpoint_deck_says_why_and_the_html_deck_works(shipped, monkeypatch, capsys):
    from streamlit.testing.v1 import AppTest

    from analysis import slides
    from analysis.__main__ import main
    from views import view

    monkeypatch.setattr(slides, "renderer", lambda: None)
    with pytest.raises(slides.NoRenderer, match="none is installed on this server"):
        slides.to_pptx(slides.deck(shipped, Filters()))
    assert main(["slides", "--out", "/tmp/never-written.pptx"]) == 1
    assert "The HTML deck works without one" in capsys.readouterr().err
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()
    at.switch_page(str(view("data").path)).run()
    button = next(b for b in at.button if b.label == "Slides (PowerPoint)")
    assert button.disabled and "none is installed on this server" in button.help
    assert len(slides.to_html(slides.deck(shipped, Filters()))) > 1_000_000
