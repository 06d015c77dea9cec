"""Safety & cost: adverse-event incidence by arm, by term, and drug expenses at 18 months."""

import pandas as pd
import streamlit as st

from analysis import format as fmt
from analysis import plots
from analysis.schema import AE_FLAGS, CURRENCY
from views.parts import show
from views.parts.cohort import context

ctx = context()
st.title("Safety & cost")
show.abbreviations("AE", "CI", "IQR")
if show.enough_patients(ctx):
    s = ctx.results.safety
    show.chart(plots.rates({AE_FLAGS[k]: c for k, c in s.incidence.items()}, "Patients with adverse events"),
               "adverse_events", ctx)
    rows = [{"Adverse events": AE_FLAGS[k], "Tacrolimus + steroid": fmt.events(c.a), "Steroid alone": fmt.events(c.b),
             "p": fmt.p_value(c.p_value), "Test": c.test or c.reason} for k, c in s.incidence.items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

    st.subheader("By term")
    if len(s.by_term):
        show.chart(plots.ae_diverging(s.by_term, "Patients with each adverse event (tacrolimus left, control right)"),
                   "adverse_events_by_term", ctx)
    else:
        st.info("No adverse events are recorded for the selected patients.")

    st.subheader("Drug expenses at 18 months")
    cost = s.cost
    if cost.a.n and cost.b.n:
        show.chart(plots.by_arm_box(ctx.results.patients, "drug_cost_18m", f"Drug expenses ({CURRENCY})",
                                    "Drug expenses over the first 18 months", cost.p_value), "drug_cost", ctx)
        st.caption(f"Median {fmt.number(cost.a.median, 0)} vs {fmt.number(cost.b.median, 0)} {CURRENCY} (IQR "
                   f"{fmt.number(cost.a.q1, 0)}–{fmt.number(cost.a.q3, 0)} vs {fmt.number(cost.b.q1, 0)}–"
                   f"{fmt.number(cost.b.q3, 0)}); Mann–Whitney U {fmt.p_value(cost.p_value)}.")
    else:
        st.info("The cohort has no drug_cost_18m values for one of the arms.")

    st.caption(f"n = {s.incidence['any_ae'].a.n:,} vs {s.incidence['any_ae'].b.n:,} ({ctx.filters.describe()}). A patient "
               "counts once per row however many events they had. Fisher's exact test when an expected count is below 5, "
               "otherwise χ² with continuity correction. Attribution (steroid, tacrolimus, other) as recorded.")
