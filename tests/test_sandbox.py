"""The upload reader (analysis/sandbox.py): what comes back is only ever a cohort or a report,
the helper process never holds an upload (so no child inherits another's data), and a busy
reader says so."""

from __future__ import annotations

import os
import pickle
import re
import threading
from pathlib import Path

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


def test_the_size_estimate_of_a_cohort_is_near_its_size_in_memory(shipped):
    """The budget of held cohorts counts each by its pickled size times a factor; the factor
    holds within a factor of 1.5 for the shipped cohort and a 2,000-patient one."""
    import tempfile

    from analysis import synth
    from analysis.cohort import load

    with tempfile.TemporaryDirectory() as tmp:
        synth.write(tmp, 2000, 4)
        cohorts = [shipped, load(tmp)]
    for cohort in cohorts:
        estimate = len(pickle.dumps(cohort, protocol=pickle.HIGHEST_PROTOCOL)) * sandbox.MEMORY_PER_PICKLED_BYTE
        assert 1 / 1.5 < estimate / cohort.memory_bytes() < 1.5, (len(cohort.endpoints), estimate, cohort.memory_bytes())
