"""Overview: what the study compares, which data is in use, headline figures, Table 1."""

import streamlit as st

from analysis import format as fmt
from analysis.schema import ARM_CONTROL, ARM_TACROLIMUS, ARMS
from views.parts import show
from views.parts.cohort import context

ctx = context()
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
    st.info(f"Data in use: **{show.md_escape(ctx.cohort.name)}** ({len(ctx.cohort.endpoints)} patients).")

if show.enough_patients(ctx):
    r = ctx.results
    orr, crr = r.response.orr, r.response.crr
    rfs12 = r.rfs.landmarks.set_index(["arm", "months"])["survival"]
    stop = r.steroids.discontinuation.curves
    n = r.patients["arm"].value_counts()
    headline = {  # name: (tacrolimus, control, what the number is, the test)
        "Patients": (*(str(n.get(a, 0)) for a in ARMS), "Patients under the current filters.", ""),
        "Best ORR": (fmt.percent(orr.a.rate), fmt.percent(orr.b.rate),
                     "Overall response rate: share of patients whose best response was CR or R/PR.",
                     f"{fmt.p_value(orr.p_value)}, {orr.test or orr.reason}"),
        "Best CRR": (fmt.percent(crr.a.rate), fmt.percent(crr.b.rate),
                     "Complete response rate: share of patients whose best response was CR.",
                     f"{fmt.p_value(crr.p_value)}, {crr.test or crr.reason}"),
        "12-month RFS": (*(fmt.percent(rfs12.get((a, 12.0))) for a in ARMS),
                         "Relapse-free survival at 12 months among responders (Kaplan–Meier).",
                         f"log-rank {fmt.p_value(r.rfs.logrank.p_value)}"),
        "Median steroid stop": (fmt.months(stop[ARM_TACROLIMUS].median), fmt.months(stop[ARM_CONTROL].median),
                                "Median time from the first to the last steroid dose (Kaplan–Meier).",
                                f"log-rank {fmt.p_value(r.steroids.discontinuation.logrank.p_value)}"),
    }
    for arm_index, arm_label in enumerate(("Tacrolimus + steroid", "Steroid alone")):
        st.markdown(f"**{arm_label}**")
        cols = st.columns(len(headline))
        for col, (name, values) in zip(cols, headline.items()):
            col.metric(name, values[arm_index], help=" ".join(v for v in values[2:] if v))
    st.caption(" · ".join(f"{name}: {v[3]}" for name, v in headline.items() if v[3]))
    show.abbreviations("ORR", "CRR", "CR", "R/PR", "RFS", "SMD", "IQR")

    st.subheader("Table 1 — baseline characteristics")
    show.table(fmt.table1_display(r.table1), hide_index=True)
    st.caption(f"n = {len(r.patients):,} ({ctx.filters.describe()}). p: Mann–Whitney U for continuous rows; χ² "
               "(Fisher's exact test for 2×2 tables with an expected count below 5) for categorical rows. SMD: "
               "standardised mean difference (absolute; Yang & Dalton for categories).")
