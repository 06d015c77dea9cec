"""Patient rows stay in their session: two clients over Streamlit's own WebSocket protocol
against the app served as `make run` serves it (server.py), on a department cohort mounted with
COHORT_PATH. A second client tries what an attacker on the hospital network could: fetch a
download link, resume another browser's session by its id, clear the server's caches, fill its
memory with uploads."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil

import pandas as pd
import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg

from analysis.cohort import DEFAULT_COHORT
from testkit.browser_support import serving, tree_rss_mb
from testkit.files import shipped_subset, xlsx_bytes
from testkit.st_client import Session, cookies

DEPARTMENT = xlsx_bytes(shipped_subset(120))
ENDPOINTS = "Endpoints per patient (CSV)"


@pytest.fixture(scope="module")
def mounted(tmp_path_factory):
    """The shipped cohort copied to a folder of its own and served from there (COHORT_PATH)."""
    folder = tmp_path_factory.mktemp("mounted") / "cohort"
    shutil.copytree(DEFAULT_COHORT, folder)
    return folder


@pytest.fixture(scope="module")
def url(mounted, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "server.log"
    with serving(log, env={"COHORT_PATH": str(mounted)}) as app:
        yield app.url
    assert "Traceback" not in log.read_text()


async def _victim(url: str) -> tuple[Session, dict[str, str]]:
    """A browser that uploads its department's cohort on the Data page; returns the open tab and
    its download links."""
    tab = await Session.open(url)
    await tab.run()
    await tab.run(page="data")
    run = await tab.upload("Cohort file", "department.xlsx", DEPARTMENT)
    assert "n = 120 of 120 patients" in run.plain, run.plain[:500]
    return tab, run.links


def _server_rss_mb(url: str) -> float:
    """Resident memory of the server process itself (not the upload reader), in MB."""
    port = url.rsplit(":", 1)[1]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if b"server.py" in cmd and port.encode() in cmd:
                return tree_rss_mb(int(entry)) - sum(tree_rss_mb(int(c)) for c in _children(int(entry)))
    raise AssertionError("server process not found")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def test_downloads_are_served_to_the_session_that_asked_and_no_one_else(url):
    async def scenario():
        victim, links = await _victim(url)
        assert {ENDPOINTS, "Report (JSON)", "Report (Markdown)"} <= set(links)
        link = links[ENDPOINTS]
        assert link.startswith("api/download/")
        status, body, headers = victim.get(link)
        assert status == 200 and headers.get("cache-control") == "no-store"
        assert len(pd.read_csv(io.BytesIO(body))) == 120
        # The patient files are not Streamlit download buttons (whose files /media serves to anyone).
        data_page = await victim.run(page="data")
        assert [b.label for b in data_page.of("download_button")] == ["Download the template workbook (.xlsx)"]

        anonymous = victim.get(link, jar={})
        stranger = victim.get(link, jar=await asyncio.to_thread(cookies, url))
        same_cookie_name_forged = victim.get(link, jar={"dashboard_browser": "A" * 43})
        other_tab = await Session.open(url)
        await other_tab.run()
        await victim.close()
        after_close = victim.get(link)  # the victim's own browser, once its session has ended
        await other_tab.close()
        return anonymous, stranger, same_cookie_name_forged, after_close

    for status, body, _ in asyncio.run(scenario()):
        assert status == 404
        assert b"patient" not in body and b"P0" not in body


def test_a_session_id_does_not_hand_over_another_browsers_session(url):
    async def scenario():
        victim, _ = await _victim(url)
        stolen = victim.session_id
        # While the victim's tab is open: a stranger's browser names the victim's session id.
        intruder = await Session.open(url, resume=stolen)
        first = await intruder.run()
        assert intruder.session_id != stolen
        assert "n = 318 of 318 patients" in first.plain and "department" not in first.plain
        still_there = await victim.run()  # the victim was not disconnected
        assert "n = 120 of 120 patients" in still_there.plain
        await intruder.close()
        await victim.close()
        # After the victim's tab has closed (Streamlit keeps the session for reconnects): with
        # fresh cookies, and with none at all.
        out = []
        for jar in (None, {}):
            late = await Session.open(url, resume=stolen, jar=jar)
            run = await late.run()
            out.append((late.session_id, run.plain))
            await late.close()
        # The victim's own browser still gets its session back after a dropped connection.
        back = await Session.open(url, resume=stolen, jar=victim.jar)
        resumed = await back.run()
        await back.close()
        return out, back.session_id, resumed

    out, resumed_id, resumed = asyncio.run(scenario())
    for session_id, text in out:
        assert session_id and text and "n = 318 of 318 patients" in text and "n = 120" not in text
    assert "n = 120 of 120 patients" in resumed.plain
    assert resumed_id


def test_no_client_message_makes_the_server_read_the_cohort_again(url, mounted):
    """The configured cohort is read once. A file changed in place (same size, same time) is not
    noticed by the fingerprint; if any message made the server read the cohort again, the pages
    would show the damage (or another content hash)."""
    async def content_hash() -> str:
        tab = await Session.open(url)
        await tab.run()
        run = await tab.run(page="data")
        await tab.close()
        found = re.search(r"content hash `([0-9a-f]{12})`", run.text)
        assert found, run.plain[:800]
        return found.group(1)

    async def clear_caches() -> None:
        tab = await Session.open(url)
        await tab.run()
        msg = BackMsg()
        msg.clear_cache = True
        await tab.ws.send(msg.SerializeToString())
        await tab.run()
        await tab.close()

    before = asyncio.run(content_hash())
    target = mounted / "patients.parquet"
    stat = target.stat()
    data = bytearray(target.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)
    target.write_bytes(bytes(data))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    try:
        asyncio.run(clear_caches())
        assert asyncio.run(content_hash()) == before
    finally:
        shutil.copy2(DEFAULT_COHORT / "patients.parquet", target)


def test_a_session_keeps_only_the_cohort_in_use(url):
    """Each upload is dropped from Streamlit's upload store once read, and a client that only PUTs
    files (no page ever reads them) holds one file at a time: six uploads of 20 MB leave the
    server about where one leaves it (before: every file stayed until the tab closed)."""
    junk = os.urandom(20 * 1024 * 1024)

    async def scenario():
        victim, _ = await _victim(url)
        for i in range(2):  # through the page: read, then dropped
            run = await victim.upload("Cohort file", f"junk{i}.csv", junk)
            assert f"junk{i}.csv was not loaded" in run.plain
        before = _server_rss_mb(url)
        for i in range(6):  # PUTs no page reads
            status, _ = await asyncio.to_thread(victim.put_file, f"junk{i}.bin", junk)
            assert status == 204
        after = _server_rss_mb(url)
        await victim.close()
        return before, after

    before, after = asyncio.run(scenario())
    assert after - before < 60, f"the server grew from {before:.0f} to {after:.0f} MB"


def test_an_uploaded_cohort_is_forgotten_when_another_browser_holds_the_session(monkeypatch):
    """The app's own check, behind the server's: the uploaded cohort (and its results and
    problems) belongs to the browser that uploaded it; a run from another browser forgets it."""
    from views.parts import upload
    from test_pages import PAGES, fresh

    def sidebar(at) -> str:
        return " ".join(m.value for m in at.sidebar.markdown).replace("**", "")

    monkeypatch.setattr(upload, "browser", lambda: "browser-a")
    at = fresh().run()
    at.switch_page(PAGES[-1]).run()
    at.file_uploader(key="upload").set_value(("department.xlsx", DEPARTMENT, "application/octet-stream")).run()
    assert "n = 120 of 120 patients" in sidebar(at)
    at.run()
    assert "n = 120 of 120 patients" in sidebar(at)  # the same browser keeps it
    monkeypatch.setattr(upload, "browser", lambda: "browser-b")
    at.run()
    assert not at.exception
    assert "n = 318 of 318 patients" in sidebar(at)
    assert upload.UPLOADED not in at.session_state and upload.RESULTS not in at.session_state


def test_every_message_the_protocol_allows_leaves_the_server_serving(tmp_path):
    """A client sends each kind of message a browser may send, the development-only ones and
    backend operations included, on a server running from a copy of the app: the server goes on
    serving other sessions and writes nothing into the app's folder."""
    import hashlib

    from testkit.browser_support import copy_app

    (tmp_path / "app").mkdir()
    app_dir = copy_app(tmp_path / "app")

    def contents() -> dict:
        return {str(p.relative_to(app_dir)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
                for p in app_dir.rglob("*") if "__pycache__" not in p.parts}

    before = contents()

    def messages() -> list[BackMsg]:
        out = []
        for kind in ("clear_cache", "set_run_on_save", "stop_script", "load_git_info", "app_heartbeat",
                     "debug_disconnect_websocket", "debug_shutdown_runtime"):
            m = BackMsg()
            setattr(m, kind, True)
            out.append(m)
        m = BackMsg()
        m.file_urls_request.request_id = "r1"
        m.file_urls_request.file_names.extend(["a.csv"] * 50)
        out.append(m)
        for op in ("install_skills", "dismiss_skills_nudge", "deferred_file"):
            m = BackMsg()
            m.backend_operation_request.request_id = op
            getattr(m.backend_operation_request, op).SetInParent()
            if op == "deferred_file":
                m.backend_operation_request.deferred_file.file_id = "0" * 32
            out.append(m)
        return out

    async def scenario(url: str):
        sender = await Session.open(url)
        await sender.run()
        for m in messages():
            await sender.ws.send(m.SerializeToString())
        await asyncio.sleep(1)
        await sender.close()
        other = await Session.open(url)
        run = await other.run()
        await other.close()
        return run

    with serving(tmp_path / "server.log", cwd=app_dir) as app:
        run = asyncio.run(scenario(app.url))
    assert run.status == "FINISHED_SUCCESSFULLY" and "n = 318 of 318 patients" in run.plain
    assert contents() == before


def test_a_cohort_let_go_to_free_memory_is_said_once(monkeypatch):
    """Uploaded cohorts are held within a memory budget (hosting/held.py): when other sessions'
    uploads take the room, this session shows the configured cohort and says why, once."""
    from hosting.held import HELD
    from views.parts import upload
    from test_pages import PAGES, fresh

    monkeypatch.setattr(upload, "browser", lambda: "browser-a")
    at = fresh().run()
    at.switch_page(PAGES[-1]).run()
    at.file_uploader(key="upload").set_value(("department.xlsx", DEPARTMENT, "application/octet-stream")).run()
    sidebar = " ".join(m.value for m in at.sidebar.markdown).replace("**", "")
    assert "n = 120 of 120 patients" in sidebar
    monkeypatch.setattr(HELD, "budget", HELD.nbytes + 1)
    other = HELD.put("another-session", object(), HELD.nbytes)  # another session's upload needs the room
    at.run()
    HELD.drop(other)
    warnings = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "department.xlsx was let go to free the server's memory" in warnings
    assert "n = 318 of 318 patients" in " ".join(m.value for m in at.sidebar.markdown).replace("**", "")
    at.run()
    assert not any("let go" in w.value for w in at.warning)
