"""Response: ORR and CRR by arm with CIs, the best-response distribution, by diagnosis, time to response."""

import pandas as pd
import streamlit as st

from analysis import format as fmt
from analysis import plots
from analysis.criteria import AIHA_CONSENSUS, EVANS_COMPOSITE, IWG_2009
from views.parts import show
from views.parts.cohort import context

ctx = context()
st.title("Response")
show.abbreviations("ORR", "CRR", "CR", "R/PR", "NR", "CI", "CMH")
if show.enough_patients(ctx):
    r = ctx.results.response
    left, right = st.columns([3, 2])
    with left:
        show.chart(plots.rates({"Best ORR (CR + R/PR)": r.orr, "Best CRR": r.crr}, "Best response rates by arm"),
                   "response_rates", ctx, half=True)
    with right:
        show.chart(plots.response_distribution(r.distribution, "Best response distribution"), "response_distribution",
                   ctx, half=True)

    rows = [{"Endpoint": label, "Tacrolimus + steroid": f"{c.a.events:,}/{c.a.n:,}", "Steroid alone": f"{c.b.events:,}/{c.b.n:,}",
             "Difference (95% CI)": fmt.difference(c), "Odds ratio (95% CI)": fmt.odds_ratio(c),
             "p": fmt.p_value(c.p_value), "Test": c.test or c.reason, "CMH across diagnoses": fmt.p_value(r.cmh[key].p_value)}
            for key, label, c in (("orr", "Best ORR", r.orr), ("crr", "Best CRR", r.crr))]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

    st.subheader("By diagnosis")
    tabs = st.tabs(["Overall response", "Complete response"])
    for tab, endpoint in zip(tabs, ("ORR", "CRR")):
        with tab:
            show.chart(plots.rates_by_diagnosis(r.by_diagnosis, endpoint, f"Best {endpoint} by diagnosis"),
                       f"response_{endpoint.lower()}_by_diagnosis", ctx)

    st.subheader("Time to first response")
    ttr = r.time_to_response
    show.chart(plots.km(ttr, "Cumulative share of patients who responded", "Responded (%)", cumulative=True,
                        x_title="Months since treatment start"), "time_to_response", ctx)
    st.dataframe(fmt.km_summary(ttr, "Responded by {months} months (95% CI)", cumulative=True), width="stretch")
    st.caption("Median time to first response in months (Kaplan–Meier; non-responders censored at last follow-up; "
               "NR: not reached).")

    st.caption(
        f"n = {r.orr.a.n:,} vs {r.orr.b.n:,} patients with a known best response ({ctx.filters.describe()}). Criteria: ITP — "
        f"{IWG_2009}; AIHA — {AIHA_CONSENSUS}; {EVANS_COMPOSITE}. Response needs two counts ≥ 7 days apart. "
        "Rates with Wilson 95% CIs; difference with Newcombe 95% CI; Fisher's exact test when an expected count is "
        "below 5, otherwise χ² with continuity correction; CMH: Cochran–Mantel–Haenszel stratified by diagnosis."
    )
    hb_alone = int(ctx.results.patients["cr_on_hb_alone"].sum())
    if hb_alone:
        st.caption(f"For {hb_alone:,} AIHA/Evans patients with CR, at least one count at CR level had no hemolysis "
                   "marker in the 7 days before it (CR there rests on hemoglobin alone; the AIHA switch under "
                   "Definitions requires a marker).")
