"""Data: the cohort in use, upload your own (validated, kept in this browser session only),
the template workbook and data dictionary, and downloads of endpoints and the report."""

import json

import streamlit as st

from analysis.cohort import from_bytes
from analysis.report import build, endpoints_csv, endpoints_table, markdown
from analysis.schema import CohortError
from analysis.template import data_dictionary, template_workbook
from pages.views import common

ctx = common.context()
st.title("Data")
c = ctx.cohort
kind = "**synthetic — not real patients**" if c.synthetic else "department data"
st.markdown(f"In use: **{common.md_escape(c.name)}** ({kind}) · {len(c.endpoints)} patients · content hash `{c.short_hash}`")
if st.session_state.get(common.UPLOADED) is not None:
    st.caption("This cohort was uploaded in this browser session. It is kept in memory only, never written to disk, "
               "and no other session can see it. Closing the tab discards it.")
    if st.button("Go back to the configured cohort"):
        st.session_state.pop(common.UPLOADED, None)
        st.session_state.pop("_results", None)
        st.rerun()
if c.report.warnings:
    with st.expander(f"{len(c.report.warnings)} validation warning(s)"):
        common.problems_table(c.report)

st.subheader("Use your own cohort")
st.markdown("An `.xlsx` workbook with one sheet per table, a `.zip` of Parquet tables, or one Parquet/CSV file of "
            "patients. The format is below and in the template workbook.")
# .xls is accepted here so that the reader can say what to do with it (save as .xlsx).
upload = st.file_uploader("Cohort file", type=["xlsx", "zip", "parquet", "csv", "xls"], key="upload")
if upload is not None and st.session_state.get("_upload_id") != upload.file_id:
    st.session_state["_upload_id"] = upload.file_id
    try:
        st.session_state[common.UPLOADED] = from_bytes(upload.name, upload.getvalue())
        st.session_state.pop("_results", None)
        st.session_state["_upload_problems"] = None
        st.rerun()
    except CohortError as err:
        st.session_state["_upload_problems"] = (upload.name, err.report)
problems = st.session_state.get("_upload_problems")
if problems:
    name, report = problems
    st.error(f"{common.md_escape(name)} was not loaded: {len(report.errors)} problem(s) must be corrected first. "
             "The cohort in use has not changed.")
    common.problems_table(report)

# Downloads are built when clicked (a callable), not on every render of this page, and a click
# does not rerun the page.
configured = common.configured_cohort()
st.download_button("Download the template workbook (.xlsx)", lambda: template_workbook(configured.tables),
                   file_name="cohort-template.xlsx", on_click="ignore",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
with st.expander("Data dictionary"):
    st.dataframe(data_dictionary(), hide_index=True, width="stretch")

st.subheader("Downloads for the current filters")
st.caption(f"Filters: {ctx.filters.describe()}.")
cols = st.columns(3)
cols[0].download_button("Endpoints per patient (CSV)", lambda: endpoints_csv(endpoints_table(c, ctx.filters)),
                        file_name="endpoints.csv", mime="text/csv", on_click="ignore")
cols[1].download_button("Report (JSON)", lambda: json.dumps(build(c, ctx.filters, ctx.results), indent=2, ensure_ascii=False),
                        file_name="report.json", mime="application/json", on_click="ignore")
cols[2].download_button("Report (Markdown)", lambda: markdown(build(c, ctx.filters, ctx.results)), file_name="report.md",
                        mime="text/markdown", on_click="ignore")

with st.expander("Deployment settings in effect (for IT)"):
    st.caption("Read from this server as it runs. The README says what each protects and how to change it.")
    common.deployment_settings()
