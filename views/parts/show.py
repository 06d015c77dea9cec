"""How the views show things: cohort text as text, a validation report as a table, figures with
their download settings, a sentence when the filters leave too few patients, the footer."""

from __future__ import annotations

from datetime import date

import streamlit as st

from analysis import __version__
from analysis.plots import export_config, for_phone, for_projector, stamp
from analysis.results import no_responders, not_comparable
from analysis.schema import ABBREVIATIONS, ARM_LABELS, ARMS, arm_counts
from views.parts import identity

SMALL_ARM = 5  # fewer patients than this in an arm: the estimates get a warning
_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:=")


def md_escape(text: object) -> str:
    """Text from a cohort (names, cells, file names) shown as itself: Streamlit renders Markdown
    in st.markdown, st.caption, alerts and st.table cells, so an uploaded value such as
    ![x](http://host/x.png) would otherwise load an image from elsewhere."""
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in str(text))


def problems_table(report) -> None:
    """Every problem of a validation report as a table, cohort text escaped."""
    frame = report.to_frame()[["severity", "table", "column", "rows", "problem"]]
    frame["rows"] = frame["rows"].map(lambda n: f"{n:,}" if n else "")
    # A file that cannot be read at all names no table, column or rows: leave those columns out.
    keep = [c for c in frame.columns if c in ("severity", "problem") or frame[c].astype(str).str.len().gt(0).any()]
    st.table(frame[keep].map(md_escape).set_index("severity"))


def enough_patients(ctx) -> bool:
    """Say so, in a sentence, when the filters select nobody or leave an arm empty (False), or an
    arm tiny (True, with a note)."""
    problem = not_comparable(ctx.cohort, ctx.filters, ctx.results)
    if problem:
        st.warning(problem)
        return False
    small = [f"{ARM_LABELS[a]} ({n})" for a, n in zip(ARMS, arm_counts(ctx.results.patients)) if n < SMALL_ARM]
    if small:
        st.info(f"Few patients in {', '.join(small)}: estimates below are very uncertain.")
    return True


def enough_responders(ctx) -> bool:
    """Relapse is followed among responders only: say so when an arm has none."""
    problem = no_responders(ctx.results)
    if problem:
        st.warning(problem)
    return not problem


def on_a_phone() -> bool:
    """The browser says it is a phone (Client Hints, or "Mobile" in its user agent)."""
    headers = st.context.headers
    return headers.get("Sec-CH-UA-Mobile") == "?1" or "Mobile" in (headers.get("User-Agent") or "")


def provenance(ctx) -> tuple[str, str, str]:
    """Where a figure comes from: the data, the patients (filters, n per arm), the date and version."""
    c = ctx.cohort
    n_t, n_c = arm_counts(ctx.results.patients)
    kind = "synthetic data, not real patients" if c.synthetic else "department data"
    return (f"{c.name} ({kind})", f"{ctx.filters.describe()} · n = {n_t:,} tacrolimus + steroid, {n_c:,} steroid alone",
            f"{date.today().isoformat()} · app {__version__}")


def abbreviations(*names: str) -> None:
    """The page's abbreviations spelled out, in one line under its title."""
    st.caption(" · ".join(f"**{n}**: {ABBREVIATIONS[n]}" for n in names))


def synthetic_notice(ctx) -> None:
    """A slim line on every page while the shipped synthetic cohort is in use."""
    if ctx.cohort.synthetic:
        st.caption(":material/science: **Synthetic data — not real patients**, calibrated to the published abstract "
                   "of Zhang et al., Ann Hematol 2022. Load your own cohort on the Data page.")


def restart_notice() -> None:
    """Once, on the first page of a session that replaced one the server no longer held."""
    if st.session_state.get("_restart_told"):
        return
    st.session_state["_restart_told"] = True
    if identity.restarted():
        st.warning("This session was restarted: the server that held it stopped or restarted, or the connection "
                   "was lost for longer than the server keeps a session. This page now runs in a new session: the "
                   "filters in the link are kept; a cohort uploaded before is gone — upload it again on the Data "
                   "page.", icon=":material/restart_alt:")


def definitions_notice(ctx) -> None:
    """On every page while a reviewer's definition is switched on: which, in full sentences."""
    said = ctx.filters.definitions.sentences()
    if said:
        st.info("**Reviewer's definitions in force** (sidebar, Definitions): " + " ".join(said),
                icon=":material/rule:")


def table(frame, **kwargs) -> None:
    """A table shown whole, without an inner scroll box (35 px a row)."""
    st.dataframe(frame, height=35 * (len(frame) + 1) + 3, width="stretch", **kwargs)


def chart(fig, view: str, ctx, half: bool = False) -> None:
    """A figure, full width (of its column), with its provenance inside it, larger in projector
    mode, narrower on a phone; its camera icon downloads it as PNG (2×) or SVG, named by view and
    filters. `half`: the figure sits in one of two columns, so its provenance wraps as on a phone."""
    fmt = "svg" if st.session_state.get("export_format") == "SVG" else "png"
    phone = on_a_phone() and not st.session_state.get("projector")
    stamp(fig, *provenance(ctx), narrow=phone or half)
    if st.session_state.get("projector"):
        for_projector(fig)
    elif phone:
        for_phone(fig)
    st.plotly_chart(fig, width="stretch", config=export_config(view, ctx.filters.describe(), fmt))


def footer(ctx) -> None:
    c = ctx.cohort
    kind = "synthetic data, not real patients" if c.synthetic else "department data"
    st.caption(f"Data: {md_escape(c.name)} ({kind}) · content hash {c.short_hash} · filters: "
               f"{md_escape(ctx.filters.describe())} · app version {__version__}")
