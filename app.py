"""The dashboard's entry point. Until the analysis pages exist it shows a plain summary of the
loaded cohort: which data is in use, who is in it, and what validation said."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from analysis import __version__
from analysis.cohort import DEFAULT_COHORT, Cohort, composition, load
from analysis.schema import ARM_CONTROL, ARM_TACROLIMUS, CohortError

st.set_page_config(page_title="Tacrolimus in autoimmune cytopenias", page_icon="🩸", layout="wide")


def _fingerprint(path: Path) -> str:
    files = [path] if path.is_file() else sorted(f for f in path.iterdir() if f.is_file())
    return ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)


@st.cache_resource(max_entries=4, show_spinner="Loading the cohort…")
def _load(path: str, fingerprint: str) -> Cohort:
    return load(path)


path = Path(os.environ.get("COHORT_PATH", DEFAULT_COHORT))
st.title("Tacrolimus + steroid vs steroid alone in autoimmune cytopenias")
try:
    cohort = _load(str(path), _fingerprint(path))
except (CohortError, OSError) as err:
    report = getattr(err, "report", None)
    st.error(f"The cohort at {path} could not be loaded.")
    if report is not None:
        st.table(report.to_frame()[["severity", "table", "column", "rows", "problem"]].set_index("severity"))
    st.stop()

if cohort.synthetic:
    st.info(
        "**Synthetic data — not real patients.** This cohort is calibrated to the published abstract of "
        "Zhang et al., Ann Hematol 2022: patient counts, sex and age match it; effect sizes are assumptions."
    )
else:
    st.info(f"Data in use: **{cohort.name}**")

e = cohort.endpoints
cols = st.columns(5)
cols[0].metric("Patients", len(e))
cols[1].metric("Tacrolimus + steroid", int(e["arm"].eq(ARM_TACROLIMUS).sum()))
cols[2].metric("Steroid alone", int(e["arm"].eq(ARM_CONTROL).sum()))
cols[3].metric("Men", f"{int(e['sex'].eq('M').sum())} ({e['sex'].eq('M').mean():.1%})")
cols[4].metric("Age, median (range)", f"{e['age'].median():g} ({e['age'].min():g}–{e['age'].max():g})")

st.subheader("Patients by diagnosis and arm")
st.dataframe(composition(e), width="content")
sources = e["endpoint_source"].value_counts()
st.caption(
    f"Endpoints derived from lab results for {sources.get('labs', 0)} patients, taken from recorded "
    f"endpoints for {sources.get('recorded', 0)}, unavailable for {sources.get('none', 0)}."
)

if cohort.report.warnings:
    st.subheader("Validation warnings")
    st.table(cohort.report.to_frame()[["severity", "table", "column", "rows", "problem"]].set_index("severity"))
else:
    st.success("The cohort validated with no problems.")

st.caption(f"Data: {cohort.name} · content hash {cohort.short_hash} · app version {__version__}")
