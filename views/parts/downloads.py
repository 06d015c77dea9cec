"""Links that download a file of this session's data, served by server.py to this browser and
session only (hosting/downloads.py)."""

from __future__ import annotations

from typing import Callable

import streamlit as st

from hosting import downloads
from views.parts.identity import browser, session_id


def download(label: str, filename: str, mime: str, build: Callable[[], bytes], column=None) -> None:
    """A button that downloads the file `build` makes when it is clicked."""
    where = column or st
    url = downloads.offer(session_id() or "", browser(), filename, mime, build)
    if url is None:
        where.button(label, disabled=True, width="stretch",
                     help="Downloads of patient data are served by the dashboard's server: start it with `make run`.")
    else:
        where.link_button(label, url, width="stretch")
