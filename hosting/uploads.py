"""Uploads: kept in memory, accepted only from the browser of the page that shows the uploader,
one at a time per session, within a server-wide budget; read in the sandbox (analysis/sandbox.py).

- Starlette's form parser spools a file part over 1 MB to a temporary file on disk; the spool
  is raised above the upload limit, so an upload never leaves memory.
- Streamlit's upload route checks the XSRF token and that the session exists, not whose session
  it is: a client that knows a session id (it is in the upload URLs) could delete that session's
  file or put its own in its place. Here a PUT or DELETE is accepted only from the browser whose
  page drew the uploader of that session (`allow`), and 403 otherwise.
- Streamlit keeps every file a session uploads until the browser deletes it. Here a new upload
  replaces the session's earlier files, a session receives one upload at a time, a file no page
  has read within UNREAD_SECONDS is dropped, and an upload is refused (503) when the bytes held
  and arriving for all sessions would pass TOTAL_BYTES. The bytes still arriving are reserved
  when the upload starts (its Content-Length, or the upload limit), not counted after.
- READER reads an upload in a memory-capped child process.
"""

from __future__ import annotations

import re
import threading
import time

from analysis.sandbox import Reader

from . import connected
from .browser import BROWSER_HEADER

MB = 1024 * 1024
TOTAL_BYTES = 1024 * MB  # uploads held and arriving, all sessions together
UNREAD_SECONDS = 120.0  # a page reads its upload within a second of receiving it
_UPLOAD = re.compile(r"^/_stcore/upload_file/([^/]+)/([^/]+)$")

READER = Reader()

_owners: dict[str, str] = {}  # session id → browser identity of the page that drew the uploader
_arriving: dict[str, int] = {}  # session id → bytes reserved for the upload it is receiving
_received: dict[tuple[str, str], float] = {}  # (session id, file id) → when it arrived
_lock = threading.Lock()
_limit_mb = 50


def keep_uploads_in_memory(limit_mb: int) -> None:
    """Make Starlette keep a file part in memory up to the upload limit (plus multipart framing)."""
    from starlette.formparsers import MultiPartParser

    global _limit_mb
    _limit_mb = limit_mb
    MultiPartParser.spool_max_size = (limit_mb + 1) * MB


def allow(session_id: str | None, browser: str | None) -> None:
    """The page of this session, in this browser, shows an uploader: uploads to it are accepted."""
    if session_id and browser:
        with _lock:
            _owners[session_id] = browser


def read(session_id: str | None, file_id: str) -> None:
    """The page has read this upload: it is not 'unread' any more (the page also drops it)."""
    with _lock:
        _received.pop((session_id or "", file_id), None)


def _manager():
    from streamlit.runtime import Runtime

    return Runtime.instance().uploaded_file_mgr


def _bytes_held(manager) -> int:
    """Bytes of uploads all sessions hold, from the manager's own statistics (thread-safe)."""
    return sum(stat.byte_length for stats in manager.get_stats().values() for stat in stats)


def prune(connected=connected) -> None:
    """Drop uploads no page has read in time, and the uploader owners of sessions that ended."""
    now = time.monotonic()
    manager = _manager()
    with _lock:
        stale = [k for k, t in _received.items() if now - t > UNREAD_SECONDS]
        for k in stale:
            del _received[k]
        for session_id in [s for s in _owners if not connected(s)]:
            del _owners[session_id]
    for session_id, file_id in stale:
        manager.remove_file(session_id, file_id)


async def _refuse(scope, receive, send, status: int, text: str) -> None:
    from starlette.responses import PlainTextResponse

    await PlainTextResponse(text, status_code=status, headers={"Cache-Control": "no-store"})(scope, receive, send)


class UploadGuard:
    """ASGI middleware in front of Streamlit's upload route (see the module's docstring). Placed
    after BrowserIdentity, which has set the identity header from the cookie."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        match = _UPLOAD.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope.get("method") not in ("PUT", "DELETE"):
            await self.app(scope, receive, send)
            return
        session_id, file_id = match.groups()
        identity = next((v.decode() for k, v in scope.get("headers", []) if k == BROWSER_HEADER.encode()), None)
        with _lock:
            owner = _owners.get(session_id)
        if owner is None or identity != owner:
            await _refuse(scope, receive, send, 403, "This upload address belongs to another browser's page.")
            return
        if scope["method"] == "DELETE":
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in scope.get("headers", []) if k == b"content-length"), b"")
        size = int(length) if length.isdigit() else (_limit_mb + 1) * MB
        manager = _manager()
        size = min(size, (_limit_mb + 1) * MB)
        busy: tuple[int, str] | None = None
        with _lock:
            if session_id in _arriving:
                busy = 429, "This page is still receiving an upload; wait for it to finish."
            elif _bytes_held(manager) + sum(_arriving.values()) + size > TOTAL_BYTES:
                busy = 503, "The server holds too many uploads right now; try again in a minute."
            else:
                _arriving[session_id] = size
        if busy:
            await _refuse(scope, receive, send, *busy)
            return
        try:
            manager.remove_session_files(session_id)  # the new upload replaces the session's earlier ones
            with _lock:
                for key in [k for k in _received if k[0] == session_id]:
                    del _received[key]
            await self.app(scope, receive, send)
            with _lock:
                _received[(session_id, file_id)] = time.monotonic()
        finally:
            with _lock:
                _arriving.pop(session_id, None)
