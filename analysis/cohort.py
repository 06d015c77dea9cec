"""A loaded cohort: read → validate → derive, once per cohort content.

`load(path)` and `from_bytes(name, data)` return a `Cohort` or raise `CohortError` whose
report lists every problem; `check(...)` returns the report and never raises.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .definitions import Definitions
from .derive import derive
from .io import RawCohort, raw_from_frames, read_cohort, read_cohort_bytes
from .memory import PackedTable, release_memory
from .ranking import distinct_values
from .schema import CohortError, Tables, ValidationReport, patient_numbers, validate

DEFAULT_COHORT = Path(__file__).resolve().parent.parent / "data" / "cohort"
_VARIANTS_LOCK = threading.Lock()
_PENDING: dict = {}  # (cohort, definitions) being derived → its lock
VARIANTS_KEPT = 2


@dataclass(frozen=True)
class Cohort:
    name: str
    sha256: str
    synthetic: bool
    metadata: dict
    tables: Tables  # the labs and steroid doses held packed (read again only for another reading)
    endpoints: pd.DataFrame  # one row per patient (see analysis.derive)
    steroid_segments: pd.DataFrame  # daily prednisone-equivalent dose as constant segments
    report: ValidationReport  # warnings that did not stop the analysis
    # Seconds each step of loading took: reading, checking, deriving (empty when not measured).
    timings: dict = field(default_factory=dict, compare=False)
    # The endpoints under other definitions, derived when first asked for (endpoints_under), the
    # VARIANTS_KEPT most recently used.
    _variants: dict = field(default_factory=dict, compare=False, repr=False)
    # Per visit table, each row's patient as a row of `endpoints` (patient_rows), found once.
    _patient_rows: dict = field(default_factory=dict, compare=False, repr=False)
    # Per reading, its endpoints with text held as Categoricals (endpoints_for_statistics), and per
    # visit table the same (table_for_statistics).
    _for_statistics: dict = field(default_factory=dict, compare=False, repr=False)
    _tables_for_statistics: dict = field(default_factory=dict, compare=False, repr=False)
    _ranked: dict = field(default_factory=dict, compare=False, repr=False)  # (table, column): ranked_values

    def endpoints_under(self, definitions: Definitions) -> pd.DataFrame:
        """The per-patient endpoints read under `definitions` (analysis/definitions.py): the
        default reading is `endpoints`; another is derived again from the tables (about a quarter
        of the load time) and kept with the cohort, at most VARIANTS_KEPT of them, so that a cohort
        holds at most that many extra per-patient tables. Two sessions asking for the same reading
        derive it once; other cohorts and readings do not wait. The validation problems are those
        of the default reading, in `report`."""
        if definitions.default:
            return self.endpoints
        key = (id(self), definitions)
        with _VARIANTS_LOCK:  # module-level locks: a cohort is pickled out of the upload sandbox, a lock is not
            if definitions in self._variants:
                self._variants[definitions] = self._variants.pop(definitions)  # most recently used last
                return self._variants[definitions]
            pending = _PENDING.setdefault(key, threading.Lock())
        with pending:
            with _VARIANTS_LOCK:
                if definitions in self._variants:
                    return self._variants[definitions]
            try:
                derived = derive(self.tables, definitions, segments=self.steroid_segments).patients
            except BaseException:
                with _VARIANTS_LOCK:
                    _PENDING.pop(key, None)
                raise
            with _VARIANTS_LOCK:  # stored and no longer pending in one step
                self._variants[definitions] = derived
                while len(self._variants) > VARIANTS_KEPT:
                    self._variants.pop(next(iter(self._variants)))
                _PENDING.pop(key, None)
            return derived

    def endpoints_for_statistics(self, definitions: Definitions) -> pd.DataFrame:
        """`endpoints_under(definitions)` with its text columns (arm, diagnosis, sex, best
        response) held as Categoricals instead of Python strings: the same values and missing
        values, but every section compares, selects and counts them many times over, and a
        Categorical does that on small integer codes. The other columns are the same arrays as
        the reading's (no copy). Made once per reading and kept with the cohort (the most recent
        VARIANTS_KEPT + 1). Converting a selection's text to Arrow at each filter change took
        31 ms at 100,000 patients; on Categoricals made once, a filter change and its report take
        0.68 s where Arrow text took 0.75 s (the report's numbers the same to the last digit)."""
        endpoints = self.endpoints_under(definitions)
        with _VARIANTS_LOCK:
            kept = self._for_statistics.get(definitions)
            if kept is not None and kept[0] is endpoints:
                self._for_statistics[definitions] = self._for_statistics.pop(definitions)  # most recently used last
                return kept[1]
        converted = _text_as_categories(endpoints)
        with _VARIANTS_LOCK:
            self._for_statistics[definitions] = (endpoints, converted)
            while len(self._for_statistics) > VARIANTS_KEPT + 1:
                self._for_statistics.pop(next(iter(self._for_statistics)))
        return converted

    def table_for_statistics(self, table: str) -> pd.DataFrame:
        """The visit table `table` (tacrolimus, adverse_events) with its text columns other than
        the patients' ids (an adverse event's term and category) as Categoricals, as
        `endpoints_for_statistics` holds the endpoints' text: each filter change counts events per
        term on their codes rather than hashing the terms' text again (at 100,000 patients 72,000
        events, 8 ms a report). Made once per cohort."""
        with _VARIANTS_LOCK:
            if table not in self._tables_for_statistics:
                self._tables_for_statistics[table] = _text_as_categories(getattr(self.tables, table), keep=("patient_id",))
            return self._tables_for_statistics[table]

    def patient_rows(self, table: str) -> np.ndarray:
        """For each row of the table `table` (tacrolimus, adverse_events, or steroid_segments),
        the row of its patient in `endpoints`, −1 for an id that is not a patient's. Every reading of the endpoints
        (`endpoints_under`) has the patients table's rows in its order, so this serves them all.
        Found once per cohort: a filter change then finds its patients' visits by position
        rather than by looking up their ids' text again (at a million patients, 6.4 M visits)."""
        with _VARIANTS_LOCK:
            if table not in self._patient_rows:
                ids = pd.Index(self.endpoints["patient_id"].astype(str))
                frame = self.steroid_segments if table == "steroid_segments" else getattr(self.tables, table)
                self._patient_rows[table] = patient_numbers(frame["patient_id"], ids)
            return self._patient_rows[table]

    def ranked_values(self, table: str, column: str) -> tuple[np.ndarray, np.ndarray]:
        """A visit table's numeric column ranked (`ranking.distinct_values`, 16-bit indexes where
        they fit): its distinct values and each row's index among them. Found once per cohort, so
        that a filter change counts its patients' values rather than ranking them again (a million
        patients' 6.4 million trough levels: 59–98 ms to rank)."""
        with _VARIANTS_LOCK:
            key = (table, column)
            if key not in self._ranked:
                values = pd.to_numeric(getattr(self.tables, table)[column], errors="coerce")
                self._ranked[key] = distinct_values(values.to_numpy(float, na_value=np.nan), compact=True)
            return self._ranked[key]

    def __getstate__(self) -> dict:
        """A cohort is pickled (out of the upload sandbox, into the held-cohort budget) without
        what it derives again when asked: other readings, the Categorical copies of the endpoints'
        text, the visits' patient rows, the ranked visit columns."""
        return {**self.__dict__, "_variants": {}, "_patient_rows": {}, "_for_statistics": {}, "_tables_for_statistics": {},
                "_ranked": {}}

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    def memory_bytes(self) -> int:
        """Bytes this cohort's tables take in memory, text included (pandas' deep count), a
        table held packed by its packed bytes."""
        held = [getattr(self.tables, name) for name in ("patients", "labs", "steroid_doses", "tacrolimus",
                                                        "adverse_events")]
        held += [self.endpoints, self.steroid_segments]
        return int(sum(t.nbytes if isinstance(t, PackedTable) else t.memory_usage(deep=True).sum() for t in held))


def _text_as_categories(frame: pd.DataFrame, keep: tuple[str, ...] = ()) -> pd.DataFrame:
    """`frame` with its columns of Python strings (but those in `keep`) as Categoricals: the same
    values and missing values; the other columns are the same arrays (no copy)."""
    text = {c for c, t in frame.dtypes.items()
            if isinstance(t, pd.StringDtype) and t.storage == "python" and c not in keep}
    return pd.DataFrame({c: frame[c].astype(object).astype("category") if c in text else frame[c]
                         for c in frame.columns}, copy=False)


# The steps of loading, as a page names them while it waits (load's `progress`).
READING, CHECKING, DERIVING = "Reading the cohort's files", "Checking every table", "Deriving each patient's endpoints"
Progress = Callable[[str, int, int], None]  # (step, its number from 1, how many)


def _build(raw: RawCohort, progress: Progress | None = None,
           timings: dict | None = None) -> tuple[Cohort | None, ValidationReport]:
    timings = dict(timings or {})
    notes = ValidationReport(raw.notes)
    if progress:
        progress(CHECKING, 2, 3)
    t0 = time.perf_counter()
    rows = sum(len(t) for t in raw.tables.values())
    release_memory(rows)
    # raw is spent here: its tables are let go as they are typed (validate's release).
    tables, report = validate(raw.tables, release=True)
    release_memory(rows)
    timings[CHECKING] = time.perf_counter() - t0
    report = notes + report
    if tables is None:
        return None, report
    if progress:
        progress(DERIVING, 3, 3)
    t0 = time.perf_counter()
    # The labs and doses are packed in `tables` as soon as they are read: this frame holds them
    # only there, so their frames go while the rest is derived (at a million patients 1.6 GB).
    derived = derive(tables, pack=True)
    timings[DERIVING] = time.perf_counter() - t0
    report = report + ValidationReport(derived.problems)
    if not report.ok:
        return None, report
    cohort = Cohort(
        name=raw.name, sha256=raw.sha256, synthetic=raw.synthetic, metadata=dict(raw.metadata),
        tables=tables, endpoints=derived.patients, steroid_segments=derived.steroid_segments, report=report,
        timings=timings,
    )
    return cohort, report


def from_raw(raw: RawCohort, progress: Progress | None = None, timings: dict | None = None) -> Cohort:
    cohort, report = _build(raw, progress, timings)
    if cohort is None:
        raise CohortError(report)
    return cohort


def load(path: str | Path = DEFAULT_COHORT, progress: Progress | None = None) -> Cohort:
    """Read, check and derive the cohort at `path`; `progress(step, number, of)` is called as each
    step begins, and the cohort's `timings` say how long each took."""
    if progress:
        progress(READING, 1, 3)
    t0 = time.perf_counter()
    raw = read_cohort(path)
    return from_raw(raw, progress, {READING: time.perf_counter() - t0})


def from_bytes(filename: str, data: bytes) -> Cohort:
    return from_raw(read_cohort_bytes(filename, data))


def check(path: str | Path) -> ValidationReport:
    """Every problem of the cohort at `path`, including those found while deriving endpoints."""
    try:
        raw = read_cohort(path)
    except CohortError as err:
        return err.report
    return _build(raw)[1]


def from_frames(frames: dict[str, pd.DataFrame], name: str = "in-memory cohort", metadata: dict | None = None) -> Cohort:
    return from_raw(raw_from_frames(frames, name, metadata))
