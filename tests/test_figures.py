"""Every figure of the dashboard, built from the shipped cohort and from a small selection, in its
three dresses: as drawn, for a projector and for a phone; and the provenance inside each."""

from __future__ import annotations

import copy

import pytest

from analysis import plots
from analysis.filters import Filters
from analysis.results import compute
from analysis.schema import AE_FLAGS


def figures(r) -> dict:
    resp, s = r.response, r.steroids
    return {
        "rates": plots.rates({"ORR": resp.orr, "CRR": resp.crr}),
        "distribution": plots.response_distribution(resp.distribution),
        "by_diagnosis": plots.rates_by_diagnosis(resp.by_diagnosis, "ORR", "ORR by diagnosis"),
        "time_to_response": plots.km(resp.time_to_response, "t", "y", cumulative=True),
        "rfs": plots.km(r.rfs, "RFS", "Relapse-free (%)"),
        "rfs_split": plots.km_by_diagnosis(r.rfs_by_diagnosis, "RFS by diagnosis", "Relapse-free (%)"),
        "forest": plots.forest(r.rfs_subgroups),
        "dose": plots.dose_curve(r.dose_curve, courses=r.steroid_courses),
        "box": plots.by_arm_box(r.patients, "steroid_cum_mg", "mg", "Cumulative", s.cumulative.p_value),
        "troughs": plots.troughs(r.troughs),
        "adverse_events": plots.rates({AE_FLAGS[k]: c for k, c in r.safety.incidence.items()}, "AEs"),
        "by_term": plots.ae_diverging(r.safety.by_term),
        **adjusted_figures(r),
    }


def adjusted_figures(r) -> dict:
    from analysis.adjusted import estimate_rows

    a = r.adjusted
    rows = estimate_rows(r.response.orr, r.response.crr, r.rfs, r.steroids.discontinuation, a)
    out = {"adjusted_estimates": plots.adjusted_estimates(rows)}  # rows without an estimate say why
    if not a.reason:
        out.update(love=plots.love_plot(a.balance), overlap=plots.overlap(a.model.scores, r.patients["arm"] == "tacrolimus"),
                   weighted=plots.weighted_curves(a.rfs_curves, r.rfs, "RFS weighted"))
    return out


SELECTIONS = {"all": Filters(), "evans-men": Filters(diagnosis=("ES",), sex=("M",))}


@pytest.fixture(scope="module", params=list(SELECTIONS))
def built(request, shipped):
    return figures(compute(shipped, SELECTIONS[request.param]))


def font_sizes(fig) -> list[tuple[str, float]]:
    """Every text size a figure draws with (where one is set), named."""
    lay = fig.layout
    sizes = [("font", lay.font.size), ("title", lay.title.font.size), ("legend", lay.legend.font.size or lay.font.size)]
    for name in [k for k in lay.to_plotly_json() if k.startswith(("xaxis", "yaxis"))]:
        axis = lay[name]
        sizes.append((f"{name} ticks", axis.tickfont.size or lay.font.size))
    sizes += [(f"annotation {a.text[:20]!r}", a.font.size or lay.font.size) for a in lay.annotations]
    sizes += [(f"text of {t.name!r}", t.textfont.size) for t in fig.data
              if getattr(t, "mode", None) == "text" and t.textfont.size]
    return sizes


def test_projector_mode_draws_every_text_at_18_px_or_more(built):
    for name, fig in built.items():
        big = plots.for_projector(copy.deepcopy(fig))
        small = [(what, size) for what, size in font_sizes(big) if size is not None and size < plots.PROJECTOR_FONT]
        assert not small, (name, small)
        assert big.layout.title.font.size >= 24


def test_a_phone_gets_no_text_beside_the_plot_and_upright_category_names(built):
    for name, fig in built.items():
        phone = plots.for_phone(copy.deepcopy(fig))
        assert not [a for a in phone.layout.annotations if a.xref == "paper" and (a.x or 0) >= 1], name
        for axis in (phone.layout[k] for k in phone.layout.to_plotly_json() if k.startswith("xaxis")):
            if axis.ticktext is not None and any("<br>" in t for t in axis.ticktext):
                assert axis.tickangle == 0, name
        assert phone.layout.margin.t >= fig.layout.margin.t + 30  # below the phone's toolbar


def test_every_figure_carries_its_provenance_as_text_not_markup(built):
    for name, fig in built.items():
        stamped = plots.stamp(copy.deepcopy(fig), "<a href='x'>Ward 5</a> (department data)", "all patients · n = 1, 2",
                              "2026-11-29 · app 0.1.0")
        text = stamped.layout.annotations[-1].text
        assert "&lt;a href='x'&gt;Ward 5&lt;/a&gt;" in text and "n = 1, 2" in text and "2026-11-29" in text, name
        assert stamped.layout.margin.b > (fig.layout.margin.b or 0)


def test_diagnoses_the_filters_leave_out_are_not_drawn(shipped):
    r = compute(shipped, Filters(diagnosis=("ITP",)))
    fig = plots.rates_by_diagnosis(r.response.by_diagnosis, "ORR", "ORR by diagnosis")
    assert [t.split("<br>")[0] for t in fig.layout.xaxis.ticktext] == ["Immune thrombocytopenia"]
    assert not [a for a in fig.layout.annotations if "no patients" in (a.text or "")]


def test_large_cohorts_draw_boxes_and_troughs_without_every_point():
    """A 100,000-patient cohort's points drawn one by one held a page for a minute: beyond the
    limits, boxes show their outliers and the trough plot a random sample named in its legend."""
    import numpy as np
    import pandas as pd

    from analysis import plots

    rng = np.random.default_rng(0)
    for n, expected in ((plots.MAX_POINTS, "all"), (plots.MAX_POINTS + 1, "outliers")):
        values = pd.DataFrame({"arm": ["tacrolimus"] * n + ["control"] * 10, "x": rng.normal(size=n + 10)})
        boxes = plots.by_arm_box(values, "x", "x", "t", 0.5).data
        assert [b.boxpoints for b in boxes] == [expected, "all"]
    many = pd.DataFrame({"months": rng.uniform(0, 18, 50_000), "trough_ng_ml": rng.uniform(2, 14, 50_000)})
    points = plots.troughs(many).data[0]
    assert len(points.x) == plots.MAX_SCATTER_POINTS and "random 20,000 of 50,000" in points.name
    few = many.head(100)
    assert len(plots.troughs(few).data[0].x) == 100 and plots.troughs(few).data[0].name == "trough level"


def test_a_large_cohorts_censor_marks_are_one_per_stretch_of_the_axis_with_their_count():
    """Tens of thousands of censored times drawn one by one made a solid band over the curve: beyond
    plots.MAX_CENSOR_MARKS an arm gets one mark per 1/CENSOR_STRETCHES of the axis, and the marks
    still account for every censored patient; a small cohort keeps a mark per censored time."""
    import numpy as np
    import pandas as pd

    from analysis import plots
    from analysis.survival import compare_arms

    rng = np.random.default_rng(0)
    n = 20_000
    df = pd.DataFrame({"arm": rng.choice(["tacrolimus", "control"], n), "months": rng.uniform(0, 48, n).round(3),
                       "relapsed": rng.random(n) < 0.3})
    fig = plots.km(compare_arms(df, "months", "relapsed"), "t", "y")
    marks = [t for t in fig.data if t.mode == "markers"]
    assert len(marks) == 2
    for arm, trace in zip(["tacrolimus", "control"], marks):
        assert len(trace.x) <= plots.CENSOR_STRETCHES
        assert int(np.sum(trace.customdata)) == int((~df.loc[df["arm"] == arm, "relapsed"]).sum())
        assert "censored in the stretch from" in trace.hovertemplate
    small = plots.km(compare_arms(df.head(200), "months", "relapsed"), "t", "y")
    small_marks = [t for t in small.data if t.mode == "markers"]
    assert sum(len(t.x) for t in small_marks) == int((~df.head(200)["relapsed"]).sum())
    assert all("censored at" in t.hovertemplate for t in small_marks)
