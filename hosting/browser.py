"""A cookie per browser, and the security headers on every response.

Streamlit lets a WebSocket connection resume a session by naming its id, and its ids appear in
upload URLs (`/_stcore/upload_file/<session id>/…`) and so in proxy logs. Without sign-in every
visitor has the same (empty) identity, so any client that learns an id is handed that session,
with its uploaded cohort. Streamlit refuses a resume when the identity differs, and takes part
of the identity from the request headers named in `server.trustedUserHeaders`. This middleware
gives each browser an unguessable cookie (HttpOnly, so page scripts cannot read it, and
SameSite=Strict, so other sites' pages cannot send it) and hands Streamlit a hash of it in
BROWSER_HEADER, after removing any such header the client sent itself. A session then resumes
only in the browser that started it; downloads check the same hash (hosting/downloads.py).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from http.cookies import SimpleCookie

COOKIE = "dashboard_browser"
BROWSER_HEADER = "x-dashboard-browser"  # lower case, as ASGI carries header names
USER_INFO_KEY = "browser"  # server.trustedUserHeaders maps BROWSER_HEADER to this key of st.user
_VALID = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)

# What a security review asks of every response (OWASP secure headers). The dashboard is never
# framed by another site (clickjacking), content types are not guessed, and a link to elsewhere
# carries no path or query (the filters) in its Referer.
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


def browser_hash(cookie_value: str | None) -> str | None:
    """What the session and the download routes compare: a hash, never the cookie itself."""
    if not cookie_value or not _VALID.match(cookie_value):
        return None
    return hashlib.sha256(cookie_value.encode()).hexdigest()[:32]


def cookie_from(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"cookie":
            jar = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header: treated as no cookie
                continue
            if COOKIE in jar:
                return jar[COOKIE].value
    return None


def _is_https(scope: dict) -> bool:
    if scope.get("scheme") in ("https", "wss"):
        return True
    return any(k == b"x-forwarded-proto" and v.strip().lower() == b"https" for k, v in scope.get("headers", []))


def _shared_cache(message: dict) -> bool:
    """A response a proxy may keep and hand to others (static scripts and styles): no cookie on it."""
    for k, v in message.get("headers", []):
        if k.lower() == b"cache-control" and (b"public" in v.lower() or b"immutable" in v.lower()):
            return True
    return False


class BrowserIdentity:
    """ASGI middleware: the browser cookie, the identity header and the security headers."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = scope.get("headers", [])
        headers = [(k, v) for k, v in raw if k.lower() != BROWSER_HEADER.encode()]
        cookie = cookie_from(raw)
        identity = browser_hash(cookie)
        if identity:
            headers.append((BROWSER_HEADER.encode(), identity.encode()))
        scope = {**scope, "headers": headers}
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        new_cookie = None if identity else secrets.token_urlsafe(32)
        https = _is_https(scope)

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                extra = list(SECURITY_HEADERS)
                if new_cookie and not _shared_cache(message):
                    flags = "; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if https else "")
                    extra.append((b"set-cookie", f"{COOKIE}={new_cookie}{flags}".encode()))
                names = {k.lower() for k, _ in message.get("headers", [])}
                message = {**message, "headers": list(message.get("headers", []))
                           + [(k, v) for k, v in extra if k == b"set-cookie" or k not in names]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
