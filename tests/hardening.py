"""The hardened settings, checked against a running server from outside — what a browser is told,
what the server refuses — plus the settings table the Data page reads from the server process.
Shared by tests/test_served_config.py (the app as `make run` starts it) and the container test.

`problems(url)` returns a sentence per setting that does not hold; empty means all hold.
"""

from __future__ import annotations

import asyncio
import re

from streamlit.proto.NewSession_pb2 import Config

from testkit.st_client import XSRF_COOKIE, Session, request, xsrf_cookie

# What a deployment must run with. Written out here, independent of the app's own table, so that a
# change to either side is caught.
EXPECTED = {
    "browser.gatherUsageStats": "false",
    "browser.serverAddress": "localhost",
    "client.showErrorDetails": "none",
    "client.toolbarMode": "viewer",
    "server.enableXsrfProtection": "true",
    "server.enableCORS": "true",
    "server.maxUploadSize": "50",
    "server.fileWatcherType": "none",
    "server.trustedUserHeaders": "X-Dashboard-Browser → browser",
    "server.enableAgentApi": "false",
    "server.py": "yes",
}
LOCAL_ONLY = "127.0.0.1"  # `make run`; the container listens on all of its interfaces, behind its proxy
UPLOAD_LIMIT_MB = 50
FOREIGN_ORIGIN = "http://attacker.example"


def settings_table(markdown: str) -> dict[str, str]:
    """The Data page's "Deployment settings in effect" rows: setting → value, unescaped."""
    rows = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] and not cells[0].startswith("-") and cells[0] != "setting":
            rows[cells[0]] = re.sub(r"\\(.)", r"\1", cells[2])
    return rows


def _request(url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None):
    status, _, found = request(url, method, headers, data, timeout=60)
    return status, found


async def _foreign_origin_refused(url: str) -> bool:
    try:
        s = await Session.open(url, origin=FOREIGN_ORIGIN, timeout=30)
    except Exception:  # refused at the handshake
        return True
    try:
        await s.run(timeout=30)
    except Exception:  # accepted, then closed before any run (Streamlit closes with 1008)
        return True
    await s.close()
    return False


async def _problems(url: str, address: str) -> list[str]:
    out: list[str] = []
    s = await Session.open(url)
    try:
        first = await s.run()
        cfg = first.new_session.config
        if cfg.gather_usage_stats:
            out.append("the browser is told to send usage statistics (browser.gatherUsageStats is on)")
        if Config.ToolbarMode.Name(cfg.toolbar_mode) != "VIEWER":
            out.append(f"the toolbar mode is {Config.ToolbarMode.Name(cfg.toolbar_mode)}, not VIEWER")
        if first.exceptions:
            out.append("the Overview sent an exception to the browser")
        data = await s.run(page="data")
        table = settings_table(data.text)
        for key, want in {**EXPECTED, "server.address": address}.items():
            if table.get(key) != want:
                out.append(f"{key} is {table.get(key)!r} in the running server, not {want!r}")
        limits = [u.max_upload_size_mb for u in data.of("file_uploader")]
        if limits != [UPLOAD_LIMIT_MB]:
            out.append(f"the upload widget allows {limits} MB, not {UPLOAD_LIMIT_MB}")
        session_id = data.new_session.initialize.session_id
    finally:
        await s.close()

    # XSRF: an upload with the cookie but without the matching header is refused.
    cookie = await asyncio.to_thread(xsrf_cookie, url)
    if not cookie:
        out.append("no XSRF cookie is set on the page (server.enableXsrfProtection is off)")
    upload = f"{url}/_stcore/upload_file/{session_id}/probe"
    status, _ = await asyncio.to_thread(_request, upload, "PUT", {"Cookie": f"{XSRF_COOKIE}={cookie}"}, b"x")
    if status != 403:
        out.append(f"an upload without the XSRF token got HTTP {status}, not 403")

    # Security headers on every response (hosting/browser.py), and the browser cookie HttpOnly.
    _, headers = await asyncio.to_thread(_request, f"{url}/_stcore/health")
    for name, want in (("X-Frame-Options", "DENY"), ("Content-Security-Policy", "frame-ancestors 'none'"),
                       ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")):
        if headers.get(name) != want:
            out.append(f"the response header {name} is {headers.get(name)!r}, not {want!r}")
    browser_cookie = [c for c in headers.get_all("Set-Cookie") or [] if c.startswith("dashboard_browser=")]
    if not browser_cookie or "HttpOnly" not in browser_cookie[0] or "SameSite=Strict" not in browser_cookie[0]:
        out.append(f"the browser cookie is {browser_cookie!r}, not HttpOnly and SameSite=Strict")

    # CORS: another site's page may neither read the server's responses nor open a session.
    _, headers = await asyncio.to_thread(_request, f"{url}/_stcore/host-config", "GET", {"Origin": FOREIGN_ORIGIN})
    allowed = headers.get("Access-Control-Allow-Origin")
    if allowed in ("*", FOREIGN_ORIGIN):
        out.append(f"a foreign origin is allowed to read responses (Access-Control-Allow-Origin: {allowed})")
    if not await _foreign_origin_refused(url):
        out.append(f"a WebSocket session from {FOREIGN_ORIGIN} was accepted")
    return out


def problems(url: str, address: str = LOCAL_ONLY) -> list[str]:
    return asyncio.run(_problems(url, address))


def startup_problems(log: str) -> list[str]:
    """What the server's own start-up output must not show."""
    out = []
    if "External URL" in log or "Did not auto detect external IP" in log:
        out.append("at start the server looked up its public IP address (browser.serverAddress is not set)")
    if "Traceback" in log:
        out.append("the server log has a traceback")
    return out
