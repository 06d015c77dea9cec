"""Steroid taper: daily dose over time, cumulative dose, time to discontinuation, tacrolimus troughs."""

import streamlit as st

from analysis import format as fmt
from analysis import plots
from views.parts import show
from views.parts.cohort import context

ctx = context()
st.title("Steroid taper")
show.abbreviations("IQR", "HR", "CI")
if show.enough_patients(ctx):
    r = ctx.results
    s = r.steroids
    show_courses = st.toggle("Show individual courses (a random sample of 25 per arm)", value=False, key="courses",
                             bind="query-params")
    show.chart(plots.dose_curve(r.dose_curve, "Daily prednisone-equivalent dose: median and IQR of patients still followed",
                                courses=r.steroid_courses if show_courses else None), "steroid_dose", ctx)

    show.chart(plots.by_arm_box(r.patients, "steroid_cum_mg", "Cumulative dose (mg prednisone-equivalent)",
                                "Cumulative steroid dose over follow-up", s.cumulative.p_value), "steroid_cumulative", ctx)
    show.chart(plots.km(s.discontinuation, "Time to steroid discontinuation (share off steroids)", "Off steroids (%)",
                        cumulative=True, x_title="Months since the first steroid dose"), "steroid_discontinuation", ctx)

    st.dataframe(fmt.km_summary(s.discontinuation, "Steroid-free at {months} months (95% CI)", cumulative=True),
                 width="stretch")

    st.subheader("Tacrolimus trough levels")
    tr = s.troughs
    if tr.measurements:
        show.chart(plots.troughs(r.troughs), "tacrolimus_troughs", ctx)
        st.caption(f"{tr.measurements:,} troughs in {tr.patients:,} patients: median {tr.values.median:.1f} ng/mL "
                   f"(IQR {tr.values.q1:.1f}–{tr.values.q3:.1f}); {fmt.percent(tr.in_range, 0)} within "
                   f"{fmt.target_range()}, {fmt.percent(tr.below, 0)} below, {fmt.percent(tr.above, 0)} above.")
    else:
        st.info("No tacrolimus trough levels are recorded for the selected patients.")

    c = s.cumulative
    st.caption(
        f"n = {c.a.n:,} vs {c.b.n:,} patients with steroid records ({ctx.filters.describe()}). Doses converted to prednisone "
        "equivalents (prednisolone 1, methylprednisolone 1.25, dexamethasone 6.67, hydrocortisone 0.25). Cumulative dose: "
        f"median {fmt.number(c.a.median, 0)} vs {fmt.number(c.b.median, 0)} mg, Mann–Whitney U {fmt.p_value(c.p_value)}. "
        "Discontinuation: first to last steroid dose, censored at last follow-up when still on steroids; Kaplan–Meier, "
        "log-rank test; a hazard ratio above 1 means steroids were stopped sooner with tacrolimus."
    )
