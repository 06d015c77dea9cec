"""The cohort a browser session uploaded: read in a separate process, bound to the browser that
uploaded it, held in memory only, with its results kept in the session.

A session can be resumed by another connection that names its id. server.py already refuses a
resume from another browser (hosting/browser.py); this module checks again on every run and
forgets the uploaded cohort, its results and its problems when the browser is not the one
that uploaded it. The cohort itself is held by hosting/held.py within the server's memory
budget; the session keeps its key, and is told when the cohort had to make room for others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import streamlit as st

from analysis.cohort import Cohort
from analysis.schema import CohortError, ValidationReport
from hosting import uploads
from hosting.held import HELD
from views.parts.identity import browser, session_id
from views.parts.memo import Memo

UPLOADED = "uploaded_cohort"
PROBLEMS = "_upload_problems"
RESULTS = "_results"
SEEN = "_upload_id"
DROPPED = "_upload_dropped"
MAX_RESULTS = 16


@dataclass(frozen=True)
class Upload:
    key: str  # of the cohort in hosting.held.HELD
    browser: str | None
    filename: str
    seconds: float
    peak_mb: float

    @property
    def cohort(self) -> Cohort | None:
        return HELD.get(self.key)


@dataclass(frozen=True)
class Refused:
    filename: str
    report: ValidationReport
    browser: str | None


def forget() -> None:
    """Drop the uploaded cohort, its results and its problems. The id of the last file read
    stays, so that the same file is not read again on the next run."""
    up = st.session_state.get(UPLOADED)
    if up is not None and _mine(up):
        HELD.drop(up.key)
    _clear()


def _clear() -> None:
    for key in (UPLOADED, PROBLEMS, RESULTS):
        st.session_state.pop(key, None)


def _mine(item) -> bool:
    return item is not None and item.browser == browser()


def upload() -> Upload | None:
    """The cohort this browser uploaded in this session, if any."""
    up = st.session_state.get(UPLOADED)
    refused = st.session_state.get(PROBLEMS)
    if (up is not None and not _mine(up)) or (refused is not None and not _mine(refused)):
        _clear()  # another browser holds this session now; its cohort is not ours to drop
        return None
    if up is not None and up.cohort is None:  # made room for other sessions' uploads
        st.session_state[DROPPED] = up.filename
        forget()
        return None
    return up


def dropped() -> str | None:
    """The name of an upload the server let go to free memory (said once)."""
    return st.session_state.pop(DROPPED, None)


def refused() -> Refused | None:
    upload()
    return st.session_state.get(PROBLEMS)


def results_of_upload(cohort: Cohort, filters, compute: Callable):
    """Results of the uploaded cohort: kept in this session, not shared."""
    memo = st.session_state.setdefault(RESULTS, Memo(MAX_RESULTS))
    return memo.get((cohort.sha256, filters), lambda: compute(cohort, filters))


def _drop_from_streamlit(file_id: str) -> None:
    """The uploaded bytes are read: Streamlit need not keep them (it would, until the tab closes)."""
    from streamlit.runtime import Runtime

    session = session_id()
    if session and Runtime.exists():
        Runtime.instance().uploaded_file_mgr.remove_file(session, file_id)


def read_upload(file) -> bool:
    """Read a file from st.file_uploader in the sandbox; keep the cohort or the problems. True
    when a cohort was loaded."""
    st.session_state[SEEN] = file.file_id
    data = file.getvalue()
    _drop_from_streamlit(file.file_id)
    uploads.read(session_id(), file.file_id)
    with st.spinner(f"Reading {file.name} in a separate process…"):
        outcome = uploads.READER.read(file.name, data)
    del data
    if outcome.cohort is None:
        st.session_state[PROBLEMS] = Refused(file.name, outcome.report, browser())
        return False
    forget()
    key = HELD.put(session_id() or "", outcome.cohort, outcome.nbytes)
    if key is None:
        st.session_state[PROBLEMS] = Refused(file.name, CohortError.single(
            f"{file.name} takes {outcome.nbytes // 2**20:,} MB in memory, more than the server holds for uploads. "
            "Ask IT to serve it from the server's disk (COHORT_PATH).").report, browser())
        return False
    st.session_state[UPLOADED] = Upload(key, browser(), file.name, outcome.seconds, outcome.peak_mb)
    return True


def allow_uploads() -> None:
    """This page shows an uploader: the server accepts uploads to this session from this browser."""
    uploads.allow(session_id(), browser())


def is_new(file) -> bool:
    return file is not None and st.session_state.get(SEEN) != file.file_id
