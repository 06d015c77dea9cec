"""Patient-level files served to the session that asked for them, and to no one else.

Streamlit's download button stores a file under /media/<id> and serves it to any request that
names the id, without a cookie, for minutes after the session has closed; another session can
even ask for a deferred file by sending its id. The endpoints table and the report of a cohort
are patient data, so they are served here instead: a view `offer`s a file (a function that
builds it on request, so nothing is built or kept until it is asked for) and shows the link;
GET /api/download/<token> answers only a request from the same browser (the cookie of
hosting/browser.py) while the session that offered it is connected. An offer ends with its
session, and after LIFETIME at the latest.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import quote

from . import connected
from .browser import BROWSER_HEADER

ROUTE = "/api/download/{token}"
LIFETIME = 3600.0  # seconds an offer may be used, if its session stays open that long


@dataclass
class Offer:
    session_id: str
    browser: str
    filename: str
    mime: str
    build: Callable[[], bytes]
    expires: float


_offers: dict[str, Offer] = {}
_tokens: dict[tuple[str, str], str] = {}  # (session id, file name) → token, so a link stays the same
_lock = threading.Lock()


def prune() -> int:
    """Forget the offers of sessions that have ended, and expired ones. Returns how many remain."""
    now = time.monotonic()
    with _lock:
        for token, offer in list(_offers.items()):
            if offer.expires < now or not connected(offer.session_id):
                del _offers[token]
                _tokens.pop((offer.session_id, offer.filename), None)
        return len(_offers)


def offer(session_id: str, browser: str | None, filename: str, mime: str, build: Callable[[], bytes]) -> str | None:
    """Register a file for this session and browser; returns the link (relative to the page),
    or None when the browser has no identity (the app is not served by server.py)."""
    if not browser:
        return None
    prune()
    with _lock:
        key = (session_id, filename)
        token = _tokens.get(key) or secrets.token_urlsafe(32)
        _offers[token] = Offer(session_id, browser, filename, mime, build, time.monotonic() + LIFETIME)
        _tokens[key] = token
    return "api/download/" + token


def lookup(token: str, browser: str | None) -> Offer | None:
    """The offer behind a token, if this browser may have it now; None otherwise."""
    with _lock:
        found = _offers.get(token)
    if found is None or not browser or not secrets.compare_digest(found.browser, browser):
        return None
    if found.expires < time.monotonic() or not connected(found.session_id):
        prune()
        return None
    return found


async def _download(request):
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import PlainTextResponse, Response

    found = lookup(request.path_params["token"], request.headers.get(BROWSER_HEADER))
    if found is None:
        # The same answer whether the token never existed, belongs to another browser, or its
        # session has ended: nothing tells a prober which.
        return PlainTextResponse("This download link is not valid (it belongs to another browser, or its page "
                                 "was closed). Open the dashboard's Data page and use the download there.",
                                 status_code=404, headers={"Cache-Control": "no-store"})
    try:
        data = await run_in_threadpool(found.build)
    except Exception:  # a sentence, never a traceback; the server log keeps the details
        import logging

        logging.getLogger(__name__).exception("building %s failed", found.filename)
        return PlainTextResponse(f"{found.filename} could not be built. Reload the page and try again.",
                                 status_code=500, headers={"Cache-Control": "no-store"})
    return Response(data, media_type=found.mime, headers={
        "Content-Disposition": f"attachment; filename*=utf-8''{quote(found.filename, safe='')}",
        "Cache-Control": "no-store",
    })


def routes() -> list:
    from starlette.routing import Route

    return [Route(ROUTE, _download, methods=["GET"])]
