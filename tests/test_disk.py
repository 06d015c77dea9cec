"""Nothing uploaded reaches the disk. The server (server.py) is traced with strace while a 6 MB
cohort is uploaded and read: neither the server nor the upload reader's processes open a file
for writing. The same trace of Streamlit served without server.py (its form parser spools an
upload over 1 MB to a temporary file) shows that the check catches a spooled upload."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from analysis import synth
from testkit.browser_support import serving
from testkit.st_client import Session

STRACE = shutil.which("strace")
pytestmark = pytest.mark.skipif(not STRACE and not os.environ.get("CI"), reason="strace is not installed")
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TMPFILE", "O_TRUNC", "O_APPEND")


@pytest.fixture(scope="module")
def cohort_zip(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("synth")
    synth.write(folder, 2000, 11)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:  # stored: several MB, over the 1 MB spool
        for f in sorted(folder.glob("*.parquet")):
            zf.writestr(f.stem + ".csv", pd.read_parquet(f).to_csv(index=False))
    data = buf.getvalue()
    assert len(data) > 2 * 1024 * 1024
    return data


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in open(f"/proc/{p}/task/{task}/children").read().split()]
        except OSError:
            pass
    return out


def _opened_for_writing(pid: int, tmp: Path, upload) -> list[str]:
    """Run `upload` while strace follows the server and its children; the files they opened
    with a writing flag (devices and /proc aside)."""
    trace = tmp / "strace.txt"
    pids = [str(p) for p in _descendants(pid)]
    args = [STRACE, "-f", "-qq", "-e", "trace=open,openat,creat", "-o", str(trace)]
    for p in pids:
        args += ["-p", p]
    tracer = subprocess.Popen(args, stderr=subprocess.DEVNULL)
    time.sleep(1.5)  # strace attaches
    try:
        upload()
    finally:
        time.sleep(0.5)
        tracer.terminate()
        tracer.wait(timeout=10)
    found = []
    for line in trace.read_text().splitlines():
        call = re.search(r'open(?:at)?\((?:[^,]+, )?"([^"]*)", ([A-Z_|]+)', line) or re.search(r'creat\("([^"]*)"', line)
        if not call:
            continue
        path, flags = call.group(1), call.group(2) if call.lastindex and call.lastindex > 1 else "O_CREAT"
        if any(f in flags for f in WRITE_FLAGS) and not path.startswith(("/dev/", "/proc/")):
            found.append(line)
    return found


def _upload(url: str, filename: str, data: bytes) -> str:
    async def go() -> str:
        tab = await Session.open(url)
        await tab.run()
        await tab.run(page="data")
        run = await tab.upload("Cohort file", filename, data)
        await tab.close()
        return run.plain
    return asyncio.run(go())


def test_an_upload_never_touches_the_disk(cohort_zip, tmp_path):
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    with serving(tmp_path / "server.log", env={"TMPDIR": str(tmpdir)}) as app:
        _upload(app.url, "first.zip", cohort_zip)  # the reader has started and warmed up
        said: list[str] = []
        writes = _opened_for_writing(app.pid, tmp_path, lambda: said.append(_upload(app.url, "department.zip", cohort_zip)))
    assert "n = 2,000 of 2,000 patients" in said[0], said[0][:500]
    assert writes == [], "\n".join(writes[:10])
    assert list(tmpdir.iterdir()) == []


def test_the_check_sees_an_upload_spooled_to_disk(cohort_zip, tmp_path):
    """Control: Streamlit without server.py writes the upload to a temporary file in TMPDIR."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    app_dir = Path(__file__).resolve().parents[1]
    with serving(tmp_path / "server.log", env={"TMPDIR": str(tmpdir)}, script="app.py", cwd=app_dir) as app:
        writes = _opened_for_writing(app.pid, tmp_path, lambda: _upload(app.url, "department.zip", cohort_zip))
    assert any(str(tmpdir) in w and "O_TMPFILE" in w for w in writes), "\n".join(writes[:10]) or "no writes seen"
