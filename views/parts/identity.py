"""Who is asking: this browser (as server.py identifies it) and this Streamlit session."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from hosting.browser import BROWSER_HEADER


def browser() -> str | None:
    """This browser's identity (a hash of its cookie), as server.py hands it to Streamlit."""
    return st.context.headers.get(BROWSER_HEADER)


def session_id() -> str | None:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else None
