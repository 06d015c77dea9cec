"""Reading an uploaded cohort where a hostile file cannot take the server down.

An upload is read, validated and derived in a child process with a memory cap and a time
limit; the server receives the `Cohort`, or the sentence that says why there is none. A file
that exhausts the cap or the clock costs that child, never the server or another session.

    reader = Reader()
    outcome = reader.read("cohort.xlsx", data)   # Outcome(cohort | report, seconds, peak_mb)

How: one helper process (`python -m analysis.sandbox`) starts once, imports the engine, and
then forks a child per upload. The helper is single-threaded, so forking it is safe (the
server is not: it runs a thread per session); the fork makes a child ready in milliseconds
instead of the second that importing pandas, pyarrow and openpyxl takes. The child lowers its
priority, caps its address space (`RLIMIT_AS`) at what it started with plus MEMORY_BYTES, and
caps its CPU time; the helper kills it at SECONDS. Messages are length-prefixed pickles over
the helper's stdin and stdout.

Written by hand because `multiprocessing`'s forkserver re-imports the server's main module
(Streamlit's command line) in every child, and its pools cannot kill one task at a deadline.
"""

from __future__ import annotations

import os
import pickle
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .schema import CohortError, ValidationReport

MB = 1024 * 1024
# What a reading child may allocate beyond what it inherits. A zip of Parquet tables of 20,000
# patients (964,398 lab rows) peaks at 527 MB resident, most of it its own; the server, the helper and a child at its cap
# stay under 1.5 GB together.
MEMORY_BYTES = 640 * MB
# Read + validate + derive of one upload. A zip of Parquet tables of 20,000 patients takes 5 s;
# an .xlsx workbook is read far more slowly (10,000 patients: 35 s), so a workbook of more than
# about 7,000 patients is refused with the advice to send Parquet or CSV tables in a .zip.
SECONDS = 25.0
ROOT = Path(__file__).resolve().parent.parent
_LENGTH = struct.Struct("<Q")


@dataclass(frozen=True)
class Outcome:
    """What came back: a cohort, or the report that says why not; how long it took and the
    child's peak memory (its maximum resident set), for the page and the benchmarks."""

    cohort: object | None  # analysis.cohort.Cohort
    report: ValidationReport | None
    seconds: float
    peak_mb: float


def _refusal(message: str) -> ValidationReport:
    return CohortError.single(message).report


# --------------------------------------------------------------------------------------
# Framing


def _write(fd: int, obj: object) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_LENGTH.pack(len(payload)) + payload)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes | None:
    """n bytes from fd, or None at end of file or when the deadline passes."""
    parts, left = [], n
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                return None
        chunk = os.read(fd, min(left, 4 * MB))
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _read(fd: int, deadline: float | None = None) -> object | None:
    head = _read_exact(fd, _LENGTH.size, deadline)
    if head is None:
        return None
    body = _read_exact(fd, _LENGTH.unpack(head)[0], deadline)
    return None if body is None else pickle.loads(body)


# --------------------------------------------------------------------------------------
# The child: one upload


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(fd: int, filename: str, data: bytes, memory: int, seconds: float) -> None:
    from .cohort import from_bytes

    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)  # the helper's pipes are the server's: the child neither reads nor writes them
    os.dup2(2, 1)
    os.nice(10)  # the server's own threads come first
    cap = _vm_bytes() + memory
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CPU, (int(seconds) + 5, int(seconds) + 10))
    try:
        reply: tuple = ("cohort", from_bytes(filename, data))
    except CohortError as err:
        reply = ("report", err.report)
    except MemoryError:
        reply = ("memory",)
    except RecursionError:
        reply = ("failed", "it is nested too deeply to read")
    except Exception as exc:  # any other reader failure: a sentence, never a traceback
        reply = ("failed", type(exc).__name__)
    del data
    try:
        _write(fd, reply)
    except MemoryError:
        _write(fd, ("memory",))


# --------------------------------------------------------------------------------------
# The helper process: forks one child per request


def _warm_up() -> None:
    """Read a small cohort once as zipped Parquet and CSV tables, so that what pandas and pyarrow
    import or set up on first use is done here, once, and every forked child starts with it.
    (No workbook is written for this: openpyxl writes a workbook through temporary files.)"""
    import io
    import zipfile

    import openpyxl.reader.excel  # noqa: F401  imported here, not in each child
    import pandas as pd

    from .cohort import DEFAULT_COHORT, from_bytes

    frames = {f.stem: pd.read_parquet(f) for f in sorted(DEFAULT_COHORT.glob("*.parquet"))}
    keep = set(frames["patients"]["patient_id"].head(8))
    frames = {k: v[v["patient_id"].isin(keep)] for k, v in frames.items()}
    shapes = {}
    for kind in ("parquet", "csv"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, df in frames.items():
                zf.writestr(f"{name}.{kind}", df.to_parquet(index=False) if kind == "parquet" else df.to_csv(index=False))
        shapes[f"warm-up-{kind}.zip"] = buf.getvalue()
    for name, data in shapes.items():
        from_bytes(name, data)


def serve(inp: int = 0, out: int = 1, warm: bool = True) -> None:
    """The helper's loop: a request (filename, data, memory, seconds) in, a reply out, until
    the server closes the pipe."""
    from . import cohort  # noqa: F401  the engine, imported once and inherited by every child

    sys.stdout = sys.stderr  # stdout carries replies only
    if warm:
        _warm_up()
    while True:
        request = _read(inp)
        if request is None:
            return
        filename, data, memory, seconds = request
        r, w = os.pipe()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(r)
            try:
                _child(w, filename, data, memory, seconds)
            finally:
                os._exit(0)
        os.close(w)
        del data
        reply = _read(r, deadline=start + seconds)
        if reply is None:
            os.kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        os.close(r)
        if reply is None:
            reply = ("timeout",) if time.monotonic() - start >= seconds else ("crashed", status)
        _write(out, (reply, time.monotonic() - start, usage.ru_maxrss / 1024))


# --------------------------------------------------------------------------------------
# The server's side


class Reader:
    """Reads uploads in the helper's children, one at a time (the others wait their turn)."""

    def __init__(self, memory: int = MEMORY_BYTES, seconds: float = SECONDS) -> None:
        self.memory, self.seconds = memory, seconds
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def _helper(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
            self._proc = subprocess.Popen([sys.executable, "-m", "analysis.sandbox"], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, cwd=ROOT, env=env)
        return self._proc

    def start(self) -> None:
        """Start the helper now (it imports the engine, about a second) rather than at the first upload."""
        with self._lock:
            self._helper()

    def close(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.stdin.close()
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
            self._proc = None

    def read(self, filename: str, data: bytes) -> Outcome:
        label = Path(filename).name or "the file"
        with self._lock:
            proc = self._helper()
            start = time.monotonic()
            try:
                _write(proc.stdin.fileno(), (filename, data, self.memory, self.seconds))
                # The helper answers within `seconds` (it kills the child then); a helper that does
                # not has failed itself, and is replaced.
                answer = _read(proc.stdout.fileno(), deadline=start + self.seconds + 30)
            except OSError:
                answer = None
            if answer is None:
                proc.kill()
                self._proc = None
                return Outcome(None, _refusal(f"{label} could not be read: the reading process stopped. Try again; "
                                              "if it happens again, the file is probably damaged."),
                               time.monotonic() - start, 0.0)
        reply, seconds, peak = answer
        kind = reply[0]
        if kind == "cohort":
            return Outcome(reply[1], None, seconds, peak)
        if kind == "report":
            return Outcome(None, reply[1], seconds, peak)
        if kind == "memory":
            message = (f"{label} needs more than {self.memory // MB:,} MB of memory to read, more than an upload may "
                       "use. Upload the cohort as Parquet tables in a .zip (far smaller in memory than a workbook or "
                       "CSV), or ask IT to serve it from the server's disk (COHORT_PATH).")
        elif kind == "timeout":
            message = (f"{label} took longer than {self.seconds:.0f} seconds to read and was stopped. Upload the "
                       "cohort as Parquet tables in a .zip, or ask IT to serve it from the server's disk (COHORT_PATH).")
        elif kind == "failed":
            message = f"{label} could not be read ({reply[1]})."
        else:
            message = f"{label} could not be read: the reading process stopped (status {reply[1]})."
        return Outcome(None, _refusal(message), seconds, peak)


if __name__ == "__main__":
    serve()
