"""Steroid taper: daily dose over time, cumulative dose, time to discontinuation, tacrolimus troughs."""

import streamlit as st

from analysis import plots
from analysis.steroids import course_sample, trough_points
from pages.views import common

ctx = common.context()
st.title("Steroid taper")
if common.arm_sizes_ok(ctx):
    p, s = ctx.results.patients, ctx.results.steroids
    show_courses = st.toggle("Show individual courses (a random sample of 25 per arm)", value=False, key="courses")
    curve = ctx.results.dose_curve
    courses = course_sample(p, ctx.cohort.steroid_segments) if show_courses else None
    common.chart(plots.dose_curve(curve, "Daily prednisone-equivalent dose: median and IQR of patients still followed",
                                  courses=courses), "steroid_dose", ctx)

    common.chart(plots.by_arm_box(p, "steroid_cum_mg", "Cumulative dose (mg prednisone-equivalent)",
                                  "Cumulative steroid dose over follow-up", s.cumulative.p_value), "steroid_cumulative", ctx)
    common.chart(plots.km(s.discontinuation, "Time to steroid discontinuation (share off steroids)", "Off steroids (%)",
                          cumulative=True, x_title="Months since the first steroid dose"), "steroid_discontinuation", ctx)

    st.dataframe(plots.landmark_table(s.steroid_free, "share", "Steroid-free at {months} months (95% CI)"), width="stretch")

    st.subheader("Tacrolimus trough levels")
    tr = s.troughs
    if tr.measurements:
        common.chart(plots.troughs(trough_points(p, ctx.cohort.tables.tacrolimus)), "tacrolimus_troughs", ctx)
        st.caption(f"{tr.measurements} troughs in {tr.patients} patients: median {tr.values.median:.1f} ng/mL "
                   f"(IQR {tr.values.q1:.1f}–{tr.values.q3:.1f}); {100 * tr.in_range:.0f}% within 5–10 ng/mL, "
                   f"{100 * tr.below:.0f}% below, {100 * tr.above:.0f}% above.")
    else:
        st.info("No tacrolimus trough levels are recorded for the selected patients.")

    c = s.cumulative
    st.caption(
        f"n = {c.a.n} vs {c.b.n} patients with steroid records ({ctx.filters.describe()}). Doses converted to prednisone "
        "equivalents (prednisolone 1, methylprednisolone 1.25, dexamethasone 6.67, hydrocortisone 0.25). Cumulative dose: "
        f"median {c.a.median:,.0f} vs {c.b.median:,.0f} mg, Mann–Whitney U {plots.format_p(c.p_value)}. Discontinuation: "
        "first to last steroid dose, censored at last follow-up when still on steroids; Kaplan–Meier, log-rank test; a hazard "
        "ratio above 1 means steroids were stopped sooner with tacrolimus."
    )
