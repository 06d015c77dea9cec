"""The README's proxy (deploy/nginx.conf) in Debian's nginx, with TLS, in front of the app as
`make run` serves it: what a security review checks, from outside."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from testkit.browser_support import ROOT, free_port, serving
from testkit.st_client import Session, request

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
OPENSSL = shutil.which("openssl")
CONF = ROOT / "deploy" / "nginx.conf"
pytestmark = pytest.mark.skipif(not (Path(NGINX).exists() and OPENSSL) and not os.environ.get("CI"),
                                reason="nginx or openssl is not installed")

REVIEW_HEADERS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def test_the_readme_shows_the_tested_configuration():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```nginx\n(.*?)```", readme, re.S)
    assert block and block.group(1).strip() == CONF.read_text(encoding="utf-8").strip()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nginx")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem")], check=True, capture_output=True)
    with serving(tmp / "server.log") as app:
        https, http = free_port(), free_port()
        conf = CONF.read_text(encoding="utf-8")
        for old, new in (("listen 80;", f"listen 127.0.0.1:{http};"),
                         ("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;"),
                         ("http://127.0.0.1:8501", app.url),
                         ("https://dashboard.hospital.example", f"https://localhost:{https}"),
                         ("dashboard.hospital.example", "localhost"),
                         ("/etc/ssl/certs/dashboard.crt", str(tmp / "cert.pem")),
                         ("/etc/ssl/private/dashboard.key", str(tmp / "key.pem")),
                         ("/var/log/nginx/dashboard.access.log", str(tmp / "access.log"))):
            assert old in conf
            conf = conf.replace(old, new)
        (tmp / "dashboard.conf").write_text(conf)
        temp_paths = " ".join(f"{kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                            "scgi"))
        (tmp / "main.conf").write_text(
            f"daemon off; user root; pid {tmp / 'nginx.pid'}; error_log {tmp / 'error.log'};\n"
            f"events {{}}\nhttp {{ {temp_paths} access_log off; include {tmp / 'dashboard.conf'}; }}\n")
        check = subprocess.run([NGINX, "-t", "-c", str(tmp / "main.conf"), "-p", str(tmp)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        nginx = subprocess.Popen([NGINX, "-c", str(tmp / "main.conf"), "-p", str(tmp)], stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 20
            while time.time() < deadline:
                try:
                    _get(f"https://localhost:{https}/_stcore/health")
                    break
                except OSError:
                    time.sleep(0.2)
            yield f"https://localhost:{https}", f"http://localhost:{http}", tmp
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)


def _get(url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None):
    status, _, found = request(url, method, headers, data, timeout=60)
    return status, found


def test_every_response_carries_the_review_headers_once(proxy):
    https, _, _ = proxy
    for path in ("/", "/_stcore/health", "/_stcore/metrics", "/api/download/nothing"):
        _, headers = _get(https + path)
        for name, value in REVIEW_HEADERS.items():
            assert headers.get_all(name) == [value], (path, name, headers.get_all(name))
    assert _get(https + "/")[0] == 200


def test_plain_http_is_sent_to_https(proxy):
    _, http, _ = proxy
    req = urllib.request.Request(http + "/rfs?dx=ITP")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(req, timeout=30)
    assert info.value.code == 301 and info.value.headers["Location"].startswith("https://localhost")


def test_internal_endpoints_and_foreign_pages_are_refused(proxy):
    https, _, _ = proxy
    assert _get(https + "/_stcore/metrics")[0] == 404
    assert _get(https + "/_stcore/agent/openapi.json")[0] == 404
    assert _get(https + "/_stcore/agent/interact", method="POST", data=b"{}")[0] == 404
    assert _get(https + "/", headers={"Origin": "https://attacker.example"})[0] == 403


def test_an_upload_passes_a_larger_one_is_refused_and_no_session_id_is_logged(proxy):
    https, _, tmp = proxy

    async def scenario():
        tab = await Session.open(https)
        await tab.run()
        await tab.run(page="data")
        from testkit.files import shipped_subset, xlsx_bytes

        run = await tab.upload("Cohort file", "department.xlsx", xlsx_bytes(shipped_subset(120)))
        too_large = await asyncio.to_thread(tab.put_file, "big.csv", b"x" * (52 * 1024 * 1024))
        session_id = tab.session_id
        await tab.close()
        return run, too_large, session_id

    run, (too_large, _), session_id = asyncio.run(scenario())
    assert "n = 120 of 120 patients" in run.plain
    assert too_large == 413
    log = (tmp / "access.log").read_text()
    assert "/_stcore/health" in log  # requests are logged …
    assert "upload_file" not in log and session_id not in log  # … but not the upload URLs
