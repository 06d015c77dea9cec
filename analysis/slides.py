"""The analysis as a talk: the same slides, 16:9, as a PowerPoint deck (PPTX) and as one offline
HTML file, for one cohort and one Filters value.

`deck` decides what the slides say, from `Results` and `format` (nothing is computed here);
`to_pptx` and `to_html` write it. Figures are the dashboard's own (`plots`), in projector mode. In
the PPTX they are PNG images rendered by plotly's static export (kaleido), which drives a
Chromium installed on the machine; `renderer()` says whether one is there. The HTML deck inlines
plotly.js and draws interactive figures with no request to any network.
"""

from __future__ import annotations

import functools
import html
import io
import json
import platform
import textwrap
import threading
from dataclasses import dataclass, field
from datetime import date

import pandas as pd
import plotly.graph_objects as go

from . import __version__, plots
from . import format as fmt
from .cohort import Cohort
from .criteria import AIHA_CONSENSUS, EVANS_COMPOSITE, IWG_2009
from .filters import Filters
from .results import Results, compute, no_responders, not_comparable
from .schema import AE_FLAGS, ARMS, CURRENCY, arm_counts

QUESTION = "Does adding tacrolimus to steroids help patients with autoimmune cytopenias?"
SLIDE_WIDTH_IN, SLIDE_HEIGHT_IN = 13.333, 7.5  # 16:9
FIGURE_TOP_IN, FIGURE_HEIGHT_IN = 1.15, 4.85
MARGIN_IN = 0.5
PX_PER_IN = 72  # figures are laid out at 1 CSS px per point, so projector mode's 18 px is 18 pt on the slide
IMAGE_SCALE = 2.2  # and rendered at 2.2× for a sharp image on a 1920 × 1080 screen
RESULT_TITLES = ("Response", "Relapse-free survival", "Relapse-free survival by subgroup", "Steroid taper",
                 "Time to steroid discontinuation", "Safety", "Cost")


@dataclass(frozen=True)
class Slide:
    """One slide: a title, figures (side by side), a table, lines of text (the takeaway, or why
    nothing can be shown), and speaker notes with the exact numbers behind it."""

    title: str
    figures: tuple[go.Figure, ...] = ()
    table: pd.DataFrame | None = None
    lines: tuple[str, ...] = ()
    notes: str = ""


@dataclass(frozen=True)
class Deck:
    title: str
    facts: tuple[str, ...]  # the title slide's lines: cohort, filters, n, date, version, hash
    slides: tuple[Slide, ...]
    footer: str  # the provenance on every slide
    meta: dict = field(default_factory=dict)


def _figure(fig: go.Figure, columns: int = 1) -> go.Figure:
    """A dashboard figure dressed for a slide: projector mode, sized to its place on the slide,
    white, long axis titles on two lines, bar groups' names wrapped. A figure alone on its slide
    loses its title (the slide's says it); a Kaleido-drawn KM figure keeps its at-risk row clear of
    the time axis' title."""
    width_in = (SLIDE_WIDTH_IN - 2 * MARGIN_IN - 0.3 * (columns - 1)) / columns
    plots.for_projector(fig)
    gained = plots.wrap_categories(fig, width=14 if columns > 1 else 24)
    fig.for_each_yaxis(lambda a: a.update(title_text="<br>".join(textwrap.wrap(a.title.text or "", 22)))
                       if len(a.title.text or "") > 22 else None)
    layout = dict(width=round(width_in * PX_PER_IN), height=round(FIGURE_HEIGHT_IN * PX_PER_IN), paper_bgcolor="white",
                  plot_bgcolor="white", margin_b=(fig.layout.margin.b or 60) + 22 * gained)
    if columns == 1:
        layout.update(title_text="", margin_t=55)
    at_risk = fig.layout["yaxis2"] if "yaxis2" in fig.layout else None
    if at_risk is not None and at_risk.domain and at_risk.domain[1] <= 0.25:  # a KM figure: plot over at-risk row
        layout.update(yaxis_domain=[0.36, 1], yaxis2_domain=[0, 0.15])
    fig.update_layout(**layout)
    fig.update_xaxes(gridcolor="#e5e5e5", zerolinecolor="#cccccc")
    fig.update_yaxes(gridcolor="#e5e5e5", zerolinecolor="#cccccc")
    return fig


def _versions() -> str:
    import lifelines
    import numpy
    import plotly
    import scipy
    import statsmodels

    return (f"Python {platform.python_version()}, pandas {pd.__version__}, numpy {numpy.__version__}, scipy "
            f"{scipy.__version__}, statsmodels {statsmodels.__version__}, lifelines {lifelines.__version__}, plotly "
            f"{plotly.__version__}; dashboard {__version__}")


def deck(cohort: Cohort, filters: Filters = Filters(), results: Results | None = None,
         today: date | None = None) -> Deck:
    """The slides for this cohort and filters: title, patients (Table 1), response, relapse-free
    survival and its forest plot, steroid taper, steroid discontinuation, safety, cost, methods.
    When the arms cannot be compared, each result slide says why instead."""
    r = results or compute(cohort, filters)
    today = today or date.today()
    n_t, n_c = arm_counts(r.patients)
    kind = "synthetic — not real patients" if cohort.synthetic else "department data"
    footer = (f"{cohort.name} ({kind}) · {filters.describe()} · n = {n_t:,} tacrolimus + steroid, {n_c:,} steroid alone · "
              f"{today.isoformat()} · app {__version__}")
    facts = (f"{cohort.name} ({kind})", f"Filters: {filters.describe()}",
             f"n = {n_t:,} tacrolimus + steroid, {n_c:,} steroid alone", f"{today.isoformat()} · dashboard {__version__} · "
             f"cohort hash {cohort.short_hash}")
    problem = not_comparable(cohort, filters, r)
    slides = [_patients(r, problem)]
    if problem:  # every result slide says why, once, instead of a blank figure
        slides += [Slide(t, lines=(problem,)) for t in RESULT_TITLES]
    else:
        slides += [_response(r), *_relapse(r), *_steroids(r), *_safety(r)]
    if not filters.definitions.default:
        slides.append(Slide("Definitions in force", lines=(
            "These results read response and relapse as a reviewer asked, not as the study did:",
            *filters.definitions.sentences())))
    slides.append(_methods(filters))
    return Deck(QUESTION, facts, tuple(slides), footer, {"synthetic": cohort.synthetic, "name": cohort.name})


def _patients(r: Results, problem: str) -> Slide:
    t1 = fmt.table1_display(r.table1).drop(columns=["Test"])
    return Slide("Patients", table=t1, lines=(problem,) if problem else (),
                 notes="Table 1. p: Mann–Whitney U for continuous rows; χ² (Fisher's exact test for 2 × 2 tables with "
                       "an expected count below 5) for categorical rows. SMD: standardised mean difference.")


def _response(r: Results) -> Slide:
    resp = r.response
    lines = (fmt.rate_comparison("ORR", resp.orr), fmt.rate_comparison("CRR", resp.crr))
    notes = "\n".join([
        *(f"{name}: tacrolimus {fmt.events(c.a)} (95% CI {fmt.interval((c.a.ci_low, c.a.ci_high))}), control "
          f"{fmt.events(c.b)} (95% CI {fmt.interval((c.b.ci_low, c.b.ci_high))}); difference {fmt.difference(c)}; odds "
          f"ratio {fmt.odds_ratio(c)}; {fmt.p_value(c.p_value)} ({c.test or c.reason}); CMH across diagnoses "
          f"{fmt.p_value(resp.cmh[key].p_value)}"
          for key, name, c in (("orr", "ORR", resp.orr), ("crr", "CRR", resp.crr))),
        f"Patients with a known best response: {resp.orr.a.n} vs {resp.orr.b.n}."])
    return Slide("Response", (_figure(plots.rates({"Best ORR": resp.orr, "Best CRR": resp.crr}, "Best response rates"), 2),
                              _figure(plots.response_distribution(resp.distribution, "Best response"), 2)),
                 lines=lines, notes=notes)


def _rfs_line(r: Results) -> str:
    c = r.rfs
    at12 = c.landmarks.set_index(["arm", "months"])["survival"]
    med = [fmt.median_with_ci(c.curves[a].median, c.curves[a].median_ci) for a in ARMS]
    hr = c.hazard
    return (f"RFS at 12 months {fmt.percent(at12.get((ARMS[0], 12.0)))} vs {fmt.percent(at12.get((ARMS[1], 12.0)))}; "
            f"median {med[0]} vs {med[1]} months; HR {fmt.hazard_ratio(hr.hazard_ratio, *hr.ci, hr.reason)}, "
            f"log-rank {fmt.p_value(c.logrank.p_value)}")


def _relapse(r: Results) -> list[Slide]:
    problem = no_responders(r)
    if problem:
        return [Slide(t, lines=(problem,)) for t in RESULT_TITLES[1:3]]
    summary = fmt.km_summary(r.rfs, "RFS at {months} months (95% CI)")
    rate = r.relapse_rate
    notes = (f"Relapse among responders: tacrolimus {fmt.events(rate.a)}, control {fmt.events(rate.b)}; "
             f"{fmt.p_value(rate.p_value)} ({rate.test or rate.reason}).\n" + summary.to_string())
    km = plots.km(r.rfs, "Relapse-free survival among responders", "Relapse-free (%)")
    forest = fmt.subgroup_table(r.rfs_subgroups)
    return [Slide("Relapse-free survival", (_figure(km),), lines=(_rfs_line(r),), notes=notes),
            Slide("Relapse-free survival by subgroup", (_figure(plots.forest(r.rfs_subgroups)),),
                  lines=("Hazard ratio of relapse, tacrolimus + steroid vs steroid alone (< 1 favours tacrolimus).",),
                  notes=forest.to_string(index=False))]


def _steroids(r: Results) -> list[Slide]:
    s = r.steroids
    c, d = s.cumulative, s.discontinuation
    stop = [fmt.median_with_ci(d.curves[a].median, d.curves[a].median_ci) for a in ARMS]
    dose_line = (f"Cumulative prednisone-equivalent dose: median {fmt.number(c.a.median, 0)} vs "
                 f"{fmt.number(c.b.median, 0)} mg, Mann–Whitney U {fmt.p_value(c.p_value)}")
    stop_line = (f"Median time to steroid discontinuation {stop[0]} vs {stop[1]} months, log-rank "
                 f"{fmt.p_value(d.logrank.p_value)}")
    tr = s.troughs
    trough = (f"Tacrolimus troughs: {tr.measurements} in {tr.patients} patients, {fmt.percent(tr.in_range, 0)} within "
              f"{fmt.target_range()}" if tr.measurements else "No tacrolimus trough levels are recorded.")
    return [
        Slide("Steroid taper", (_figure(plots.dose_curve(r.dose_curve, "Daily prednisone-equivalent dose"), 2),
                                _figure(plots.by_arm_box(r.patients, "steroid_cum_mg", "mg prednisone-equivalent",
                                                         "Cumulative steroid dose", c.p_value), 2)),
              lines=(dose_line,), notes=f"{dose_line}.\n{trough}."),
        Slide("Time to steroid discontinuation",
              (_figure(plots.km(d, "Share off steroids", "Off steroids (%)", cumulative=True,
                                x_title="Months since the first steroid dose")),),
              lines=(stop_line,),
              notes=fmt.km_summary(d, "Steroid-free at {months} months (95% CI)", cumulative=True).to_string()),
    ]


def _safety(r: Results) -> list[Slide]:
    s = r.safety
    cost = s.cost
    notes = "\n".join(f"{AE_FLAGS[k]}: tacrolimus {fmt.events(c.a)}, control {fmt.events(c.b)}; {fmt.p_value(c.p_value)} "
                      f"({c.test or c.reason})" for k, c in s.incidence.items())
    slides = [Slide("Safety", (_figure(plots.rates({AE_FLAGS[k]: c for k, c in s.incidence.items()},
                                                   "Patients with adverse events")),),
                    lines=(fmt.rate_comparison("Any adverse event", s.incidence["any_ae"]),
                           fmt.rate_comparison("Tacrolimus-related adverse events", s.incidence["tacrolimus_ae"])),
                    notes=notes)]
    line = (f"Drug expenses at 18 months: median {fmt.number(cost.a.median, 0)} vs {fmt.number(cost.b.median, 0)} "
            f"{CURRENCY} (IQR {fmt.number(cost.a.q1, 0)}–{fmt.number(cost.a.q3, 0)} vs {fmt.number(cost.b.q1, 0)}–"
            f"{fmt.number(cost.b.q3, 0)}), Mann–Whitney U {fmt.p_value(cost.p_value)}")
    if cost.a.n and cost.b.n:
        slides.append(Slide("Cost", (_figure(plots.by_arm_box(r.patients, "drug_cost_18m", f"Drug expenses ({CURRENCY})",
                                                              "Drug expenses, first 18 months", cost.p_value)),),
                            lines=(line,), notes=line))
    else:
        slides.append(Slide("Cost", lines=("The cohort has no drug_cost_18m values for one of the arms.",)))
    return slides


def _methods(filters: Filters) -> Slide:
    return Slide("Methods", lines=(
        f"Response: ITP — {IWG_2009}; AIHA — {AIHA_CONSENSUS}; {EVANS_COMPOSITE}. A response needs two counts at least "
        "7 days apart.",
        f"Relapse: {filters.definitions.relapse_rule()}. RFS runs from the first confirmed response to relapse, "
        "censored at last follow-up; non-responders are not in it.",
        "Rates with Wilson 95% CIs; differences with Newcombe 95% CIs; Fisher's exact test when an expected count is "
        "below 5, otherwise χ² with continuity correction; CMH stratified by diagnosis.",
        "Kaplan–Meier with log(−log) 95% CIs; log-rank test; Cox hazard ratio (Efron ties), Wald 95% CI; "
        "Mann–Whitney U for doses and costs. Statistics checked against R's survival package.",
        f"Software: {_versions()}.",
    ))


# --------------------------------------------------------------------------------------------
# Rendering figures to images (PPTX)

_RENDER_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def renderer() -> str | None:
    """The browser plotly's static export would use (a Chromium), or None when there is none
    (looked up once per process)."""
    try:
        from choreographer.browsers.chromium import Chromium

        return Chromium.find_browser(skip_local=True)
    except Exception:  # no kaleido/choreographer, or nothing found: the PPTX cannot be drawn here
        return None


class NoRenderer(RuntimeError):
    """No browser is installed to draw the deck's figures as images."""


def _png(fig: go.Figure) -> bytes:
    import plotly.io as pio

    return pio.to_image(fig, format="png", scale=IMAGE_SCALE)


def render_images(figures: list[go.Figure]) -> list[bytes]:
    """PNG images of `figures`, one browser for all of them (each call would otherwise start one,
    about 2 s). One deck at a time per process: the browser is shared."""
    if not figures:
        return []
    if renderer() is None:
        raise NoRenderer("The slide deck's figures are drawn by a browser, and none is installed on this server "
                         "(Debian: apt-get install chromium). The HTML deck works without one.")
    import warnings

    import kaleido

    with _RENDER_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kaleido warns that per-call options are ignored with a server
        kaleido.start_sync_server(silence_warnings=True)
        try:
            return [_png(f) for f in figures]
        finally:
            kaleido.stop_sync_server(silence_warnings=True)


# --------------------------------------------------------------------------------------------
# PPTX


def to_pptx(d: Deck, images: list[bytes] | None = None) -> bytes:
    """The deck as a PowerPoint file: native text and tables, figures as images (rendered here
    unless `images` are given, one per figure in slide order), the provenance and the slide number
    in every footer, the exact numbers in the speaker notes."""
    from pptx import Presentation
    from pptx.dml.color import RGBColor
    from pptx.util import Inches, Pt

    figures = [f for s in d.slides for f in s.figures]
    images = render_images(figures) if images is None else images
    pics = iter(images)
    prs = Presentation()
    prs.slide_width, prs.slide_height = Inches(SLIDE_WIDTH_IN), Inches(SLIDE_HEIGHT_IN)
    blank = prs.slide_layouts[6]
    dark, grey = RGBColor(0x1F, 0x1F, 0x24), RGBColor(0x55, 0x55, 0x55)
    width = SLIDE_WIDTH_IN - 2 * MARGIN_IN

    def text(slide, left, top, w, h, lines, size, bold=False, color=dark):
        box = slide.shapes.add_textbox(Inches(left), Inches(top), Inches(w), Inches(h))
        frame = box.text_frame
        frame.word_wrap = True
        for i, line in enumerate(lines):
            par = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
            run = par.add_run()
            run.text = line
            run.font.size, run.font.bold, run.font.color.rgb = Pt(size), bold, color
        return box

    def footer(slide, number):
        text(slide, MARGIN_IN, SLIDE_HEIGHT_IN - 0.45, width - 0.8, 0.35, [d.footer], 10, color=grey)
        text(slide, SLIDE_WIDTH_IN - MARGIN_IN - 0.7, SLIDE_HEIGHT_IN - 0.45, 0.7, 0.35, [str(number)], 10, color=grey)

    first = prs.slides.add_slide(blank)
    text(first, MARGIN_IN, 1.6, width, 1.6, [d.title], 36, bold=True)
    text(first, MARGIN_IN, 3.4, width, 2.4, list(d.facts), 20)
    footer(first, 1)
    first.notes_slide.notes_text_frame.text = "\n".join(d.facts)

    for number, s in enumerate(d.slides, start=2):
        slide = prs.slides.add_slide(blank)
        text(slide, MARGIN_IN, 0.35, width, 0.8, [s.title], 30, bold=True)
        top = FIGURE_TOP_IN
        if s.figures:
            columns = len(s.figures)
            w = (width - 0.3 * (columns - 1)) / columns
            for i, _ in enumerate(s.figures):
                slide.shapes.add_picture(io.BytesIO(next(pics)), Inches(MARGIN_IN + i * (w + 0.3)), Inches(top),
                                         width=Inches(w), height=Inches(FIGURE_HEIGHT_IN))
            top += FIGURE_HEIGHT_IN + 0.1
        if s.table is not None:
            _pptx_table(slide, s.table, MARGIN_IN, top, width, Inches, Pt, dark)
            top = SLIDE_HEIGHT_IN - 0.5 - 0.25 * len(s.lines) - 0.1 if s.lines else top
        if s.lines:
            size = 16 if s.figures or s.table is not None else 20
            text(slide, MARGIN_IN, top, width, SLIDE_HEIGHT_IN - top - 0.5, list(s.lines), size)
        footer(slide, number)
        slide.notes_slide.notes_text_frame.text = s.notes or "\n".join(s.lines)
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def _pptx_table(slide, table: pd.DataFrame, left, top, width, Inches, Pt, color) -> None:
    """A native, editable PowerPoint table (Table 1), text as the page shows it."""
    rows, cols = len(table) + 1, len(table.columns)
    row_h = min(0.3, (SLIDE_HEIGHT_IN - top - 0.6) / rows)
    shape = slide.shapes.add_table(rows, cols, Inches(left), Inches(top), Inches(width), Inches(row_h * rows))
    grid = shape.table
    widths = [2.6, 1.3] + [(width - 3.9) / (cols - 2)] * (cols - 2) if cols > 2 else [width / cols] * cols
    for j, w in enumerate(widths):
        grid.columns[j].width = Inches(w)
    for j, name in enumerate(table.columns):
        _cell(grid.cell(0, j), str(name), Pt, color, bold=True)
    for i, row in enumerate(table.itertuples(index=False), start=1):
        for j, value in enumerate(row):
            _cell(grid.cell(i, j), "" if value is None else str(value), Pt, color)
    for i in range(rows):
        grid.rows[i].height = Inches(row_h)


def _cell(cell, value: str, Pt, color, bold: bool = False) -> None:
    cell.text = value
    for par in cell.text_frame.paragraphs:
        for run in par.runs:
            run.font.size, run.font.bold, run.font.color.rgb = Pt(12), bold, color
    cell.margin_top = cell.margin_bottom = Pt(2)


# --------------------------------------------------------------------------------------------
# HTML


def to_html(d: Deck) -> str:
    """The deck as one self-contained HTML file: plotly.js inlined, interactive figures, the arrow
    keys (and Page Up/Down, space) move between slides, and printing gives one slide a page. Every
    text from the cohort is escaped: nothing in an uploaded cell runs or renders as markup."""
    from plotly.offline import get_plotlyjs

    esc = html.escape
    sections, figures = [], []
    first = ("<section class='title'><h1>" + esc(d.title) + "</h1>"
             + "".join(f"<p>{esc(line)}</p>" for line in d.facts) + _html_footer(d, 1) + "</section>")
    sections.append(first)
    for number, s in enumerate(d.slides, start=2):
        parts = [f"<h2>{esc(s.title)}</h2>"]
        if s.figures:
            cells = []
            for f in s.figures:
                figures.append(json.loads(f.to_json()))
                cells.append(f"<div class='figure' id='figure-{len(figures) - 1}'></div>")
            parts.append(f"<div class='figures n{len(s.figures)}'>" + "".join(cells) + "</div>")
        if s.table is not None:
            head = "".join(f"<th>{esc(str(c))}</th>" for c in s.table.columns)
            body = "".join("<tr>" + "".join(f"<td>{esc('' if v is None else str(v))}</td>" for v in row) + "</tr>"
                           for row in s.table.itertuples(index=False))
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        if s.lines:
            parts.append("<ul class='lines'>" + "".join(f"<li>{esc(line)}</li>" for line in s.lines) + "</ul>")
        if s.notes:
            parts.append(f"<aside class='notes'>{esc(s.notes)}</aside>")
        sections.append("<section>" + "".join(parts) + _html_footer(d, number) + "</section>")
    # JSON inside <script> is safe from "</script>" only with "<" escaped.
    data = json.dumps(figures).replace("<", "\\u003c")
    return _HTML.format(title=esc(d.title), plotly=get_plotlyjs(), sections="\n".join(sections), figures=data)


def _html_footer(d: Deck, number: int) -> str:
    return f"<footer><span>{html.escape(d.footer)}</span><span class='number'>{number}</span></footer>"


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  html, body {{ margin: 0; background: #222; font-family: "Source Sans Pro", Arial, sans-serif; color: #1f1f24; }}
  section {{ display: none; box-sizing: border-box; width: 100vw; height: 56.25vw; max-height: 100vh;
             max-width: 177.78vh; margin: auto; background: white; padding: 3vh 3.5vw 5vh; position: relative;
             overflow: hidden; }}
  section.current {{ display: block; }}
  section.title h1 {{ margin-top: 18vh; font-size: 5vh; }}
  section.title p {{ font-size: 2.8vh; margin: 0.8vh 0; }}
  h2 {{ font-size: 4.2vh; margin: 0 0 1.5vh; }}
  .figures {{ display: flex; gap: 2vw; height: 60%; }}
  .figure {{ flex: 1; min-width: 0; }}
  ul.lines {{ font-size: 2.6vh; margin: 1.5vh 0 0; padding-left: 3vh; }}
  table {{ border-collapse: collapse; font-size: 1.8vh; width: 100%; }}
  th, td {{ border-bottom: 1px solid #ddd; padding: 0.35vh 0.8vh; text-align: left; }}
  aside.notes {{ display: none; }}
  footer {{ position: absolute; left: 3.5vw; right: 3.5vw; bottom: 1.5vh; font-size: 1.5vh; color: #555;
            display: flex; justify-content: space-between; gap: 2vw; }}
  @media print {{
    @page {{ size: 13.333in 7.5in; margin: 0; }}
    html, body {{ background: white; }}
    section {{ display: block !important; width: 13.333in; height: 7.5in; max-width: none; max-height: none;
               page-break-after: always; break-after: page; }}
    section:last-of-type {{ page-break-after: auto; break-after: auto; }}
  }}
</style>
<script>{plotly}</script>
</head><body>
{sections}
<script type="application/json" id="figures">{figures}</script>
<script>
(function () {{
  var figures = JSON.parse(document.getElementById("figures").textContent);
  var slides = Array.prototype.slice.call(document.querySelectorAll("section"));
  var current = 0, drawn = {{}};
  function draw(section) {{
    section.querySelectorAll(".figure").forEach(function (el) {{
      var i = +el.id.split("-")[1];
      if (drawn[i]) {{ Plotly.Plots.resize(el); return; }}
      var f = figures[i], layout = Object.assign({{}}, f.layout, {{autosize: true, width: null, height: null}});
      Plotly.newPlot(el, f.data, layout, {{responsive: true, displaylogo: false}});
      drawn[i] = true;
    }});
  }}
  function show(i) {{
    current = Math.max(0, Math.min(slides.length - 1, i));
    slides.forEach(function (s, k) {{ s.classList.toggle("current", k === current); }});
    draw(slides[current]);
    document.body.dataset.slide = String(current + 1);
  }}
  document.addEventListener("keydown", function (e) {{
    if (["ArrowRight", "ArrowDown", "PageDown", " "].indexOf(e.key) >= 0) {{ show(current + 1); e.preventDefault(); }}
    if (["ArrowLeft", "ArrowUp", "PageUp"].indexOf(e.key) >= 0) {{ show(current - 1); e.preventDefault(); }}
    if (e.key === "Home") show(0);
    if (e.key === "End") show(slides.length - 1);
  }});
  window.addEventListener("beforeprint", function () {{ slides.forEach(draw); }});
  show(0);
  slides.forEach(function (s, k) {{ if (k !== current) {{ s.classList.add("current"); draw(s); s.classList.remove("current"); }} }});
}})();
</script>
</body></html>
"""
