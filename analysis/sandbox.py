"""Reading an uploaded cohort where a hostile file cannot take the server down.

An upload is read, validated and derived in a child process with a memory cap and a time
limit; the server receives the `Cohort`, or the sentence that says why there is none. A file
that exhausts the cap or the clock costs that child, never the server or another session.

    reader = Reader()
    outcome = reader.read("cohort.xlsx", data)   # Outcome(cohort | report, seconds, peak_mb)

How: one helper process (`python -m analysis.sandbox`) starts once, imports the engine, and
forks a fresh child for each upload. The helper never sees an upload: for each one the server
makes two pipes and hands their ends to the helper over a Unix socket; the helper forks, the
child reads the request from the server and writes its answer back to it directly, and the
helper only watches the clock and reports how the child ended. So no child inherits another
upload's bytes, and the helper holds no patient data to inherit.

The child drops its priority, forbids itself new privileges and core dumps, dies with its
parent, caps its address space (`RLIMIT_AS`) at what it starts with plus MEMORY_BYTES and its
CPU time; the helper kills it at SECONDS. The server unpickles the answer with an allow-list of
the classes a cohort is made of (`_Unpickler`), so a child taken over through a parser bug
cannot make the server run code. Forking is safe because the helper does nothing but wait and
fork (its numeric libraries are held to one thread).

Written by hand because `multiprocessing`'s forkserver re-imports the server's main module
(Streamlit's command line) in every child, and its pools cannot kill one task at a deadline.
"""

from __future__ import annotations

import ctypes
import io
import json
import logging
import os
import pickle
import resource
import select
import signal
import socket
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
# patients (964,398 lab rows) peaks at 527 MB resident, most of it its own; the server, the
# helper and a child at its cap stay under 1.5 GB together.
MEMORY_BYTES = 640 * MB
# Read + validate + derive of one upload. A zip of Parquet tables of 20,000 patients takes 5 s;
# an .xlsx workbook is read far more slowly (10,000 patients: 35 s), so a workbook of more than
# about 7,000 patients is refused with the advice to send Parquet or CSV tables in a .zip.
SECONDS = 25.0
# Uploads are read one at a time; one that waits longer than this for its turn is told so.
WAIT_SECONDS = 60.0
ROOT = Path(__file__).resolve().parent.parent
_LENGTH = struct.Struct("<Q")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What came back: a cohort, or the report that says why not; how long it took and the
    child's peak memory (its maximum resident set), for the page and the benchmarks."""

    cohort: object | None  # analysis.cohort.Cohort
    report: ValidationReport | None
    seconds: float
    peak_mb: float
    nbytes: int = 0  # the cohort's size in memory


def _refusal(message: str) -> ValidationReport:
    return CohortError.single(message).report


# --------------------------------------------------------------------------------------
# Framing and the allow-list


def _write(fd: int, payload: bytes, deadline: float | None = None) -> bool:
    """Write a length-prefixed payload; False when the deadline passes first."""
    view = memoryview(_LENGTH.pack(len(payload)) + payload)
    while view:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([], [fd], [], wait)[1]:
                return False
        n = os.write(fd, view[: 1 << 20])
        view = view[n:]
    return True


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


def _read(fd: int, deadline: float | None = None) -> bytes | None:
    head = _read_exact(fd, _LENGTH.size, deadline)
    if head is None:
        return None
    return _read_exact(fd, _LENGTH.unpack(head)[0], deadline)


# The classes and functions a pickled Cohort or ValidationReport is made of (found by pickling
# cohorts of every shape and the report of every corpus file; tests/test_sandbox.py checks that
# they still suffice). Anything else in an answer means the child did not write it honestly.
_ALLOWED = {
    ("analysis.cohort", "Cohort"), ("analysis.schema", "Problem"), ("analysis.schema", "Tables"),
    ("analysis.memory", "pack_table"),
    ("analysis.schema", "ValidationReport"),
    ("builtins", "slice"), ("builtins", "complex"), ("builtins", "frozenset"), ("builtins", "set"),
    ("numpy", "dtype"), ("numpy", "ndarray"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("numpy._core.numeric", "_frombuffer"),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"), ("pandas._libs.internals", "_unpickle_block"),
    ("pandas._libs.missing", "NA"), ("pandas._libs.tslibs.nattype", "__nat_unpickle"),
    ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
    ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
    ("pandas.core.arrays.boolean", "BooleanArray"), ("pandas.core.arrays.boolean", "BooleanDtype"),
    ("pandas.core.arrays.integer", "IntegerArray"), ("pandas.core.arrays.integer", "Int64Dtype"),
    ("pandas.core.arrays.floating", "FloatingArray"), ("pandas.core.arrays.floating", "Float64Dtype"),
    ("pandas.core.arrays.datetimes", "DatetimeArray"), ("pandas.core.arrays.string_", "StringArray"),
    ("pandas.core.arrays.string_", "StringDtype"), ("pandas.core.arrays.categorical", "Categorical"),
    ("pandas.core.dtypes.dtypes", "CategoricalDtype"), ("pandas.core.dtypes.dtypes", "DatetimeTZDtype"),
    ("pandas.core.frame", "DataFrame"), ("pandas.core.series", "Series"),
    ("pandas.core.indexes.base", "Index"), ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.range", "RangeIndex"), ("pandas.core.indexes.datetimes", "_new_DatetimeIndex"),
    ("pandas.core.internals.managers", "BlockManager"), ("pandas.core.internals.managers", "SingleBlockManager"),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a cohort")
        return super().find_class(module, name)


def loads(payload: bytes) -> object:
    """Unpickle an answer of a reading child, refusing anything a cohort is not made of."""
    return _Unpickler(io.BytesIO(payload)).load()


# --------------------------------------------------------------------------------------
# The child: one upload


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the other limits still hold
        pass


PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38


def _child(request_fd: int, reply_fd: int, memory: int, seconds: float) -> None:
    from .cohort import from_bytes

    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)  # the helper's socket is not the child's to read
    os.dup2(2, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the helper gone, the child goes too
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _prctl(PR_SET_DUMPABLE, 0)  # no core dump of patient rows, no ptrace by the same user
    os.nice(10)  # the server's own threads come first
    request = _read(request_fd)
    os.close(request_fd)
    if request is None:
        return
    filename, data = pickle.loads(request)  # written by the server itself
    del request
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
        payload = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        payload = pickle.dumps(("memory",))
    except Exception as exc:  # e.g. a structure too deep to pickle
        payload = pickle.dumps(("failed", type(exc).__name__))
    _write(reply_fd, payload)


# --------------------------------------------------------------------------------------
# The helper process: forks one child per request, watches its clock


def _warm_up() -> None:
    """Read a small cohort once as zipped Parquet and CSV tables, so that what pandas and pyarrow
    import or set up on first use is done here, once, and every forked child starts with it.
    (No workbook is written for this: openpyxl writes a workbook through temporary files.)"""
    import zipfile

    import openpyxl.reader.excel  # noqa: F401  imported here, not in each child
    import pandas as pd

    from .cohort import DEFAULT_COHORT, from_bytes

    frames = {f.stem: pd.read_parquet(f) for f in sorted(DEFAULT_COHORT.glob("*.parquet"))}
    keep = set(frames["patients"]["patient_id"].head(8))
    frames = {k: v[v["patient_id"].isin(keep)] for k, v in frames.items()}
    for kind in ("parquet", "csv"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, df in frames.items():
                zf.writestr(f"{name}.{kind}", df.to_parquet(index=False) if kind == "parquet" else df.to_csv(index=False))
        from_bytes(f"warm-up-{kind}.zip", buf.getvalue())


def serve(control_fd: int = 0, warm: bool = True) -> None:
    """The helper's loop: a request (limits, and the two pipe ends of one upload) in over the
    control socket, a child forked, and how it ended sent back; until the server closes the
    socket."""
    from . import cohort  # noqa: F401  the engine, imported once and inherited by every child

    # No PR_SET_PDEATHSIG here: it follows the thread that started the helper, which may be a
    # page's script thread that ends. When the server ends, the control socket closes and the
    # loop below returns.
    sys.stdout = sys.stderr
    control = socket.socket(fileno=control_fd)
    if warm:
        _warm_up()
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 4096, 2)
        except OSError:
            return
        if not message:
            return
        limits = json.loads(message)
        request_fd, reply_fd = fds
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child
            try:
                control.close()
                _child(request_fd, reply_fd, limits["memory"], limits["seconds"])
            finally:
                os._exit(0)
        os.close(request_fd)
        os.close(reply_fd)
        pidfd = os.pidfd_open(pid)
        finished = select.select([pidfd], [], [], limits["seconds"])[0]
        if not finished:
            os.kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        os.close(pidfd)
        _write(control.fileno(), json.dumps({
            "stopped": not finished, "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0,
            "seconds": time.monotonic() - start, "peak_mb": usage.ru_maxrss / 1024}).encode())


# --------------------------------------------------------------------------------------
# The server's side


class Reader:
    """Reads uploads in the helper's children, one at a time (the others wait their turn)."""

    def __init__(self, memory: int = MEMORY_BYTES, seconds: float = SECONDS, wait: float = WAIT_SECONDS) -> None:
        self.memory, self.seconds, self.wait = memory, seconds, wait
        self._proc: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._lock = threading.Lock()

    def _helper(self) -> socket.socket:
        if self._proc is None or self._proc.poll() is not None:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            env = {**os.environ,
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                   # one thread each, so that forking the helper forks a process at rest
                   "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "ARROW_IO_THREADS": "1"}
            self._proc = subprocess.Popen([sys.executable, "-m", "analysis.sandbox"], stdin=theirs, cwd=ROOT, env=env,
                                          start_new_session=True)
            theirs.close()
            self._control = ours
        return self._control

    def start(self) -> None:
        """Start the helper now (it imports the engine, about a second) rather than at the first upload."""
        with self._lock:
            self._helper()

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def read(self, filename: str, data: bytes) -> Outcome:
        label = Path(filename).name or "the file"
        if not self._lock.acquire(timeout=self.wait):
            return Outcome(None, _refusal(f"{label} was not read: the server is reading other uploads. Try again in "
                                          "a minute."), 0.0, 0.0)
        try:
            return self._read(label, filename, data)
        finally:
            self._lock.release()

    def _read(self, label: str, filename: str, data: bytes) -> Outcome:
        start = time.monotonic()
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        payload = status = None
        try:
            control = self._helper()
            socket.send_fds(control, [json.dumps({"memory": self.memory, "seconds": self.seconds}).encode()],
                            [request_r, reply_w])
            os.close(request_r)
            os.close(reply_w)
            request_r = reply_w = -1
            # The helper answers within `seconds` of forking (it kills the child then); one that
            # does not has failed itself, and is replaced.
            deadline = start + self.seconds + 10
            if _write(request_w, pickle.dumps((filename, data), protocol=pickle.HIGHEST_PROTOCOL), deadline):
                os.close(request_w)
                request_w = -1
                payload = _read(reply_r, deadline)
                line = _read(control.fileno(), deadline)
                status = json.loads(line) if line else None
        except (OSError, ValueError):
            pass
        finally:
            for fd in (request_r, request_w, reply_r, reply_w):
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
        if status is None:  # the helper itself failed: replace it
            self._stop()
            return Outcome(None, _refusal(f"{label} could not be read: the reading process stopped. Try again; if "
                                          "it happens again, the file is probably damaged."),
                           time.monotonic() - start, 0.0)
        seconds, peak = status["seconds"], status["peak_mb"]
        reply = None
        if payload is not None:
            try:
                reply = loads(payload)
            except Exception as exc:  # not what an honest child writes
                _log.warning("refused the answer of a reading child for %s: %s", label, exc)
        if reply is None:
            if status["stopped"]:
                message = (f"{label} took longer than {self.seconds:.0f} seconds to read and was stopped. Upload the "
                           "cohort as Parquet tables in a .zip, or ask IT to serve it from the server's disk "
                           "(COHORT_PATH).")
            else:
                message = (f"{label} could not be read: the reading process stopped before it finished. The file is "
                           "probably damaged; export it again.")
            return Outcome(None, _refusal(message), seconds, peak)
        kind = reply[0]
        if kind == "cohort":
            # Counted as held here (its labs and doses packed again on unpickling: analysis.memory).
            return Outcome(reply[1], None, seconds, peak, reply[1].memory_bytes())
        if kind == "report":
            return Outcome(None, reply[1], seconds, peak)
        if kind == "memory":
            message = (f"{label} needs more than {self.memory // MB:,} MB of memory to read, more than an upload may "
                       "use. Upload the cohort as Parquet tables in a .zip (far smaller in memory than a workbook or "
                       "CSV), or ask IT to serve it from the server's disk (COHORT_PATH).")
        else:
            _log.warning("reading %s failed in the child: %s", label, reply[1:])
            message = f"{label} could not be read: the file seems damaged or unusual; export it again."
            if len(reply) > 1 and "nested" in str(reply[1]):
                message = f"{label} could not be read: {reply[1]}."
        return Outcome(None, _refusal(message), seconds, peak)


if __name__ == "__main__":
    serve()
