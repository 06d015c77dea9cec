"""Sign-in: with DASHBOARD_LOGIN=on nothing of the cohort is shown until the user has signed in
with the hospital's OpenID Connect provider (Streamlit's st.login, configured in the [auth]
section of .streamlit/secrets.toml). Fails closed: a bad setting or a missing [auth] key shows a
sentence saying what to fix, and nothing else."""

from __future__ import annotations

import os

import streamlit as st

from views.parts.show import md_escape

LOGIN_SETTING = "DASHBOARD_LOGIN"  # environment: "on" requires sign-in (st.login); off by default
AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")


def login_setting() -> str:
    """DASHBOARD_LOGIN as given: "on", "off" (the default), or anything else, which is refused."""
    return os.environ.get(LOGIN_SETTING, "off").strip().lower()


def signed_in() -> bool:
    """True when the views may be shown. Otherwise draws what the user must do (a sentence, or the
    sign-in button) and returns False."""
    setting = login_setting()
    if setting not in ("on", "off"):
        st.error(f"{LOGIN_SETTING} is set to “{md_escape(setting)}”: use on (sign-in required) or off.")
        return False
    if setting == "off":
        return True
    try:
        auth = dict(st.secrets.get("auth", {}))
    except Exception:  # no or unreadable secrets.toml: Streamlit raises its own error types here
        auth = {}
    missing = [k for k in AUTH_KEYS if not auth.get(k)]
    if missing:
        st.error(f"Sign-in is switched on ({LOGIN_SETTING}=on) but the [auth] section of .streamlit/secrets.toml "
                 f"lacks {', '.join(missing)}. Add them (see the README, “Sign-in”) or set {LOGIN_SETTING}=off.")
        return False
    if not st.user.is_logged_in:
        st.title("Tacrolimus + steroid vs steroid alone")
        st.markdown("This dashboard holds patient data. Sign in with your hospital account to continue.")
        st.button("Sign in", on_click=st.login, type="primary")
        return False
    with st.sidebar:
        who = st.user.get("email") or st.user.get("name") or "signed in"
        st.text(f"Signed in as {who}")  # plain text: Markdown would turn an e-mail address into a link
        st.button("Sign out", on_click=st.logout)
    return True
