"""What every session shares: the cohorts read from disk and the results of each filter choice.

Held in this module rather than in `st.cache_resource`, because Streamlit obeys a client's
clear-cache message from any tab, toolbar or not, and clears every `st.cache_*` for everyone:
with a large COHORT_PATH, one anonymous message would make the next visitor wait for the cohort
to be read and derived again, every time it is sent. No client message reaches these.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class Memo(Generic[T]):
    """A bounded, thread-safe memo: the least recently used entry goes first, and two sessions
    that ask for the same missing key compute it once (the second waits for the first)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._values: OrderedDict[Hashable, T] = OrderedDict()
        self._pending: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._values

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:
            with self._lock:
                if key in self._values:
                    return self._values[key]
            try:
                value = compute()  # an exception is not kept: the next request tries again
            except BaseException:
                with self._lock:
                    self._pending.pop(key, None)
                raise
            with self._lock:  # stored and no longer pending in one step: no one computes it twice
                self._values[key] = value
                self._pending.pop(key, None)
                while len(self._values) > self.max_entries:
                    self._values.popitem(last=False)
            return value


COHORTS: Memo = Memo(max_entries=3)  # cohorts on disk by path and file fingerprint: the configured one, the shipped one
RESULTS: Memo = Memo(max_entries=64)  # statistics of a cohort for one filter choice
