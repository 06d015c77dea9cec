"""Adjusted comparison: were the arms comparable, and does the result hold after propensity-score
weighting? Crude vs adjusted estimates, balance, overlap, weighted RFS, E-values."""

import streamlit as st

from analysis import format as fmt
from analysis import plots
from analysis.adjusted import COVARIATE_LABELS, estimate_rows
from views.parts import show
from views.parts.cohort import context

ESTIMANDS = {"ATE": "average treatment effect (ATE)", "ATT": "average treatment effect in the treated (ATT)"}

ctx = context()
st.title("Adjusted comparison")
show.abbreviations("ORR", "CRR", "RFS", "HR", "CI", "SMD")
st.markdown("The study was not randomised: patients who got tacrolimus may differ from those who did not. This page "
            "weights each patient by the inverse of the probability of the treatment they got, given age, sex, "
            "diagnosis and baseline counts (the propensity score), so that the weighted arms look alike, and shows "
            "whether the comparison holds.")
if show.enough_patients(ctx):
    r = ctx.results
    c1, c2 = st.columns(2)
    estimand = c1.segmented_control("Estimand", ["ATE", "ATT"], default="ATE", key="estimand", required=True,
                                    bind="query-params",
                                    help="ATE: the effect had everyone got tacrolimus vs no one. ATT: the effect among "
                                         "the patients who did get tacrolimus.")
    truncate = c2.toggle("Truncate weights at the 1st and 99th percentiles", value=False, key="truncate",
                         bind="query-params")
    a = r.adjusted_as(estimand, truncate)
    if a.reason:
        st.warning(f"The adjusted comparison cannot be computed for this selection: {a.reason}. Widen the filters.")
    else:
        show.chart(plots.adjusted_estimates(estimate_rows(r.response.orr, r.response.crr, r.rfs,
                                                          r.steroids.discontinuation, a)), "adjusted_estimates", ctx)
        lines = [fmt.e_value_sentence("Relapse, IPTW hazard ratio", fmt.hazard_ratio(a.rfs.hazard_ratio, *a.rfs.ci,
                                                                                     a.rfs.reason), a.e_values["rfs"])
                 if "rfs" in a.e_values else "",
                 fmt.e_value_sentence("Complete response, IPTW odds ratio",
                                      fmt.hazard_ratio(a.crr.odds_ratio, *a.crr.odds_ratio_ci, a.crr.reason),
                                      a.e_values["crr"]) if "crr" in a.e_values else ""]
        st.markdown("**E-values** (VanderWeele & Ding 2017): " + " ".join(line for line in lines if line))

        left, right = st.columns(2)
        with left:
            show.chart(plots.love_plot(a.balance), "balance", ctx, half=True)
        with right:
            show.chart(plots.overlap(a.model.scores, r.patients["arm"] == "tacrolimus"), "overlap", ctx, half=True)
        worst = a.balance["smd_after"].abs().max()
        if worst > 0.1:
            st.info(f"After weighting, a covariate still differs between the arms (largest |SMD| {worst:.2f} > 0.1): "
                    "the adjusted estimates carry that imbalance.")
        st.caption(f"Effective sample size after weighting: tacrolimus {a.weights.effective_n['tacrolimus']:,.0f} of "
                   f"{(r.patients['arm'] == 'tacrolimus').sum():,}, control {a.weights.effective_n['control']:,.0f} of "
                   f"{(r.patients['arm'] == 'control').sum():,}. Covariates in the model: "
                   f"{', '.join(COVARIATE_LABELS[c] for c in a.model.used)}.")

        left, right = st.columns(2)
        with left:
            show.chart(plots.weighted_curves(a.rfs_curves, r.rfs, "Relapse-free survival, weighted (crude dotted)"),
                       "rfs_weighted", ctx, half=True)
        with right:
            show.chart(plots.weighted_curves(a.steroid_curves, r.steroids.discontinuation,
                                             "Still on steroids, weighted (crude dotted)", y_title="On steroids (%)",
                                             x_title="Months since the first steroid dose"),
                       "steroids_weighted", ctx, half=True)
        st.caption(
            f"n = {len(r.patients):,} ({ctx.filters.describe()}). Propensity score: logistic regression of tacrolimus on "
            "the covariates above (a baseline not measured enters as 0 with an indicator). Stabilised inverse "
            f"probability of treatment weights for the {ESTIMANDS[estimand]}"
            f"{', truncated at the 1st and 99th percentiles' if truncate else ''}. Response: weighted "
            "proportions, odds ratio from a weighted logistic model with design-based (sandwich) 95% CI. Relapse and "
            "steroid stop: Cox model weighted by IPTW with robust 95% CI; multivariable Cox with the same covariates "
            "beside it. SMD: difference in weighted means over the pooled weighted SD. Checked against R's glm, "
            "survey::svyglm and coxph."
        )
