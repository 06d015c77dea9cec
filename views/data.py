"""Data: the cohort in use, upload your own (validated in a separate process, kept in this
browser session only), the template workbook and data dictionary, and downloads of the
endpoints and the report (served to this session only)."""

import json

import streamlit as st

from analysis import format as fmt
from analysis import slides
from analysis.cohort import DEFAULT_COHORT
from analysis.report import build, endpoints_csv, endpoints_table, markdown
from analysis.template import data_dictionary, template_workbook
from views.parts import cohort, settings, show, upload
from views.parts.cohort import context
from views.parts.downloads import download

ctx = context()
st.title("Data")
c = ctx.cohort
kind = "**synthetic — not real patients**" if c.synthetic else "department data"
st.markdown(f"In use: **{show.md_escape(c.name)}** ({kind}) · {len(c.endpoints)} patients · content hash `{c.short_hash}`")
up = upload.upload()
if up is not None:
    st.caption(f"This cohort was uploaded in this browser session ({show.md_escape(up.filename)}, read and checked "
               f"in {up.seconds:.1f} s). It is kept in memory only, never written to disk, and no other session or "
               "browser can see it. Closing the tab discards it.")
    if st.button("Go back to the configured cohort"):
        upload.forget()
        st.rerun()
if c.timings:
    st.caption("Loaded in " + ", ".join(f"{step.lower()} {seconds:.1f} s" for step, seconds in c.timings.items())
               + f" ({sum(c.timings.values()):.1f} s in all).")
if c.report.warnings:
    with st.expander(f"{len(c.report.warnings)} validation warning(s)"):
        show.problems_table(c.report)

st.subheader("Use your own cohort")
st.markdown("An `.xlsx` workbook with one sheet per table, a `.zip` of Parquet tables, or one Parquet/CSV file of "
            "patients. The format is below and in the template workbook.")
st.caption("An uploaded cohort lives in this browser tab only: it is read in memory, never written to disk, no other "
           "tab or person sees it, and a reload of the page or closing the tab discards it.")
# .xls is accepted here so that the reader can say what to do with it (save as .xlsx).
upload.allow_uploads()
file = st.file_uploader("Cohort file", type=["xlsx", "zip", "parquet", "csv", "xls"], key="upload")
if upload.is_new(file) and upload.read_upload(file):
    st.rerun()
refused = upload.refused()
if refused is not None:
    n = len(refused.report.errors)
    st.error(f"{show.md_escape(refused.filename)} was not loaded: {n} problem{'s' if n != 1 else ''} must be "
             "corrected first. The cohort in use has not changed.")
    show.problems_table(refused.report)

# The template's example rows come from the shipped synthetic cohort, never from the cohort in use.
example = cohort.on_disk(DEFAULT_COHORT)
st.download_button("Download the template workbook (.xlsx)", lambda: template_workbook(example.tables),
                   file_name="cohort-template.xlsx", on_click="ignore",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
with st.expander("Data dictionary"):
    st.dataframe(data_dictionary(), hide_index=True, width="stretch")

st.subheader("Downloads for the current filters")
st.caption(f"Filters: {ctx.filters.describe()}. These files hold this cohort's data: they are built when clicked and "
           "served to this browser session only.")
cols = st.columns(3)
stem = fmt.file_stem(ctx.filters.describe())  # the files say which patients and definitions they hold
download("Endpoints per patient (CSV)", f"endpoints_{stem}.csv", "text/csv",
         lambda: endpoints_csv(endpoints_table(c, ctx.filters)), cols[0])
download("Report (JSON)", f"report_{stem}.json", "application/json",
         lambda: json.dumps(build(c, ctx.filters, ctx.results), indent=2, ensure_ascii=False).encode(), cols[1])
download("Report (Markdown)", f"report_{stem}.md", "text/markdown",
         lambda: markdown(build(c, ctx.filters, ctx.results)).encode(), cols[2])

st.subheader("Slides for a talk")
st.caption("The analysis for the current filters as a 16:9 deck: title, patients (Table 1 as an editable table), "
           "response, relapse-free survival and subgroups, steroids, safety, cost and methods, with the provenance "
           "on every slide and the exact numbers in the speaker notes. The HTML deck is one offline file: open it in "
           "a browser, move with the arrow keys, print it one slide a page.")
cols = st.columns(2)
if slides.renderer() is None:
    cols[0].button("Slides (PowerPoint)", disabled=True, width="stretch",
                   help="The PowerPoint deck's figures are drawn by a browser, and none is installed on this server "
                        "(apt-get install chromium). The HTML deck works without one.")
else:
    download("Slides (PowerPoint)", f"talk_{stem}.pptx",
             "application/vnd.openxmlformats-officedocument.presentationml.presentation",
             lambda: slides.to_pptx(slides.deck(c, ctx.filters, ctx.results)), cols[0])
download("Slides (HTML, offline)", f"talk_{stem}.html", "text/html",
         lambda: slides.to_html(slides.deck(c, ctx.filters, ctx.results)).encode("utf-8"), cols[1])

with st.expander("Deployment settings in effect (for IT)"):
    st.caption("Read from this server as it runs. The README says what each protects and how to change it.")
    settings.table()
