"""The views as a browser reaches them: st.navigation over views/ (VIEWS, the one list), each at
its own URL path, on a server that has just started, with no trace of Streamlit's old
pages/-folder mode (which listed file names as a navigation before app.py ran)."""

from __future__ import annotations

import asyncio

from streamlit.proto.Navigation_pb2 import Navigation as NavigationProto

from testkit.browser_support import serving
from testkit.st_client import Session
from views import DEFAULT, VIEWS

TITLES = [v.title for v in VIEWS]


async def opened_at(url: str, path: str, query: str = "") -> tuple:
    """What a new tab opened at /<path>?<query> receives on its first run."""
    s = await Session.open(url)
    try:
        run = await s.run(opened=path, query_string=query)
        return run, s
    finally:
        await s.close()


def test_a_link_opens_its_view_on_a_freshly_started_server(tmp_path):
    log = tmp_path / "server.log"
    with serving(log) as app:
        # The first session of the server opens a shared link.
        run, _ = asyncio.run(opened_at(app.url, "rfs", "dx=ITP"))
        assert not run.page_not_found
        # Every navigation the tab is sent names the views, from the first message on (in the
        # pages/-folder mode the first one listed file names: app, data, overview …).
        for nav in run.navigations:
            assert {p.page_name for p in nav.app_pages} == set(TITLES), [p.page_name for p in nav.app_pages]
        shown = [p for p in run.navigation.app_pages if not p.is_hidden]
        assert [p.page_name for p in shown] == TITLES
        assert [p.url_pathname for p in shown] == [("" if v is DEFAULT else v.name) for v in VIEWS]
        assert run.navigation.position == NavigationProto.Position.SIDEBAR
        assert "Relapse-free survival" in [h.body for h in run.of("heading")]
        assert "n = 261 of 318 patients" in run.plain
        assert not run.exceptions

        # Every other view's link, each in a new tab.
        for v in VIEWS:
            run, _ = asyncio.run(opened_at(app.url, v.name, "sex=Female"))
            assert not run.page_not_found, v.name
            assert not run.exceptions, v.name
            ran = [p for p in run.navigation.app_pages if p.page_script_hash == run.navigation.page_script_hash]
            assert [p.url_pathname for p in ran] == [v.name]  # /overview: the hidden entry of the default view
            assert "n = 231 of 318 patients" in run.plain, v.name  # the filter of the link: the 231 women
    text = log.read_text()
    assert "Traceback" not in text
    assert "pages" not in text.lower(), text  # no warning about a pages/ directory beside app.py
