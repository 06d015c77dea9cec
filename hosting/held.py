"""The cohorts sessions have uploaded, held within a memory budget.

A session keeps the cohort it uploaded until it closes. Without a bound, a client that opens
session after session and uploads a large cohort in each would fill the server's memory until
the kernel stops it, and every session with it. So the uploaded cohorts of all sessions are
held here, up to BUDGET_BYTES (their size in memory, measured in the reading process); to make
room, the least recently used goes first, and its session is told to upload it again. A session's
cohort is dropped once the session has ended (closed, and not resumed within Streamlit's
`server.disconnectedSessionTTL`). A session holds only a random key to its entry.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

MB = 1024 * 1024
# Room for about seven cohorts of 20,000 patients (260 MB each in memory), or hundreds of a
# department's size (318 patients: 4 MB).
BUDGET_BYTES = 2048 * MB


@dataclass
class _Entry:
    session_id: str
    cohort: object
    nbytes: int
    inactive_since: float | None = None


class Held:
    def __init__(self, budget: int = BUDGET_BYTES) -> None:
        self.budget = budget
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, session_id: str, cohort: object, nbytes: int) -> str | None:
        """Hold a cohort for a session; its key, or None when it alone is larger than the budget."""
        if nbytes > self.budget:
            return None
        key = secrets.token_urlsafe(24)
        with self._lock:
            for k in [k for k, e in self._entries.items() if e.session_id == session_id]:
                del self._entries[k]  # a session holds one uploaded cohort: the new one
            while self._entries and sum(e.nbytes for e in self._entries.values()) + nbytes > self.budget:
                self._entries.popitem(last=False)
            self._entries[key] = _Entry(session_id, cohort, nbytes)
        return key

    def get(self, key: str) -> object | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry.cohort

    def drop(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(e.nbytes for e in self._entries.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def prune(self, connected, grace: float) -> None:
        """Drop the cohorts of sessions not connected for longer than `grace` seconds.
        `connected(session_id)` says whether a session is connected now."""
        now = time.monotonic()
        with self._lock:
            for key, entry in list(self._entries.items()):
                if connected(entry.session_id):
                    entry.inactive_since = None
                elif entry.inactive_since is None:
                    entry.inactive_since = now
                elif now - entry.inactive_since > grace:
                    del self._entries[key]


HELD = Held()
