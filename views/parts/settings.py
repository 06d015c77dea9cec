"""The deployment settings in effect, read from this server process as it runs (config file,
environment and command line merged), so that a department's IT can verify a deployment from
the browser. tests/hardening.py reads this table from a running server and a running container."""

from __future__ import annotations

import streamlit as st
from streamlit import config

import hosting
from views.parts.show import md_escape
from views.parts.signin import LOGIN_SETTING, login_setting

DEPLOYMENT_SETTINGS = (
    ("browser.gatherUsageStats", "usage statistics sent from each browser"),
    ("browser.serverAddress", "address printed at start; set, so Streamlit does not look up a public IP"),
    ("client.showErrorDetails", "error details shown in the browser"),
    ("client.toolbarMode", "toolbar"),
    ("server.enableXsrfProtection", "XSRF protection"),
    ("server.enableCORS", "cross-origin requests and WebSockets refused"),
    ("server.maxUploadSize", "upload limit (MB)"),
    ("server.fileWatcherType", "file watcher"),
    ("server.allowedHosts", "host names accepted (empty: any)"),
    ("server.address", "network address listened on (127.0.0.1: this machine only)"),
    ("server.trustedUserHeaders", "browser identity from the dashboard's cookie: a session resumes only in its browser"),
    ("server.enableAgentApi", "agent API (drives the app without a browser)"),
)


def table() -> None:
    """The settings as a table: setting, what it protects, the value in effect."""
    def shown(value: object) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, list):
            return ", ".join(map(str, value)) or "(empty)"
        if isinstance(value, dict):
            return ", ".join(f"{k} → {v}" for k, v in value.items()) or "(empty)"
        if value is None:
            return "(not set)"
        return str(value)

    rows = [f"| {key} | {meaning} | {md_escape(shown(config.get_option(key)))} |" for key, meaning in DEPLOYMENT_SETTINGS]
    rows.append(f"| {LOGIN_SETTING} | sign-in required (OpenID Connect) | {md_escape(login_setting())} |")
    served = "yes" if hosting.ACTIVE else "no: started without server.py (streamlit run app.py)"
    rows.append(f"| server.py | sessions and downloads bound to the browser, uploads kept in memory, security "
                f"headers | {md_escape(served)} |")
    st.markdown("| setting | meaning | in effect |\n|---|---|---|\n" + "\n".join(rows))
