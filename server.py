"""The dashboard's web server: the Streamlit app (app.py) with what hosting patient data takes.

    streamlit run server.py            (make run; the Docker image)

Streamlit finds the `app` below and serves app.py through it, with its settings from
.streamlit/config.toml and the command line as usual, plus:

- a cookie per browser that binds sessions and downloads to it, and security headers
  (hosting/browser.py);
- uploads kept in memory, accepted only from the browser whose page shows the uploader, read in
  a memory-capped child process, the cohorts held within a memory budget (hosting/uploads.py,
  analysis/sandbox.py, hosting/held.py);
- patient-level downloads served to the session that asked, and to no one else
  (hosting/downloads.py);
- the configured cohort's default view computed before the server answers, its health check
  included, so that no visitor waits for it (views/parts/warm.py).

`streamlit run app.py` still draws the pages, without these; the tests that drive pages with
AppTest do so, everything that serves the dashboard runs this file.
"""

from __future__ import annotations

import asyncio
import contextlib

import streamlit as st
from starlette.middleware import Middleware

import hosting
from hosting import browser, downloads, held, uploads
from views.parts import warm

PRUNE_SECONDS = 60


class ServerConfigError(RuntimeError):
    pass


@contextlib.asynccontextmanager
async def lifespan(_app):
    from streamlit import config

    if (config.get_option("server.baseUrlPath") or "").strip("/"):
        # The upload guard and the download route match paths from the root.
        raise ServerConfigError("server.baseUrlPath is not supported by the dashboard's server; serve it at the root "
                                "of its own host name.")
    trusted = config.get_option("server.trustedUserHeaders") or {}
    if {k.lower(): v for k, v in trusted.items()}.get(browser.BROWSER_HEADER) != browser.USER_INFO_KEY:
        # Without it every anonymous visitor has the same identity and a session id alone resumes
        # a session: refuse to serve rather than serve without it.
        raise ServerConfigError(
            f"server.trustedUserHeaders must map {browser.BROWSER_HEADER} to \"{browser.USER_INFO_KEY}\" "
            "(see .streamlit/config.toml); the dashboard does not start without it.")
    uploads.keep_uploads_in_memory(config.get_option("server.maxUploadSize"))
    uploads.READER.start()
    hosting.ACTIVE = True

    grace = float(config.get_option("server.disconnectedSessionTTL") or 120) + PRUNE_SECONDS

    async def prune() -> None:
        """What ended sessions left: download offers, unread uploads, held cohorts."""
        while True:
            await asyncio.sleep(PRUNE_SECONDS)
            downloads.prune()
            uploads.prune(hosting.connected)
            held.HELD.prune(hosting.connected, grace)

    # The default view before the first request: until this returns, nothing is served, the health
    # check included (views/parts/warm.py).
    await asyncio.to_thread(warm.warm_up)
    task = asyncio.create_task(prune())
    try:
        yield {}
    finally:
        task.cancel()
        uploads.READER.close()


app = st.App(
    "app.py",
    middleware=[Middleware(browser.BrowserIdentity), Middleware(uploads.UploadGuard)],
    routes=downloads.routes(),
    lifespan=lifespan,
)
