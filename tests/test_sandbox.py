"""The upload reader (analysis/sandbox.py): what comes back is only ever a cohort or a report,
the helper process never holds an upload (so no child inherits another's data), and a busy
reader says so."""

from __future__ import annotations

import os
import pickle
import re
import threading
from pathlib import Path

import pandas as pd
import pytest

from analysis import sandbox
from analysis.cohort import from_bytes
from analysis.schema import CohortError
from testkit.files import shipped_subset, xlsx_bytes, zip_bytes

CORPUS = Path(__file__).resolve().parent / "corpus"
from testkit import hostile


class Evil:
    def __reduce__(self):
        return (os.system, ("true",))


def test_an_answer_that_is_not_a_cohort_is_refused():
    with pytest.raises(pickle.UnpicklingError, match="not part of a cohort"):
        sandbox.loads(pickle.dumps(("cohort", Evil(), 0)))
    with pytest.raises(pickle.UnpicklingError):
        sandbox.loads(pickle.dumps(("report", sandbox.Reader)))


def _answers():
    files = [("department.xlsx", xlsx_bytes(shipped_subset(40))),
             ("cohort.zip", zip_bytes({f.name: f.read_bytes() for f in (CORPUS.parent.parent / "data" / "cohort").iterdir()}))]
    files += [(p.name, p.read_bytes()) for p in sorted(CORPUS.glob("*.*")) if p.suffix in (".csv", ".xlsx", ".zip", ".parquet", ".xls")
              and p.name != "cases.csv"]
    files += [(c.file, (hostile.STORED / c.file).read_bytes()) for c in hostile.CASES
              if (hostile.STORED / c.file).exists() and not c.upload_only]
    for name, data in files:
        try:
            yield name, ("cohort", from_bytes(name, data))
        except CohortError as err:
            yield name, ("report", err.report)


def test_every_cohort_and_report_passes_the_allow_list():
    """The allow-list holds everything an honest answer is made of: every shape of cohort, the
    report of every corpus file."""
    seen = 0
    for name, answer in _answers():
        back = sandbox.loads(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
        assert back[0] == answer[0], name
        seen += 1
    assert seen > 60


def _helper_memory_holds(pid: int, marker: bytes) -> bool:
    """Whether the marker is anywhere in the writable memory of a process (root may read it)."""
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            if "rw" not in fields[1]:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                if marker in mem.read(end - start):
                    return True
            except (OSError, ValueError, OverflowError):
                continue
    return False


@pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root")
def test_the_helper_never_holds_an_upload(tmp_path):
    """A child is forked from a helper that has seen no upload: after two reads, the ids of the
    first are nowhere in the helper's memory (only its own child had them)."""
    marker = "MARKER-" + os.urandom(8).hex()
    frames = shipped_subset(5)
    first = frames["patients"]["patient_id"].iloc[0]
    for name, df in frames.items():
        df.loc[df["patient_id"] == first, "patient_id"] = marker
    reader = sandbox.Reader()
    try:
        outcome = reader.read("marked.xlsx", xlsx_bytes(frames))
        assert outcome.cohort is not None and marker in set(outcome.cohort.endpoints["patient_id"])
        reader.read("other.xlsx", xlsx_bytes(shipped_subset(3)))
        assert _helper_memory_holds(os.getpid(), marker.encode())  # the scan finds it where it is
        assert not _helper_memory_holds(reader._proc.pid, marker.encode())
        assert not _helper_memory_holds(reader._proc.pid, marker.encode("utf-16-le"))
    finally:
        reader.close()


def test_a_busy_reader_says_so():
    reader = sandbox.Reader(wait=0.2)
    holder = threading.Thread(target=lambda: (reader._lock.acquire(), threading.Event().wait(1.0), reader._lock.release()))
    holder.start()
    threading.Event().wait(0.1)
    outcome = reader.read("late.csv", b"patient_id\nP1\n")
    holder.join()
    assert outcome.cohort is None
    assert re.search(r"late\.csv was not read: the server is reading other uploads", outcome.report.errors[0].message)


def test_an_unpickled_cohort_holds_its_labs_and_doses_packed_and_counts_them_so(shipped):
    """A cohort comes out of the reading child as frames and is packed again where it is
    unpickled (the server unpacks only what it packed); the budget of held cohorts counts it by
    `memory_bytes`, its packed tables by their packed bytes, well under their frames' size."""
    from analysis.memory import PackedTable

    back = sandbox.loads(pickle.dumps(("cohort", shipped), protocol=pickle.HIGHEST_PROTOCOL))[1]
    for name in ("labs", "steroid_doses"):
        held = getattr(back.tables, name)
        assert isinstance(held, PackedTable) and held.nbytes < held.frame_bytes / 2, name
        pd.testing.assert_frame_equal(back.tables.get(name), shipped.tables.get(name), check_exact=True)
    frames = sum(back.tables.get(n).memory_usage(deep=True).sum() for n in ("patients", "labs", "steroid_doses",
                                                                            "tacrolimus", "adverse_events"))
    frames += back.endpoints.memory_usage(deep=True).sum() + back.steroid_segments.memory_usage(deep=True).sum()
    packed = sum(getattr(back.tables, n).nbytes for n in ("labs", "steroid_doses"))
    unpacked = sum(back.tables.get(n).memory_usage(deep=True).sum() for n in ("labs", "steroid_doses"))
    assert back.memory_bytes() == frames - unpacked + packed
