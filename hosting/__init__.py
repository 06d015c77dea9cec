"""The web server around the Streamlit app (`server.py`): what a hospital's network sees.

browser.py    a cookie per browser, which binds sessions and downloads to it; security headers
uploads.py    uploads kept in memory, one file per session
downloads.py  patient-level files served to the session that asked for them, and to no one else
"""

# Set by server.py when it starts: the Data page's settings table says whether this process is
# served with all of the above, or was started as `streamlit run app.py` without it.
ACTIVE = False


def connected(session_id: str) -> bool:
    """Whether a session has a browser connected now (not closed, not waiting to be resumed)."""
    from streamlit.runtime import Runtime

    return Runtime.exists() and Runtime.instance().is_active_session(session_id)
