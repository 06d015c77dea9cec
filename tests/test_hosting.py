"""The pieces of server.py on their own (hosting/): the browser cookie and identity, the upload
guard, the memory budget of held cohorts. Driven as ASGI applications, without a server; the
tests of a running server are in test_sessions.py and test_hostile.py."""

from __future__ import annotations

import asyncio

import pytest

from hosting import browser, held, uploads


def _scope(path: str = "/", method: str = "GET", headers: list | None = None, kind: str = "http", scheme: str = "http"):
    return {"type": kind, "path": path, "method": method, "headers": headers or [], "scheme": scheme}


def _call(app, scope) -> tuple[list[dict], dict]:
    """Run one request through an ASGI app; the messages it sent and the scope the inner app saw."""
    sent: list[dict] = []
    seen: dict = {}

    async def inner(s, receive, send):
        seen.update(s)
        if s["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"ok"})

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(inner)(scope, receive, send))
    return sent, seen


def _headers(messages) -> list[tuple[bytes, bytes]]:
    return next(m["headers"] for m in messages if m["type"] == "http.response.start")


GOOD = "A" * 43


def test_a_browser_without_the_cookie_gets_one_and_no_identity():
    sent, seen = _call(browser.BrowserIdentity, _scope())
    headers = _headers(sent)
    cookie = [v.decode() for k, v in headers if k == b"set-cookie"]
    assert len(cookie) == 1 and cookie[0].startswith("dashboard_browser=")
    assert "HttpOnly" in cookie[0] and "SameSite=Strict" in cookie[0] and "Secure" not in cookie[0]
    assert (b"cache-control", b"private, no-cache") in headers  # no shared cache keeps it
    assert not [v for k, v in seen["headers"] if k == browser.BROWSER_HEADER.encode()]
    for name, value in browser.SECURITY_HEADERS:
        assert (name, value) in headers


def test_over_https_the_cookie_is_bound_to_the_host():
    sent, _ = _call(browser.BrowserIdentity, _scope(headers=[(b"x-forwarded-proto", b"https")]))
    cookie = [v.decode() for k, v in _headers(sent) if k == b"set-cookie"][0]
    assert cookie.startswith("__Host-dashboard_browser=") and "; Secure" in cookie and "Domain" not in cookie


def test_the_identity_is_a_hash_of_the_cookie_and_a_client_cannot_send_its_own():
    forged = (browser.BROWSER_HEADER.encode(), b"victim-identity")
    sent, seen = _call(browser.BrowserIdentity, _scope(headers=[(b"cookie", f"dashboard_browser={GOOD}".encode()), forged]))
    ids = [v.decode() for k, v in seen["headers"] if k == browser.BROWSER_HEADER.encode()]
    assert ids == [browser.browser_hash(GOOD)] and GOOD not in ids[0]
    assert not [v for k, v in _headers(sent) if k == b"set-cookie"]  # it has one already


@pytest.mark.parametrize("cookie", [
    f"dashboard_browser={GOOD}; dashboard_browser={'B' * 43}",  # twice: which one is the browser's?
    'dashboard_browser="' + GOOD + '\\012"',  # a quoted value with an escaped newline
    "dashboard_browser=short",
    f"__Host-dashboard_browser={GOOD}",  # the HTTPS name over plain HTTP
])
def test_a_doubtful_cookie_is_no_identity(cookie):
    _, seen = _call(browser.BrowserIdentity, _scope(headers=[(b"cookie", cookie.encode())]))
    assert not [v for k, v in seen["headers"] if k == browser.BROWSER_HEADER.encode()]


def test_a_websocket_without_the_cookie_gets_an_identity_nobody_shares():
    identities = set()
    for _ in range(2):
        _, seen = _call(browser.BrowserIdentity, _scope("/_stcore/stream", kind="websocket"))
        identities |= {v for k, v in seen["headers"] if k == browser.BROWSER_HEADER.encode()}
    assert len(identities) == 2


def test_static_files_do_not_carry_the_cookie():
    async def inner(s, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"cache-control", b"public, max-age=31536000, immutable")]})
        await send({"type": "http.response.body", "body": b""})

    sent: list = []

    async def send(m):
        sent.append(m)

    asyncio.run(browser.BrowserIdentity(inner)(_scope("/static/js/main.js"), None, send))
    assert not [v for k, v in sent[0]["headers"] if k == b"set-cookie"]


class FakeManager:
    """Streamlit's uploaded-file manager, as far as the guard uses it."""

    def __init__(self, held_bytes: int = 0) -> None:
        self.held_bytes = held_bytes
        self.removed: list = []

    def get_stats(self):
        from streamlit.runtime.stats import CacheStat

        return {"cache_memory_bytes": [CacheStat("UploadedFileManager", "", self.held_bytes)]} if self.held_bytes else {}

    def remove_session_files(self, session_id):
        self.removed.append(("session", session_id))

    def remove_file(self, session_id, file_id):
        self.removed.append((session_id, file_id))


@pytest.fixture
def guard(monkeypatch):
    manager = FakeManager()
    monkeypatch.setattr(uploads, "_manager", lambda: manager)
    monkeypatch.setattr(uploads, "_owners", {})
    monkeypatch.setattr(uploads, "_arriving", {})
    monkeypatch.setattr(uploads, "_received", {})
    return manager


def _put(session: str, identity: str | None, method: str = "PUT", length: int = 1000) -> int:
    headers = [(b"content-length", str(length).encode())]
    if identity:
        headers.append((browser.BROWSER_HEADER.encode(), identity.encode()))
    sent, _ = _call(uploads.UploadGuard, _scope(f"/_stcore/upload_file/{session}/file-1", method, headers))
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def test_uploads_come_only_from_the_browser_whose_page_shows_the_uploader(guard):
    assert _put("s1", "browser-a") == 403  # no page of s1 has shown an uploader
    uploads.allow("s1", "browser-a")
    assert _put("s1", "browser-b") == 403 and _put("s1", None) == 403
    assert _put("s1", "browser-b", "DELETE") == 403
    assert guard.removed == []  # nothing of s1 was touched by the stranger
    assert _put("s1", "browser-a") == 200
    assert guard.removed == [("session", "s1")]  # the new upload replaces the earlier ones


def test_the_bytes_arriving_are_reserved_before_the_body_comes(guard):
    uploads.allow("s1", "a")
    uploads.allow("s2", "b")
    uploads._arriving["s1"] = 30 * 1024 * 1024  # s1 is receiving an upload
    assert _put("s1", "a") == 429  # one at a time per session
    guard.held_bytes = uploads.TOTAL_BYTES - 10 * 1024 * 1024 - 30 * 1024 * 1024
    assert _put("s2", "b", length=20 * 1024 * 1024) == 503  # held + arriving + this > the total
    assert _put("s2", "b", length=5 * 1024 * 1024) == 200


def test_an_upload_no_page_reads_is_dropped(guard, monkeypatch):
    uploads.allow("s1", "a")
    assert _put("s1", "a") == 200
    uploads.prune(lambda s: True)
    assert ("s1", "file-1") not in guard.removed  # just arrived
    clock = uploads.time.monotonic() + uploads.UNREAD_SECONDS + 1
    monkeypatch.setattr(uploads.time, "monotonic", lambda: clock)
    uploads.prune(lambda s: True)
    assert ("s1", "file-1") in guard.removed
    uploads.prune(lambda s: False)
    assert "s1" not in uploads._owners  # the session ended


def test_held_cohorts_stay_within_the_budget_least_recently_used_first():
    store = held.Held(budget=100)
    a = store.put("s1", "cohort-a", 40)
    b = store.put("s2", "cohort-b", 40)
    store.get(a)  # s1 used it just now
    c = store.put("s3", "cohort-c", 40)
    assert store.get(a) == "cohort-a" and store.get(b) is None and store.get(c) == "cohort-c"
    assert store.nbytes == 80
    assert store.put("s4", "too-big", 101) is None
    d = store.put("s1", "cohort-d", 10)  # a session holds one: its new upload replaces its old
    assert store.get(a) is None and store.get(d) == "cohort-d"


def test_held_cohorts_of_ended_sessions_are_dropped(monkeypatch):
    store = held.Held(budget=100)
    key = store.put("s1", "cohort", 10)
    store.prune(lambda s: False, grace=60)
    assert store.get(key) == "cohort"  # may still reconnect
    later = held.time.monotonic() + 61
    monkeypatch.setattr(held.time, "monotonic", lambda: later)
    store.prune(lambda s: False, grace=60)
    assert store.get(key) is None
