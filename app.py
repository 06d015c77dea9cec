"""Entry point: page config, the cohort in use, sidebar filters, navigation. Nothing else."""

from __future__ import annotations

import streamlit as st

from analysis.schema import CohortError
from pages.views import common

st.set_page_config(page_title="Tacrolimus in autoimmune cytopenias", page_icon="🩸", layout="wide")
pages = [
    st.Page(common.PAGES / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page(common.PAGES / "response.py", title="Response", icon=":material/bar_chart:"),
    st.Page(common.PAGES / "rfs.py", title="Relapse-free survival", icon=":material/show_chart:"),
    st.Page(common.PAGES / "steroids.py", title="Steroid taper", icon=":material/medication:"),
    st.Page(common.PAGES / "safety.py", title="Safety & cost", icon=":material/health_and_safety:"),
    st.Page(common.PAGES / "data.py", title="Data", icon=":material/table:"),
]
common.require_login(pages)  # off unless DASHBOARD_LOGIN=on

try:
    cohort = common.active_cohort()
except (CohortError, OSError) as err:
    report = getattr(err, "report", None)
    reason = report.errors[0].message if report is not None and report.errors else (
        getattr(err, "strerror", None) or type(err).__name__)
    st.error(f"The configured cohort ({common.md_escape(common.configured_path())}) could not be loaded: "
             f"{common.md_escape(reason)} Correct it, or unset COHORT_PATH to use the shipped cohort.")
    if report is not None and len(report.problems) > 1:
        common.problems_table(report)
    common.stop(pages)

filters, empty = common.sidebar_filters(cohort)
common.set_context(common.Context(cohort, filters, common.results(cohort, filters), empty))

page = st.navigation(pages)
page.run()
common.footer(common.context())
