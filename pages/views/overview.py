"""Overview: what the study compares, which data is in use, headline figures, Table 1."""

import streamlit as st

from analysis.baseline import table1_display
from analysis.plots import format_p
from analysis.schema import ARM_CONTROL, ARM_TACROLIMUS
from pages.views import common

ctx = common.context()
st.title("Tacrolimus + steroid vs steroid alone")
st.markdown(
    "Does adding **tacrolimus** to steroids help adults with autoimmune cytopenias — immune thrombocytopenia (ITP), "
    "autoimmune hemolytic anemia (AIHA) and Evans syndrome (ES)? The dashboard compares response, relapse-free "
    "survival, steroid exposure and safety between the two arms of a cohort like Zhang et al., Ann Hematol 2022."
)
if ctx.cohort.synthetic:
    st.info("**Synthetic data — not real patients.** This cohort is calibrated to the published abstract of Zhang et al., "
            "Ann Hematol 2022 (patient counts, sex and age); its effect sizes are assumptions. Load your own cohort on the "
            "Data page.")
else:
    st.info(f"Data in use: **{common.md_escape(ctx.cohort.name)}** ({len(ctx.cohort.endpoints)} patients).")

if common.arm_sizes_ok(ctx):
    r = ctx.results
    t, c = ARM_TACROLIMUS, ARM_CONTROL
    orr, crr = r.response.orr, r.response.crr
    rfs = r.relapse.rfs.landmarks.set_index(["arm", "months"])["survival"]
    stop = r.steroids.discontinuation.curves

    def pct(x: float) -> str:
        return "–" if x != x else f"{100 * x:.1f}%"

    def months(x: float) -> str:
        return "not reached" if x != x else f"{x:.1f} mo"

    n = r.patients["arm"].value_counts()
    headline = {
        "Patients": (str(n.get(t, 0)), str(n.get(c, 0)), ""),
        "Best ORR": (pct(orr.a.rate), pct(orr.b.rate), f"{format_p(orr.p_value)}, {orr.test or orr.reason}"),
        "Best CRR": (pct(crr.a.rate), pct(crr.b.rate), f"{format_p(crr.p_value)}, {crr.test or crr.reason}"),
        "12-month RFS": (pct(rfs.get((t, 12.0), float("nan"))), pct(rfs.get((c, 12.0), float("nan"))),
                         f"log-rank {format_p(r.relapse.rfs.logrank.p_value)}"),
        "Median steroid stop": (months(stop[t].median), months(stop[c].median),
                                        f"log-rank {format_p(r.steroids.discontinuation.logrank.p_value)}"),
    }
    for arm_index, arm_label in enumerate(("Tacrolimus + steroid", "Steroid alone")):
        st.markdown(f"**{arm_label}**")
        cols = st.columns(len(headline))
        for col, (name, values) in zip(cols, headline.items()):
            col.metric(name, values[arm_index], help=values[2] or None)
    st.caption(" · ".join(f"{name}: {v[2]}" for name, v in headline.items() if v[2]))

    st.subheader("Table 1 — baseline characteristics")
    st.dataframe(table1_display(r.table1), hide_index=True, width="stretch")
    st.caption(f"n = {len(r.patients)} ({ctx.filters.describe()}). p: Mann–Whitney U for continuous rows; χ² "
               "(Fisher's exact test for 2×2 tables with an expected count below 5) for categorical rows. SMD: "
               "standardised mean difference (absolute; Yang & Dalton for categories).")
