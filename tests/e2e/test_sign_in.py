"""Sign-in end to end: the app with DASHBOARD_LOGIN=on and an [auth] section pointing at a small
OpenID Connect provider run by this test (discovery document, authorize, token, JWKS; RS256
id_token). Chromium clicks "Sign in", goes through the provider and comes back signed in, then
signs out. A session without the sign-in cookie receives nothing of the cohort."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from testkit.browser_support import copy_app, require_chromium, free_port, launch, serving, settle

require_chromium()

from joserfc import jwt  # noqa: E402  (Authlib's own JOSE library)
from joserfc.jwk import RSAKey  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from testkit.st_client import one_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID, CLIENT_SECRET = "dashboard", "provider-secret"
USER = {"sub": "u-1", "email": "dr.li@hospital.example", "name": "Dr Li"}


class Provider(ThreadingHTTPServer):
    """A minimal OpenID Connect provider: every authorize request signs USER in at once."""

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), ProviderHandler)
        self.issuer = f"http://127.0.0.1:{port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        self.codes: dict[str, dict] = {}  # code → {nonce, redirect_uri}
        self.token_requests = 0


class ProviderHandler(BaseHTTPRequestHandler):
    server: Provider

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def _json(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        iss = self.server.issuer
        if url.path == "/.well-known/openid-configuration":
            self._json({"issuer": iss, "authorization_endpoint": f"{iss}/authorize", "token_endpoint": f"{iss}/token",
                        "jwks_uri": f"{iss}/jwks", "response_types_supported": ["code"],
                        "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
                        "scopes_supported": ["openid", "email", "profile"],
                        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})
        elif url.path == "/jwks":
            self._json({"keys": [self.server.key.as_dict(private=False)]})
        elif url.path == "/authorize":
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
                self._json({"error": "invalid_request"}, 400)
                return
            code = secrets.token_urlsafe(16)
            self.server.codes[code] = {"nonce": q.get("nonce"), "redirect_uri": q["redirect_uri"]}
            self.send_response(302)
            self.send_header("Location", q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]}))
            self.end_headers()
        else:
            self._json({"error": "not_found"}, 404)

    def do_POST(self) -> None:
        if urlparse(self.path).path != "/token":
            self._json({"error": "not_found"}, 404)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        form = {k: v[0] for k, v in parse_qs(body).items()}
        grant = self.server.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            self._json({"error": "invalid_grant"}, 400)
            return
        self.server.token_requests += 1
        now = int(time.time())
        claims = {**USER, "iss": self.server.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 600,
                  "nonce": grant["nonce"]}
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.server.key)
        self._json({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 600,
                    "id_token": id_token, "scope": "openid email profile"})


@pytest.fixture(scope="module")
def provider():
    server = Provider(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def app_url(provider, tmp_path_factory):
    d = copy_app(tmp_path_factory.mktemp("signin"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (d / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "{url}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        f'client_id = "{CLIENT_ID}"\n'
        f'client_secret = "{CLIENT_SECRET}"\n'
        f'server_metadata_url = "{provider.issuer}/.well-known/openid-configuration"\n')
    with serving(d / "server.log", "--server.address", "127.0.0.1", cwd=d, env={"DASHBOARD_LOGIN": "on"},
                 port=port) as app:
        yield app.url


def test_a_session_without_sign_in_receives_nothing_of_the_cohort(app_url):
    run = asyncio.run(one_run(app_url))
    assert "Sign in with your hospital account" in run.text
    assert "patients" not in run.text
    assert not run.of("plotly_chart") and not run.of("dataframe") and not run.of("table") and not run.of("metric")
    assert not run.of("multiselect")  # no filters either
    assert [b.label for b in run.of("button")] == ["Sign in"]


def test_sign_in_through_the_provider_and_out_again(app_url, provider):
    with sync_playwright() as p:
        b = launch(p)
        pg = b.new_page(viewport={"width": 1440, "height": 1000})
        pg.goto(app_url)
        settle(pg)
        assert pg.get_by_text("of 318 patients").count() == 0
        # No navigation while signed out (not even Streamlit's listing of the pages/ entry files).
        assert pg.get_by_test_id("stSidebarNav").count() == 0 and pg.get_by_test_id("stSidebarNavLink").count() == 0
        shots = ROOT / "artifacts" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(shots / "sign-in.png"))
        pg.get_by_role("button", name="Sign in").click()
        pg.wait_for_url(app_url + "/", timeout=60000)
        settle(pg)
        sidebar = pg.get_by_test_id("stSidebar")
        expect(sidebar.get_by_text("Signed in as dr.li@hospital.example")).to_be_visible(timeout=60000)
        expect(sidebar.get_by_text("n = 318 of 318 patients")).to_be_visible()
        assert provider.token_requests == 1
        assert pg.get_by_test_id("stException").count() == 0
        pg.screenshot(path=str(shots / "signed-in-overview.png"))

        sidebar.get_by_role("button", name="Sign out").click()
        expect(pg.get_by_role("button", name="Sign in")).to_be_visible(timeout=60000)
        assert pg.get_by_text("of 318 patients").count() == 0
        b.close()


def test_metrics_are_closed_without_a_proxy(app_url):
    """Sign-in does not cover Streamlit's /_stcore/metrics (session counts) or its agent API: the
    server closes them itself (hosting/browser.py), so no proxy setting is needed for it."""
    import urllib.error
    import urllib.request

    for path in ("/_stcore/metrics", "/_stcore/%6detrics", "/_stcore/agent/openapi.json"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(app_url + path, timeout=30)
        assert err.value.code == 404, path
