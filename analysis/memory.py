"""Memory of a large cohort: freed memory given back to the system between the steps of
loading, and tables held packed once they are only read again for another reading of the
endpoints.

Reading a million-patient cohort takes its tables as read (2.3 GB), as typed, as numbered and as
derived through the same process one after the other. Memory freed at each step stays with the
allocator that had it: Arrow's (mimalloc, which keeps freed pages for reuse) and the C library's
(glibc's malloc, whose heap keeps freed blocks between the ones in use). Neither reuses them for
the next step's arrays of other sizes, so without this the process's resident memory after
checking a million patients is 3.4 GB where its tables take 2.5 GB, and every later peak stands
on that (bench/pipeline.py).

A cohort's labs and steroid doses are read once to derive the endpoints; they are read again
only to derive them under other definitions (`Cohort.endpoints_under`). Held as they are they
are 1.85 GB of a million-patient cohort; packed (`PackedTable`: Arrow's IPC format, zstd) 0.23 GB,
unpacked again in 1.6 s and 1.2 s when another reading is asked for.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading

import pandas as pd
import pyarrow as pa


def _malloc_trim():
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


# Below this many rows let go, nothing is worth giving back: a collection of the app's 200,000
# Python objects takes 0.1 s, and the shipped cohort loads in 0.11 s.
RELEASE_AFTER_ROWS = 1_000_000


def release_memory(rows: int) -> None:
    """Give the memory freed so far back to the system when tables of `rows` rows or more were
    let go: first the frames held only by reference cycles among pandas' objects (a collection),
    then Arrow's pool's unused pages, and the C heap's free blocks (malloc_trim(0), which also
    returns free pages inside the heap)."""
    if rows < RELEASE_AFTER_ROWS:
        return
    gc.collect()
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


# zstd rather than LZ4: on a million patients' labs (1.21 GB) LZ4 packs to 335 MB in 1.9 s and
# unpacks in 3.0 s, zstd (level 1, Arrow's default) to 183 MB in 1.8 s and unpacks in 1.6 s.
_CODEC = "zstd"


class PackedTable:
    """A table held compressed in memory, the same frame again from `unpack` (columns, dtypes,
    Categoricals' categories, index; tests/test_memory.py). Pickled as its frame and packed
    again where it is unpickled: the server unpacks only bytes it packed itself, never those a
    reading child sent (analysis/sandbox.py unpickles a frame, as before)."""

    __slots__ = ("_data", "_empty", "_packing", "_failed", "rows", "frame_bytes")

    def __init__(self, frame: pd.DataFrame, background: bool = False) -> None:
        """`background`: packed on a thread of its own (Arrow compresses without the GIL), while
        the caller goes on; every use of the packed table waits for it (`wait`)."""
        self.rows = len(frame)
        self.frame_bytes = int(frame.memory_usage(deep=True).sum())  # as a frame (memory_bytes compares)
        self._packing: threading.Thread | None = None
        self._failed: BaseException | None = None
        # A table without rows is kept as it is: a stream without a batch has no dictionaries,
        # and a Categorical would come back without its categories.
        self._empty = frame.copy() if frame.empty else None
        if self._empty is not None:
            self._data = pa.py_buffer(b"")
        elif background:
            self._packing = threading.Thread(target=self._pack, args=(frame,), name="pack table", daemon=True)
            self._packing.start()
        else:
            self._pack(frame)

    def _pack(self, frame: pd.DataFrame) -> None:
        try:
            table = pa.Table.from_pandas(frame, preserve_index=None)  # a RangeIndex as metadata, another as a column
            del frame
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression=_CODEC)) as out:
                out.write_table(table, max_chunksize=1 << 20)
            del table
            self._data = sink.getvalue()
        except BaseException as exc:  # given to whoever waits for it (on a thread, it would be lost)
            self._failed = exc
            if self._packing is None:
                raise

    def wait(self) -> None:
        """Return once the table is packed (its frame then let go, unless held elsewhere)."""
        packing = self._packing
        if packing is not None:
            packing.join()
            self._packing = None
        if self._failed is not None:
            raise RuntimeError("the table could not be packed") from self._failed

    def unpack(self) -> pd.DataFrame:
        """The frame, made again from the packed columns (a new frame at each call)."""
        self.wait()
        if self._empty is not None:
            return self._empty.copy()
        return pa.ipc.open_stream(self._data).read_all().to_pandas()

    @property
    def nbytes(self) -> int:
        """Bytes held packed."""
        self.wait()
        return self._data.size

    def __len__(self) -> int:
        return self.rows

    def __reduce__(self):
        return pack_table, (self.unpack(),)


def pack_table(frame: pd.DataFrame) -> PackedTable:
    """`frame` packed (PackedTable)."""
    return PackedTable(frame)


def trim_heap(rows: int) -> None:
    """Only the C heap's free pages back to the system (malloc_trim(0)), without a collection, when
    `rows` rows or more are being worked through: between the chunks of one step, whose arrays
    are freed at once (nothing there waits for the collector). glibc keeps a freed block of up to
    32 MB in its heap once it has raised its mmap threshold, so a chunk's freed work arrays stayed
    resident beside the next chunk's."""
    if rows >= RELEASE_AFTER_ROWS and _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
