"""What belongs to one browser session alone: the cohort it uploaded, bound to the browser that
uploaded it; that cohort's results; the upload itself, read in a separate process; and the
files the session may download.

A session can be resumed by another connection that names its id. server.py already refuses a
resume from another browser (hosting/browser.py); this module checks again on every run and
forgets the uploaded cohort, its results and its problems when the browser is not the one
that uploaded it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import streamlit as st

from analysis.cohort import Cohort
from analysis.schema import ValidationReport
from hosting import downloads
from hosting.browser import BROWSER_HEADER

UPLOADED = "uploaded_cohort"
PROBLEMS = "_upload_problems"
RESULTS = "_results"
SEEN = "_upload_id"
MAX_RESULTS = 16


@dataclass(frozen=True)
class Upload:
    cohort: Cohort
    browser: str | None
    filename: str
    seconds: float
    peak_mb: float


@dataclass(frozen=True)
class Refused:
    filename: str
    report: ValidationReport
    browser: str | None


def browser() -> str | None:
    """This browser's identity (a hash of its cookie), as server.py hands it to Streamlit."""
    return st.context.headers.get(BROWSER_HEADER)


def _session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else None


def forget() -> None:
    """Drop the uploaded cohort, its results and its problems. The id of the last file read
    stays, so that the same file is not read again on the next run."""
    for key in (UPLOADED, PROBLEMS, RESULTS):
        st.session_state.pop(key, None)


def _mine(item) -> bool:
    return item is not None and item.browser == browser()


def upload() -> Upload | None:
    """The cohort this browser uploaded in this session, if any."""
    up = st.session_state.get(UPLOADED)
    refused = st.session_state.get(PROBLEMS)
    if (up is not None and not _mine(up)) or (refused is not None and not _mine(refused)):
        forget()  # another browser holds this session now
        return None
    return up


def refused() -> Refused | None:
    upload()
    return st.session_state.get(PROBLEMS)


def results_of_upload(cohort: Cohort, filters, compute: Callable):
    """Results of the uploaded cohort: kept in this session, not shared."""
    cache = st.session_state.setdefault(RESULTS, {})
    key = (cohort.sha256, filters)
    if key not in cache:
        if len(cache) >= MAX_RESULTS:
            cache.pop(next(iter(cache)))
        cache[key] = compute(cohort, filters)
    return cache[key]


def _drop_from_streamlit(file_id: str) -> None:
    """The uploaded bytes are read: Streamlit need not keep them (it would, until the tab closes)."""
    from streamlit.runtime import Runtime

    session_id = _session_id()
    if session_id and Runtime.exists():
        Runtime.instance().uploaded_file_mgr.remove_file(session_id, file_id)


def read_upload(file) -> bool:
    """Read a file from st.file_uploader in the sandbox; keep the cohort or the problems. True
    when a cohort was loaded."""
    from hosting.uploads import READER

    st.session_state[SEEN] = file.file_id
    data = file.getvalue()
    _drop_from_streamlit(file.file_id)
    with st.spinner(f"Reading {file.name} in a separate process…"):
        outcome = READER.read(file.name, data)
    del data
    if outcome.cohort is None:
        st.session_state[PROBLEMS] = Refused(file.name, outcome.report, browser())
        return False
    st.session_state[UPLOADED] = Upload(outcome.cohort, browser(), file.name, outcome.seconds, outcome.peak_mb)
    st.session_state.pop(RESULTS, None)
    st.session_state.pop(PROBLEMS, None)
    return True


def is_new(file) -> bool:
    return file is not None and st.session_state.get(SEEN) != file.file_id


def download(label: str, filename: str, mime: str, build: Callable[[], bytes], column=None) -> None:
    """A link that downloads a file of this session's data (see hosting/downloads.py)."""
    where = column or st
    url = downloads.offer(_session_id() or "", browser(), filename, mime, build)
    if url is None:
        where.button(label, disabled=True, width="stretch",
                     help="Downloads of patient data are served by the dashboard's server: start it with `make run`.")
    else:
        where.link_button(label, url, width="stretch")
