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


def resumed_from() -> str | None:
    """The session id this browser asked to resume when its connection opened, if any: the third
    entry of the WebSocket's Sec-WebSocket-Protocol header (the first is the protocol, the second
    the XSRF token), which Streamlit's page sends when it reconnects."""
    raw = st.context.headers.get("Sec-WebSocket-Protocol") or ""
    entries = [e.strip() for e in raw.split(",")]
    return entries[2] if len(entries) >= 3 and entries[2] else None


def restarted() -> bool:
    """The page asked to resume a session this server does not hold, so Streamlit began a new one:
    the server restarted, or the replica that held the session stopped and the balancer sent the
    page to another."""
    asked = resumed_from()
    return asked is not None and asked != session_id()
