"""Every page with Streamlit's AppTest: the default view, a filter change, a filter that empties
an arm; the numbers on the page equal `python -m analysis report`; no exception anywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.cohort import DEFAULT_COHORT, load
from analysis.filters import Filters
from analysis.report import build
from views import VIEWS, view

ROOT = Path(__file__).resolve().parent.parent
PAGES = [str(v.path) for v in VIEWS]
T, C = "tacrolimus", "control"


@pytest.fixture(autouse=True)
def shipped_cohort(monkeypatch):
    monkeypatch.delenv("COHORT_PATH", raising=False)


def fresh() -> AppTest:
    """The app under AppTest, not yet run."""
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)


def app() -> AppTest:
    return fresh().run()


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def metrics(at: AppTest) -> dict[str, str]:
    """Overview headline metrics as "<label> · <arm>": the first row is tacrolimus, the second control."""
    ms = list(at.metric)
    half = len(ms) // 2
    return {f"{m.label} · {'Tacrolimus + steroid' if i < half else 'Steroid alone'}": m.value for i, m in enumerate(ms)}


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [w.value for w in at.warning]
    parts += [m.value for m in at.sidebar.markdown]
    parts += [i.value for i in at.info] + [e.value for e in at.error]
    return "\n".join(str(p) for p in parts).replace("**", "")


@pytest.fixture(scope="module")
def report():
    return build(load(DEFAULT_COHORT), Filters())


def test_overview_headline_equals_report(report):
    at = app()
    assert not at.exception
    m = metrics(at)
    assert m["Patients · Tacrolimus + steroid"] == "144" and m["Patients · Steroid alone"] == "174"
    assert m["Best ORR · Tacrolimus + steroid"] == pct(report["response"]["orr"][T]["rate"])
    assert m["Best CRR · Steroid alone"] == pct(report["response"]["crr"][C]["rate"])
    assert m["12-month RFS · Tacrolimus + steroid"] == pct(report["relapse"]["rfs"]["at_12_months"][T])
    assert m["Median steroid stop · Steroid alone"] == f"{report['steroids']['discontinuation']['median_months'][C]:.1f} mo"
    assert "Synthetic data — not real patients" in texts(at)
    assert "n = 318 of 318 patients" in texts(at)
    assert "content hash" in texts(at)  # the provenance footer (tests/e2e checks it on every page in a browser)
    table1 = at.dataframe[0].value
    assert table1.iloc[0]["Tacrolimus + steroid"] == "144"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_by_default(page):
    at = app()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    if not page.endswith(("data.py", "overview.py")):
        assert len(at.get("plotly_chart")) >= 1


def test_filter_change_updates_numbers():
    at = app()
    at.multiselect(key="dx").set_value(["ITP"]).run()
    assert not at.exception
    itp = build(load(DEFAULT_COHORT), Filters(diagnosis=("ITP",)))
    m = metrics(at)
    assert m["Patients · Tacrolimus + steroid"] == str(itp["n"][T]) == "120"
    assert m["Best CRR · Tacrolimus + steroid"] == pct(itp["response"]["crr"][T]["rate"])
    assert "n = 261 of 318 patients · tacrolimus 120 · control 141" in texts(at)
    # The filter survives a page change and drives that page too.
    at.switch_page(str(view("response").path)).run()
    assert not at.exception
    table = at.dataframe[0].value
    crr = itp["response"]["crr"]
    assert table.set_index("Endpoint").loc["Best CRR", "Tacrolimus + steroid"] == f"{crr[T]['responders']}/{crr[T]['n']}"


def test_page_numbers_equal_report(report):
    at = app()
    at.switch_page(str(view("safety").path)).run()
    rows = at.dataframe[0].value.set_index("Adverse events")
    sae = report["safety"]["steroid_related"]
    assert rows.loc["Steroid-related", "Tacrolimus + steroid"] == f"{sae[T]['events']}/{sae[T]['n']} ({pct(sae[T]['rate'])})"
    at.switch_page(str(view("rfs").path)).run()
    lm = at.dataframe[0].value
    s12 = report["relapse"]["rfs"]["at_12_months"][T]
    assert lm.loc["Tacrolimus + steroid", "RFS at 12 months (95% CI)"].startswith(pct(s12))


def one_arm_filter() -> tuple[list[str], tuple[int, int]]:
    """A diagnosis and age window the shipped cohort fills in one arm only."""
    e = load(DEFAULT_COHORT).endpoints
    es = e[e["diagnosis"] == "ES"].sort_values("age")
    for _, row in es.iloc[::-1].iterrows():
        window = e[(e["diagnosis"] == "ES") & (e["age"] >= row["age"])]
        if window["arm"].nunique() == 1:
            return ["ES"], (int(row["age"]), int(e["age"].max()))
    raise AssertionError("no one-arm window found")


@pytest.mark.parametrize("page", PAGES)
def test_a_filter_that_empties_an_arm_gives_a_sentence(page):
    dx, ages = one_arm_filter()
    at = app()
    at.multiselect(key="dx").set_value(dx).run()
    at.slider(key="age").set_range(*ages).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    if not page.endswith("data.py"):
        assert "cannot be compared" in texts(at)
        assert len(at.get("plotly_chart")) == 0


def test_empty_selection_says_so():
    at = app()
    at.multiselect(key="dx").set_value([]).run()
    assert not at.exception
    assert "No diagnosis or no sex is selected" in texts(at)
    assert "n = 0 of 318 patients" in texts(at)


def test_reset_button_restores_all_patients():
    at = app()
    at.multiselect(key="sex").set_value(["F"]).run()
    assert "n = 231 of 318" in texts(at)
    at.button[0].click().run()
    assert "n = 318 of 318" in texts(at)


def test_filters_come_from_the_url():
    at = fresh()
    at.query_params["dx"] = ["AIHA"]
    at.query_params["sex"] = ["Female"]  # the URL carries the option as shown
    at.run()
    assert not at.exception
    assert at.multiselect(key="dx").value == ["AIHA"] and at.multiselect(key="sex").value == ["F"]
    n = build(load(DEFAULT_COHORT), Filters(diagnosis=("AIHA",), sex=("F",)))["n"]
    assert f"n = {n[T] + n[C]} of 318 patients" in texts(at)


def test_data_page_offers_template_dictionary_and_downloads():
    at = app()
    at.switch_page(str(view("data").path)).run()
    assert not at.exception
    labels = [b.label for b in at.get("download_button")]
    assert any("template" in lbl for lbl in labels)
    # Patient-data downloads are links served by server.py to this session only
    # (tests/test_sessions.py); AppTest runs app.py without that server, so they show disabled.
    patient_data = {b.label: b.disabled for b in at.button}
    assert {"Endpoints per patient (CSV)", "Report (JSON)", "Report (Markdown)"} <= set(patient_data)
    assert all(patient_data[k] for k in ("Endpoints per patient (CSV)", "Report (JSON)", "Report (Markdown)"))


def test_cohort_text_is_shown_as_text_not_markdown(monkeypatch, tmp_path):
    bad = tmp_path / "patients.csv"
    bad.write_text("patient_id,arm\nA,![x](http://127.0.0.1:9/x.png) <b>bold</b>\n")
    monkeypatch.setenv("COHORT_PATH", str(bad))
    at = app()
    assert not at.exception
    cells = " ".join(at.table[0].value["problem"])
    assert "\\!\\[x\\]\\(http\\:" in cells and "\\<b\\>" in cells  # escaped: rendered literally
    assert "![x](" not in cells


def test_markdown_escape():
    from views.parts.show import md_escape
    assert md_escape("**a** [b](c) <i>") == "\\*\\*a\\*\\* \\[b\\]\\(c\\) \\<i\\>"
    assert md_escape("ITP 45") == "ITP 45"


RAW = re.compile(r"(?<![\w.])(nan|NaN|inf|-inf|None|null)(?![\w])")


def _figure_text(spec: dict) -> list[str]:
    """Every string a person sees on a Plotly figure: titles, annotations, trace names, text
    labels and tick labels (numbers on an axis are drawn from tickvals)."""
    out = []
    layout = spec.get("layout", {})
    out.append(str(layout.get("title", {}).get("text", "")))
    out += [str(a.get("text", "")) for a in layout.get("annotations", [])]
    for key, axis in layout.items():
        if key.startswith(("xaxis", "yaxis")):
            out += [str(t) for t in axis.get("ticktext", []) or []]
            title = axis.get("title", {})
            out.append(str(title.get("text", "") if isinstance(title, dict) else title))
    for trace in spec.get("data", []):
        out.append(str(trace.get("name", "")))
        text = trace.get("text")
        if isinstance(text, list):
            out += [str(t) for t in text]
        elif text is not None:
            out.append(str(text))
    return out


def visible_text(at: AppTest) -> list[str]:
    """What a person can read on the page: Markdown, captions, alerts, headings, metrics with their
    help, every table and data frame cell, and the text drawn on each figure."""
    out = [texts(at)]
    out += [h.value for h in at.title] + [h.value for h in at.subheader] + [h.value for h in at.header]
    for m in at.metric:
        out += [m.label, str(m.value), m.proto.help]
    for df in list(at.dataframe) + list(at.table):
        frame = df.value
        out += [str(c) for c in frame.columns] + [str(i) for i in frame.index]
        out += [str(v) for v in frame.to_numpy().ravel() if isinstance(v, str)]
        out += [f"{v}" for v in frame.to_numpy().ravel() if not isinstance(v, str)]
    for chart in at.get("plotly_chart"):
        out += _figure_text(json.loads(chart.proto.spec))
    return out


SMALL_SELECTIONS = {"evans-men": (["ES"], ["M"]), "evans-women": (["ES"], ["F"]), "aiha-men": (["AIHA"], ["M"])}


@pytest.mark.parametrize("selection", list(SMALL_SELECTIONS))
@pytest.mark.parametrize("page", PAGES)
def test_small_selections_show_no_raw_values(page, selection):
    """Evans syndrome in men is 3 vs 1 patients: every page, with its switches on, shows a dash
    with a reason or a sentence, never "nan", "inf" or "None"."""
    dx, sex = SMALL_SELECTIONS[selection]
    at = app()
    at.multiselect(key="dx").set_value(dx).run()
    at.multiselect(key="sex").set_value(sex).run()
    at.switch_page(page).run()
    for key in ("rfs_split", "courses"):
        if any(t.key == key for t in at.toggle):
            at.toggle(key=key).set_value(True).run()
    assert not at.exception, at.exception
    leaks = sorted({t for t in visible_text(at) if RAW.search(t)})
    assert not leaks, leaks
