"""Relapse-free survival: Kaplan–Meier by arm with risk table, landmarks, by diagnosis, forest plot."""

import pandas as pd
import streamlit as st

from analysis import plots
from analysis.relapse import relapse
from analysis.schema import DIAGNOSES
from pages.views import common

ctx = common.context()
st.title("Relapse-free survival")
if common.arm_sizes_ok(ctx, what="responders"):
    r = ctx.results.relapse
    c1, c2 = st.columns(2)
    show_ci = c1.toggle("95% confidence bands", value=True, key="rfs_ci")
    split = c2.toggle("Split by diagnosis", value=False, key="rfs_split")
    if split:
        per_dx = {d: relapse(ctx.results.patients[ctx.results.patients["diagnosis"] == d]).rfs for d in DIAGNOSES
                  if (ctx.results.patients["diagnosis"] == d).any()}
        common.chart(plots.km_by_diagnosis(per_dx, "Relapse-free survival by diagnosis", "Relapse-free (%)", show_ci=show_ci),
                     "rfs_by_diagnosis", ctx)
    else:
        common.chart(plots.km(r.rfs, "Relapse-free survival among responders", "Relapse-free (%)", show_ci=show_ci),
                     "rfs", ctx)

    st.dataframe(plots.landmark_table(r.rfs.landmarks, "survival", "RFS at {months} months (95% CI)"), width="stretch")
    rate = r.rate
    st.markdown(f"**Relapse among responders:** tacrolimus {rate.a.events}/{rate.a.n} ({100 * rate.a.rate:.1f}%), "
                f"control {rate.b.events}/{rate.b.n} ({100 * rate.b.rate:.1f}%); {plots.format_p(rate.p_value)} "
                f"({rate.test or rate.reason}).")

    st.subheader("Hazard ratio by subgroup")
    common.chart(plots.forest(r.subgroups), "rfs_forest", ctx)
    sub = r.subgroups[["group", "level", "n_tacrolimus", "events_tacrolimus", "n_control", "events_control",
                       "hazard_ratio", "ci_low", "ci_high", "p_value", "reason"]]
    with st.expander("Subgroup table"):
        st.dataframe(pd.DataFrame(sub), hide_index=True, width="stretch")

    st.caption(
        f"Responders: n = {r.rfs.n.get('tacrolimus', 0)} vs {r.rfs.n.get('control', 0)} ({ctx.filters.describe()}). "
        "RFS runs from the first confirmed response to relapse (two consecutive counts without response ≥ 1 day apart), "
        "censored at last follow-up (tick marks). Kaplan–Meier with log(−log) 95% CIs; log-rank test; Cox hazard ratio "
        "(Efron ties) with Wald 95% CI. Dotted lines: medians. Age bands: <40, 40–59, ≥60 years."
    )
