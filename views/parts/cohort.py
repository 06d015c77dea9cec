"""The cohort in use in this session and its results: the configured cohort on disk
(COHORT_PATH, or the shipped one), unless this browser uploaded its own; and the `Context`
(cohort, filters, results) that app.py hands to the view it runs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from analysis.cohort import DEFAULT_COHORT, Cohort, load
from analysis.filters import Filters
from analysis.results import Results, compute
from analysis.schema import CohortError
from views.parts import memo, upload
from views.parts.show import md_escape, problems_table


def configured_path() -> Path:
    return Path(os.environ.get("COHORT_PATH") or DEFAULT_COHORT)


def _fingerprint(path: Path) -> str:
    """Names, sizes and times of the cohort's files: a changed file is a new cohort. Empty when the
    path cannot be read, so that loading it says why."""
    try:
        files = [path] if path.is_file() else sorted(f for f in path.iterdir() if f.is_file())
        return ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    except OSError:
        return ""


def prepared(path: Path, progress=None) -> Cohort:
    """A cohort on disk, read and derived once per server and file fingerprint (views/parts/memo.py);
    no page element of its own (the server's warm-up calls it before any page exists)."""
    key = (str(path), _fingerprint(path))
    return memo.COHORTS.get(key, lambda: load(path, progress))


def on_disk(path: Path) -> Cohort:
    """`prepared`, with the steps shown on the page while a cohort not yet in memory is read (a
    large cohort takes a while; the Data page then says how long each step took)."""
    if (str(path), _fingerprint(path)) in memo.COHORTS:
        return prepared(path)
    with st.status("Loading the cohort…", expanded=True) as status:
        bar = st.progress(0.0)

        def progress(step: str, number: int, of: int) -> None:
            bar.progress((number - 1) / of, text=f"{step} ({number} of {of})…")

        c = prepared(path, progress)
        status.update(label=f"Cohort loaded in {sum(c.timings.values()):.1f} s", state="complete", expanded=False)
        return c


def in_use() -> Cohort | None:
    """The cohort this session shows: its upload, else the configured cohort. When the configured
    cohort cannot be read, says why (and what to do) on the page and returns None."""
    up = upload.upload()
    dropped = upload.dropped()
    if dropped:
        st.warning(f"The cohort uploaded from {md_escape(dropped)} was let go to free the server's memory for other "
                   "uploads; the configured cohort is shown. Upload the file again on the Data page to go on with it.")
    if up is not None and up.cohort is not None:
        return up.cohort
    try:
        return on_disk(configured_path())
    except (CohortError, OSError) as err:
        report = getattr(err, "report", None)
        reason = report.errors[0].message if report is not None and report.errors else (
            getattr(err, "strerror", None) or type(err).__name__)
        st.error(f"The configured cohort ({md_escape(configured_path())}) could not be loaded: "
                 f"{md_escape(reason)} Correct it, or unset COHORT_PATH to use the shipped cohort.")
        if report is not None and len(report.problems) > 1:
            problems_table(report)
        return None


def results(cohort: Cohort, filters: Filters) -> Results:
    """Every number of the filtered cohort, computed once per cohort and filters and shared by the
    sessions that show the same; an uploaded cohort's results stay in this session."""
    up = upload.upload()
    if up is not None and up.cohort is cohort:
        return upload.results_of_upload(cohort, filters, compute)
    return shared_results(cohort, filters)


def shared_results(cohort: Cohort, filters: Filters) -> Results:
    """The results of a cohort on disk for a filter choice, kept for every session."""
    return memo.RESULTS.get((cohort.sha256, filters), lambda: compute(cohort, filters))


@dataclass(frozen=True)
class Context:
    """What a view draws: the cohort in use, the filters and their results."""

    cohort: Cohort
    filters: Filters
    results: Results


def set_context(ctx: Context) -> None:
    st.session_state["_context"] = ctx


def context() -> Context:
    """The context app.py set for the view it runs."""
    return st.session_state["_context"]
