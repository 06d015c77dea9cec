"""The sidebar filters, bound to the URL (/rfs?dx=ITP&sex=Female&age=40&age=70) so that a
filtered view can be shared as a link, the reviewer's definitions (/rfs?relapse_cr=true, see
analysis/definitions.py), and the figure download format."""

from __future__ import annotations

from dataclasses import fields

import streamlit as st

from analysis.cohort import Cohort
from analysis.definitions import Definitions
from analysis.filters import Filters
from analysis.schema import ARMS, DIAGNOSES, SEX_LABELS, SEXES, arm_counts


def _chosen(options: tuple[str, ...], picked: list[str]) -> tuple[str, ...] | None:
    """A multiselect as a Filters field: None when every option is picked (any), else the picked
    options in their canonical order (an empty tuple when none is)."""
    return None if set(picked) == set(options) else tuple(o for o in options if o in picked)


def _reset(age_range: tuple[int, int]) -> None:
    st.session_state["dx"] = list(DIAGNOSES)
    st.session_state["sex"] = list(SEXES)
    st.session_state["age"] = age_range


def _definitions() -> Definitions:
    """The reviewer's switches, one toggle each, kept in the URL under their short names."""
    # Open when the link switched one on, so that the reader sees which.
    opened = any(str(st.query_params.get(f.metadata["url"], "")).lower() == "true" for f in fields(Definitions))
    with st.expander("Definitions", expanded=opened):
        st.caption("How response and relapse are read. Off: the study's reading. Every page, download and slide "
                   "follows these switches and names the ones that are on.")
        on = {f.name: st.toggle(f.metadata["label"], key=f.metadata["url"], bind="query-params",
                                help=f.metadata["help"].capitalize() + ".")
              for f in fields(Definitions)}
    return Definitions(**on)


def filters(cohort: Cohort) -> Filters:
    """Draw the filters for this cohort (the age slider spans its ages) and return their value."""
    e = cohort.endpoints
    lo, hi = int(e["age"].min()), int(e["age"].max())
    if lo == hi:
        hi = lo + 1
    with st.sidebar:
        st.markdown("### Filters")
        dx = st.multiselect("Diagnosis", list(DIAGNOSES), default=list(DIAGNOSES), key="dx", bind="query-params")
        age = st.slider("Age at treatment start (years)", lo, hi, (lo, hi), key="age", bind="query-params")
        sex = st.multiselect("Sex", list(SEXES), default=list(SEXES), format_func=SEX_LABELS.get, key="sex",
                             bind="query-params")
        chosen = Filters(
            diagnosis=_chosen(DIAGNOSES, dx),
            sex=_chosen(SEXES, sex),
            age_min=float(age[0]) if age[0] > lo else None,
            age_max=float(age[1]) if age[1] < hi else None,
            definitions=_definitions(),
        )
        shown = chosen.selected(e)
        n_t, n_c = arm_counts(e, shown)
        st.markdown(f"**n = {int(shown.sum()):,} of {len(e):,} patients** · {ARMS[0]} {n_t:,} · {ARMS[1]} {n_c:,}")
        st.button("Reset filters", on_click=_reset, args=((lo, hi),), width="stretch")
        st.divider()
        st.toggle("Projector mode", key="projector", bind="query-params",
                  help="Larger, darker text and thicker lines in every figure, for a meeting room.")
        st.segmented_control("Figure download (camera icon on each figure)", ["PNG (2×)", "SVG"], default="PNG (2×)",
                             key="export_format", required=True)
    return chosen
