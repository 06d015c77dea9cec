"""Relapse-free survival: Kaplan–Meier by arm with risk table, landmarks, by diagnosis, forest plot."""

import streamlit as st

from analysis import format as fmt
from analysis import plots
from views.parts import show
from views.parts.cohort import context

ctx = context()
st.title("Relapse-free survival")
show.abbreviations("RFS", "HR", "CI")
if show.enough_patients(ctx) and show.enough_responders(ctx):
    r = ctx.results
    c1, c2 = st.columns(2)
    show_ci = c1.toggle("95% confidence bands", value=True, key="rfs_ci", bind="query-params")
    if c2.toggle("Split by diagnosis", value=False, key="rfs_split", bind="query-params"):
        show.chart(plots.km_by_diagnosis(r.rfs_by_diagnosis, "Relapse-free survival by diagnosis", "Relapse-free (%)",
                                         show_ci=show_ci), "rfs_by_diagnosis", ctx)
    else:
        show.chart(plots.km(r.rfs, "Relapse-free survival among responders", "Relapse-free (%)", show_ci=show_ci),
                   "rfs", ctx)

    st.dataframe(fmt.km_summary(r.rfs, "RFS at {months} months (95% CI)"), width="stretch")
    rate = r.relapse_rate
    st.markdown(f"**Relapse among responders:** tacrolimus {fmt.events(rate.a)}, control {fmt.events(rate.b)}; "
                f"{fmt.p_value(rate.p_value)} ({rate.test or rate.reason}).")

    st.subheader("Hazard ratio by subgroup")
    show.chart(plots.forest(r.rfs_subgroups), "rfs_forest", ctx)
    with st.expander("Subgroup table (relapses/patients per arm)"):
        st.dataframe(fmt.subgroup_table(r.rfs_subgroups), hide_index=True, width="stretch")

    st.caption(
        f"Responders: n = {r.rfs.n.get('tacrolimus', 0):,} vs {r.rfs.n.get('control', 0):,} ({ctx.filters.describe()}). "
        f"RFS runs from the first confirmed response to relapse ({ctx.filters.definitions.relapse_rule()}), "
        "censored at last follow-up (tick marks). Kaplan–Meier with log(−log) 95% CIs; log-rank test; Cox hazard ratio "
        "(Efron ties) with Wald 95% CI. Dotted lines: medians; NR: not reached. Age bands: <40, 40–59, ≥60 years."
    )
