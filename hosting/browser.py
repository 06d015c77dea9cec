"""A cookie per browser, and the security headers on every response.

Streamlit lets a WebSocket connection resume a session by naming its id, and its ids appear in
upload URLs (`/_stcore/upload_file/<session id>/…`) and so in proxy logs. Without sign-in every
visitor has the same (empty) identity, so any client that learns an id is handed that session,
with its uploaded cohort. Streamlit refuses a resume when the identity differs, and takes part
of the identity from the request headers named in `server.trustedUserHeaders`. This middleware
gives each browser an unguessable cookie and hands Streamlit a hash of it in BROWSER_HEADER,
after removing any such header the client sent itself. A session then resumes only in the
browser that started it; downloads and uploads check the same hash (downloads.py, uploads.py).

The cookie is HttpOnly (page scripts cannot read it) and SameSite=Strict (other sites' pages
cannot send it); over HTTPS it is `__Host-dashboard_browser`, Secure and bound to this host, so
a neighbouring host of the same domain cannot set it. A request that carries the cookie twice,
or a malformed one, has no identity; a WebSocket without one gets an identity of its own, which
nothing else shares. A response that sets the cookie is marked private, so that no shared cache
hands it to another browser.
"""

from __future__ import annotations

import hashlib
import re
import secrets

COOKIE = "dashboard_browser"  # over plain HTTP (make run on this machine)
HOST_COOKIE = "__Host-dashboard_browser"  # over HTTPS
BROWSER_HEADER = "x-dashboard-browser"  # lower case, as ASGI carries header names
USER_INFO_KEY = "browser"  # server.trustedUserHeaders maps BROWSER_HEADER to this key of st.user
_VALID = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)

# What a security review asks of every response (OWASP secure headers). The dashboard is never
# framed by another site (clickjacking), content types are not guessed, and a link to elsewhere
# carries no path or query (the filters) in its Referer.
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


# Streamlit's metrics (session counts, cache sizes) and its agent API answer any client; nothing of
# the dashboard needs them from outside. Matched on the decoded path the app routes on, so that no
# spelling a proxy passes (/_stcore/%6detrics) reaches them.
INTERNAL_PATHS = ("/_stcore/metrics", "/_stcore/agent")


def internal(path: str) -> bool:
    """Whether a (decoded) request path names one of Streamlit's internal endpoints.

    >>> internal("/_stcore/metrics"), internal("/_stcore/agent/x"), internal("/_stcore/health")
    (True, True, False)
    """
    return any(path == p or path.startswith(p + "/") for p in INTERNAL_PATHS)


def browser_hash(cookie_value: str | None) -> str | None:
    """What the session and the routes compare: a hash, never the cookie itself."""
    if not cookie_value or not _VALID.fullmatch(cookie_value):
        return None
    return hashlib.sha256(cookie_value.encode()).hexdigest()[:32]


def is_https(scope: dict) -> bool:
    if scope.get("scheme") in ("https", "wss"):
        return True
    return any(k == b"x-forwarded-proto" and v.strip().lower() == b"https" for k, v in scope.get("headers", []))


def cookie_name(scope: dict) -> str:
    return HOST_COOKIE if is_https(scope) else COOKIE


def cookie_from(scope: dict) -> str | None:
    """The browser cookie of a request: None when absent, malformed, or sent more than once."""
    name = cookie_name(scope)
    found = []
    for header, value in scope.get("headers", []):
        if header.lower() != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            key, sep, val = part.strip().partition("=")
            if sep and key.strip() == name:
                found.append(val.strip())
    return found[0] if len(found) == 1 else None


def _shared_cache(message: dict) -> bool:
    """A response a proxy may keep and hand to others (static scripts and styles): no cookie on it."""
    for k, v in message.get("headers", []):
        if k.lower() == b"cache-control" and (b"public" in v.lower() or b"immutable" in v.lower()):
            return True
    return False


def _private(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Mark a response that sets the cookie private (kept by the browser, no shared cache)."""
    out, seen = [], False
    for k, v in headers:
        if k.lower() == b"cache-control":
            seen = True
            if b"private" not in v.lower() and b"no-store" not in v.lower():
                v = v + b", private"
        out.append((k, v))
    if not seen:
        out.append((b"cache-control", b"private, no-cache"))
    return out


class BrowserIdentity:
    """ASGI middleware: the browser cookie, the identity header and the security headers."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and internal(scope.get("path", "")):
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"), *SECURITY_HEADERS]})
            await send({"type": "http.response.body", "body": b"Not found"})
            return
        identity = browser_hash(cookie_from(scope))
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != BROWSER_HEADER.encode()]
        if scope["type"] == "websocket":
            # No cookie: an identity of its own, so that this connection resumes no one's session.
            headers.append((BROWSER_HEADER.encode(), (identity or "none-" + secrets.token_hex(16)).encode()))
            await self.app({**scope, "headers": headers}, receive, send)
            return
        if identity:
            headers.append((BROWSER_HEADER.encode(), identity.encode()))
        new_cookie = None if identity else secrets.token_urlsafe(32)
        https = is_https(scope)
        name = cookie_name(scope)

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                present = list(message.get("headers", []))
                names = {k.lower() for k, _ in present}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                if new_cookie and not _shared_cache(message):
                    flags = "; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if https else "")
                    present = _private(present)
                    extra.append((b"set-cookie", f"{name}={new_cookie}{flags}".encode()))
                message = {**message, "headers": present + extra}
            await send(message)

        await self.app({**scope, "headers": headers}, receive, send_with_headers)
