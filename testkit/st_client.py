"""A client that speaks Streamlit's own WebSocket protocol, as the browser does: one `Session` is one
browser tab. It asks for the health endpoint (where the server sets the XSRF cookie), opens
`/_stcore/stream`, sends `BackMsg` rerun requests (page, widget values) and reads `ForwardMsg`s until
the script run finishes.

Used by the configuration test (what the running server tells a browser) and by
`bench/load.py` (many concurrent sessions). Written against `streamlit.proto`; no browser, so fifty
sessions cost the client little and the figures measure the server.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlparse

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import connect

XSRF_COOKIE = "_streamlit_xsrf"
# The tests' own proxy (tests/test_proxy.py) presents a certificate it made itself.
TEST_TLS = ssl._create_unverified_context()


def _open(req, timeout: float):
    url = req if isinstance(req, str) else req.full_url
    return urllib.request.urlopen(req, timeout=timeout, context=TEST_TLS if url.startswith("https:") else None)


def request(url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None,
            timeout: float = 120):
    """One HTTP request, errors included: (status, body, headers; headers read case-insensitively)."""
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with _open(req, timeout=timeout) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers
FINISHED = ForwardMsg.ScriptFinishedStatus.Name


@dataclass
class Widget:
    kind: str  # "multiselect", "slider", …
    id: str
    label: str
    options: list[str] = field(default_factory=list)
    query_param_key: str = ""  # set when the widget is bound to the URL (bind="query-params")


@dataclass
class Run:
    """What one script run sent to the browser."""

    seconds: float = 0.0
    status: str = ""
    elements: list = field(default_factory=list)  # Element protos, in arrival order
    new_session: object | None = None
    navigation: object | None = None  # the last navigation message
    navigations: list = field(default_factory=list)  # every navigation message, in arrival order
    page_not_found: bool = False

    def of(self, kind: str) -> list:
        return [getattr(e, kind) for e in self.elements if e.WhichOneof("type") == kind]

    @property
    def exceptions(self) -> list:
        return self.of("exception")

    @property
    def text(self) -> str:
        """Every Markdown, heading and alert body, and every table cell, to look for a sentence."""
        parts = [m.body for m in self.of("markdown")] + [h.body for h in self.of("heading")]
        parts += [a.body for a in self.of("alert")]
        for table in self.tables:
            parts += [str(v) for v in table.to_numpy().ravel()]
        return "\n".join(parts)

    @property
    def plain(self) -> str:
        """`text` as a person reads it: without Markdown's escapes and bold marks."""
        return re.sub(r"\\(.)", r"\1", self.text).replace("**", "")

    @property
    def tables(self) -> list:
        """The st.table elements as DataFrames."""
        import pyarrow as pa

        return [pa.ipc.open_stream(t.arrow_data.data).read_all().to_pandas() for t in self.of("table")]

    @property
    def links(self) -> dict[str, str]:
        """Link buttons: label → URL."""
        return {b.label: b.url for b in self.of("link_button")}


def cookies(url: str, timeout: float = 30) -> dict[str, str]:
    """GET the health endpoint, as the browser's first requests do; the server sets its cookies
    there (the XSRF cookie, and the dashboard's browser cookie)."""
    jar = {}
    with _open(url + "/_stcore/health", timeout=timeout) as resp:
        for header in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            jar[name.strip()] = rest.split(";", 1)[0]
    return jar


def xsrf_cookie(url: str, timeout: float = 30) -> str | None:
    return cookies(url, timeout).get(XSRF_COOKIE)


def cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items())


class Session:
    """One tab: `await Session.open(url)`, then `await s.run(...)` as often as needed, `await s.close()`."""

    def __init__(self, ws, url: str, jar: dict[str, str] | None = None) -> None:
        self.ws = ws
        self.url = url
        self.jar = jar or {}  # the cookies this "browser" sends
        self.session_id = ""  # set by the first run (NewSession)
        self.widgets: dict[str, Widget] = {}  # by label
        self.pages: dict[str, str] = {}  # url path ("" for the default page) → page_script_hash
        self.page_hash = ""
        self.values: dict[str, WidgetState] = {}  # by widget id: what this tab has set
        self.query: dict[str, list[str]] = {}  # the URL's query parameters, as the browser keeps them

    @classmethod
    async def open(cls, url: str, origin: str | None = None, timeout: float = 60, jar: dict[str, str] | None = None,
                   resume: str | None = None) -> Session:
        """A new tab. `jar`: the cookies of an existing "browser" (default: fresh ones from the
        server). `resume`: a session id to ask the server to resume, as the browser does after
        a dropped connection."""
        if jar is None:
            jar = await asyncio.to_thread(cookies, url)
        host = urlparse(url).netloc
        headers = {"Origin": origin or f"{urlparse(url).scheme}://{host}"}
        # The browser sends its XSRF token and, when reconnecting, its session id as the second
        # and third "subprotocols".
        protocols = ["streamlit"]
        if jar.get(XSRF_COOKIE) or resume:
            protocols.append(jar.get(XSRF_COOKIE) or "no-token")
        if resume:
            protocols.append(resume)
        if jar:
            headers["Cookie"] = cookie_header(jar)
        secure = urlparse(url).scheme == "https"
        ws_url = ("wss://" if secure else "ws://") + host + urlparse(url).path.rstrip("/") + "/_stcore/stream"
        ws = await connect(ws_url, additional_headers=headers, subprotocols=protocols, max_size=None,
                           ssl=TEST_TLS if secure else None,
                           open_timeout=timeout)
        return cls(ws, url, jar)

    async def close(self) -> None:
        await self.ws.close()

    def put_file(self, filename: str, data: bytes, session_id: str | None = None) -> tuple[int, str]:
        """PUT a file to the upload endpoint as the browser's uploader does (multipart, XSRF header,
        cookies). Returns (HTTP status, file id)."""
        file_id = str(uuid.uuid4())
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        status, _, _ = request(
            f"{self.url}/_stcore/upload_file/{session_id or self.session_id}/{file_id}", "PUT", data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Cookie": cookie_header(self.jar),
                     "X-Xsrftoken": self.jar.get(XSRF_COOKIE, "")})
        return status, file_id

    async def upload(self, label: str, filename: str, data: bytes, timeout: float = 120) -> Run:
        """Upload a file into the uploader `label` of the current page and rerun, as a person
        choosing the file does."""
        status, file_id = await asyncio.to_thread(self.put_file, filename, data)
        if status != 204:
            raise RuntimeError(f"the upload of {filename} got HTTP {status}")
        w = self.widgets[label]
        state = WidgetState(id=w.id)
        info = state.file_uploader_state_value.uploaded_file_info.add()
        info.name, info.size, info.file_id = filename, len(data), file_id
        info.file_urls.file_id = file_id
        info.file_urls.upload_url = info.file_urls.delete_url = f"/_stcore/upload_file/{self.session_id}/{file_id}"
        self.values[w.id] = state
        return await self.run(timeout=timeout)

    def get(self, path: str, jar: dict[str, str] | None = None):
        """GET a path of the server with this tab's cookies (or `jar`): (status, body, headers)."""
        return request(self.url.rstrip("/") + "/" + path.lstrip("/"),
                       headers={"Cookie": cookie_header(self.jar if jar is None else jar)})

    def set(self, label: str, value) -> None:
        """Set a widget (by its label) as a user would; sent with the next run."""
        w = self.widgets[label]
        state = WidgetState(id=w.id)
        if w.kind in ("multiselect", "button_group"):
            state.string_array_value.data.extend(value)
        elif w.kind == "slider":
            state.double_array_value.data.extend(float(v) for v in value)
        else:
            raise ValueError(f"setting a {w.kind} is not supported by this client")
        self.values[w.id] = state
        if w.query_param_key:
            # The browser writes a bound widget's value into the URL and sends it with the rerun.
            # The server reads bound widgets from there: their ids can change between the first
            # run of a session and the next, so the id alone is not enough.
            self.query[w.query_param_key] = [_url_value(v) for v in value]

    async def run(self, page: str | None = None, query_string: str | None = None, timeout: float = 120,
                  opened: str | None = None) -> Run:
        """Ask for a script run (on `page`, a URL path such as "rfs", or the current page) and read
        what comes back until the run finishes. The query string defaults to the bound widgets'.
        `opened`: the URL path the tab was opened at (a link such as /rfs), sent by name as a
        browser does on its first run, before the server has told it the pages."""
        if page is not None:
            self.page_hash = self.pages[page]
        msg = BackMsg()
        cs = msg.rerun_script
        if opened is not None:
            cs.page_name = opened
        cs.query_string = urlencode(self.query, doseq=True) if query_string is None else query_string
        cs.page_script_hash = self.page_hash
        cs.widget_states.widgets.extend(self.values.values())
        start = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        run = Run()
        async with asyncio.timeout(timeout):
            while True:
                fm = ForwardMsg()
                fm.ParseFromString(await self.ws.recv())
                kind = fm.WhichOneof("type")
                if kind == "new_session":
                    run.new_session = fm.new_session
                    self.session_id = fm.new_session.initialize.session_id or self.session_id
                    run.elements.clear()
                elif kind == "navigation":
                    run.navigation = fm.navigation
                    run.navigations.append(fm.navigation)
                    for p in fm.navigation.app_pages:
                        self.pages[p.url_pathname] = p.page_script_hash
                        if p.is_default:
                            self.pages.setdefault("", p.page_script_hash)
                    self.page_hash = fm.navigation.page_script_hash or self.page_hash
                elif kind == "page_not_found":
                    run.page_not_found = True
                elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                    el = fm.delta.new_element
                    run.elements.append(el)
                    self._remember(el)
                elif kind == "script_finished":
                    status = FINISHED(fm.script_finished)
                    if status == "FINISHED_EARLY_FOR_RERUN":
                        continue
                    run.status = status
                    break
        run.seconds = time.perf_counter() - start
        return run

    def _remember(self, el) -> None:
        kind = el.WhichOneof("type")
        if kind in ("multiselect", "slider", "button_group", "file_uploader"):
            w = getattr(el, kind)
            options = list(getattr(w, "options", []))
            if kind == "button_group":
                options = [o.content for o in w.options]
            label = getattr(w, "label", "") or w.id
            self.widgets[label] = Widget(kind, w.id, label, options, getattr(w, "query_param_key", ""))


def _url_value(v) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


async def one_run(url: str, page: str | None = None) -> Run:
    """Open a session, run the default page (or `page`, once the first run has named the pages),
    close it: what a tab that opens the app once receives."""
    s = await Session.open(url)
    try:
        run = await s.run()
        if page is not None:
            run = await s.run(page=page)
        return run
    finally:
        await s.close()
