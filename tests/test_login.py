"""Sign-in (DASHBOARD_LOGIN=on, Streamlit's st.login): off by default; when on, nothing of the
cohort is shown until the user is signed in, and a bad setting or an incomplete [auth] section
stops the app with a sentence instead of showing data."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from test_pages import fresh, texts

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "a" * 32, "client_id": "dashboard",
        "client_secret": "s3cret", "server_metadata_url": "https://login.hospital.example/.well-known/openid-configuration"}


@pytest.fixture(autouse=True)
def shipped_cohort(monkeypatch):
    monkeypatch.delenv("COHORT_PATH", raising=False)


def run(monkeypatch, setting: str | None, auth: dict | None = None, user: dict | None = None) -> AppTest:
    if setting is None:
        monkeypatch.delenv("DASHBOARD_LOGIN", raising=False)
    else:
        monkeypatch.setenv("DASHBOARD_LOGIN", setting)
    at = fresh()
    if auth is not None:
        at.secrets["auth"] = auth
    if user is not None:
        at.user = user
    return at.run()


def shows_cohort(at: AppTest) -> bool:
    return "of 318 patients" in texts(at) or len(at.metric) > 0 or len(at.dataframe) > 0


def test_off_by_default_shows_the_dashboard_without_sign_in(monkeypatch):
    at = run(monkeypatch, None)
    assert not at.exception
    assert shows_cohort(at)
    assert not [b for b in at.button if b.label == "Sign in"]


def test_on_and_signed_out_shows_only_the_sign_in_button(monkeypatch):
    at = run(monkeypatch, "on", AUTH, {"is_logged_in": False})
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert "Sign in with your hospital account" in texts(at)
    assert not shows_cohort(at)
    assert len(at.sidebar.multiselect) == 0  # no filters, so not even the cohort's size is shown


def test_on_and_signed_in_shows_the_dashboard_and_who_is_signed_in(monkeypatch):
    at = run(monkeypatch, "On ", AUTH, {"is_logged_in": True, "email": "dr.li@hospital.example"})
    assert not at.exception
    assert shows_cohort(at)
    assert "Signed in as dr.li@hospital.example" in [t.value for t in at.sidebar.text]
    assert "Sign out" in [b.label for b in at.sidebar.button]


def test_on_without_auth_section_says_what_is_missing_and_shows_nothing(monkeypatch):
    at = run(monkeypatch, "on", {k: v for k, v in AUTH.items() if k not in ("client_secret", "cookie_secret")},
             {"is_logged_in": True})
    assert not at.exception
    assert len(at.error) == 1
    assert "lacks cookie_secret, client_secret" in at.error[0].value
    assert not shows_cohort(at)


def test_an_unknown_setting_is_refused_not_treated_as_off(monkeypatch):
    at = run(monkeypatch, "yes please", AUTH, {"is_logged_in": False})
    assert len(at.error) == 1
    assert "DASHBOARD_LOGIN is set to" in at.error[0].value and "use on" in at.error[0].value
    assert not shows_cohort(at)
