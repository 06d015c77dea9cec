"""Uploads: kept in memory, one file per session, read in the sandbox (analysis/sandbox.py).

- Starlette's form parser spools a file part over 1 MB to a temporary file on disk; the spool
  is raised above the upload limit, so an upload never leaves memory.
- Streamlit keeps every file a session ever uploaded until the browser deletes it; a client
  that sends PUTs without the app could fill the server's memory. Before an upload is taken, the
  files that session already holds are dropped, and an upload is refused (503) while all
  sessions together hold more than TOTAL_BYTES.
- READER reads an upload in a memory-capped child process.
"""

from __future__ import annotations

import re

from analysis.sandbox import Reader

MB = 1024 * 1024
TOTAL_BYTES = 1024 * MB  # uploads held by all sessions at once
_UPLOAD = re.compile(r"^/_stcore/upload_file/([^/]+)/[^/]+$")

READER = Reader()


def keep_uploads_in_memory(limit_mb: int) -> None:
    """Make Starlette keep a file part in memory up to the upload limit (plus multipart framing)."""
    from starlette.formparsers import MultiPartParser

    MultiPartParser.spool_max_size = (limit_mb + 1) * MB


def _bytes_held(manager) -> int:
    """Bytes of uploads all sessions hold, from the manager's own statistics (thread-safe)."""
    return sum(stat.byte_length for stats in manager.get_stats().values() for stat in stats)


class OneUploadPerSession:
    """ASGI middleware in front of Streamlit's upload route (see the module's docstring)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope.get("method") == "PUT":
            match = _UPLOAD.match(scope.get("path", ""))
            if match:
                from starlette.responses import PlainTextResponse
                from streamlit.runtime import Runtime

                manager = Runtime.instance().uploaded_file_mgr
                manager.remove_session_files(match.group(1))
                if _bytes_held(manager) > TOTAL_BYTES:
                    await PlainTextResponse("The server holds too many uploads right now; try again in a minute.",
                                            status_code=503)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
