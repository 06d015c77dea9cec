"""Hostile files (testkit/hostile.py) through the validator and through the real upload
path of a running server (server.py, started as `make run` starts it): each gives its sentence
and never a traceback; the server stays alive, another session is served while the file is
read and after; the server's memory (its process and the upload reader's) stays under 1.5 GB;
an answer comes within 30 s."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from analysis.cohort import check
from testkit.browser_support import PeakMemory, serving
from testkit.st_client import Session
from testkit import hostile

CASES = hostile.CASES
IDS = [c.file for c in CASES]
SERVER_PEAK_MB = 1536
ANSWER_SECONDS = 30


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "server.log"
    with serving(log) as app:
        yield app, log


def test_the_corpus_has_every_family():
    assert len(CASES) >= 15 + 10
    families = {"xlsx": 0, "zip": 0, "parquet": 0, "csv": 0}
    for c in CASES:
        families[c.file.rsplit(".", 1)[1]] += 1
    assert all(n >= 4 for n in families.values()), families


@pytest.mark.parametrize("case", [c for c in CASES if not c.upload_only], ids=[c.file for c in CASES if not c.upload_only])
def test_validator_says_what_is_wrong(case, folder):
    report = check(hostile.build(case, folder))
    text = report.to_text()
    assert "Traceback" not in text
    assert report.ok == case.loads, text
    assert case.validator_told in text, text


async def _upload(url: str, case: hostile.Case, data: bytes):
    """The file through the Data page's uploader of a new tab, while a second tab that is
    already open changes its filters: both are answered."""
    bystander = await Session.open(url)
    tab = await Session.open(url)
    try:
        await bystander.run()
        await tab.run()
        await tab.run(page="data")
        bystander.set("Sex", ["Female"])
        upload, other = await asyncio.gather(
            tab.upload("Cohort file", case.file, data, timeout=ANSWER_SECONDS),
            bystander.run(timeout=ANSWER_SECONDS))
        again = await bystander.run(page="rfs", timeout=ANSWER_SECONDS)
        return upload, other, again
    finally:
        await tab.close()
        await bystander.close()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_upload_is_answered_with_its_sentence(case, folder, served):
    app, log = served
    data = hostile.build(case, folder).read_bytes()
    with PeakMemory(app.pid) as memory:
        upload, other, again = asyncio.run(_upload(app.url, case, data))
    assert upload.status == "FINISHED_SUCCESSFULLY" and not upload.exceptions
    said = upload.plain
    if case.loads:
        assert "was not loaded" not in said
        assert "uploaded in this browser session" in said, said[:2000]
    else:
        assert f"{case.file} was not loaded" in said and "The cohort in use has not changed" in said, said[-3000:]
        assert case.told in said, said[-3000:]
    for run in (other, again):  # the other tab was served during the upload and after it
        assert run.status == "FINISHED_SUCCESSFULLY" and not run.exceptions
        assert "n = 231 of 318 patients" in run.plain
    assert memory.peak < SERVER_PEAK_MB, f"{case.file}: the server and its reader peaked at {memory.peak:.0f} MB"
    assert "Traceback" not in log.read_text()
