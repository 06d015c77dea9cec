"""Reading a cohort: a folder of Parquet/CSV tables, one Parquet/CSV file of patients, an
.xlsx workbook with one sheet per table, or a .zip of tables (the browser upload).

Everything is read in memory: an uploaded file is never written to disk. Anything that is
not a readable cohort raises `CohortError` with a sentence that says what is wrong; no
reader exception reaches the caller.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Mapping

import pandas as pd
import pyarrow.parquet as pq

from .schema import TABLES, CohortError, Problem, normalise_name

# An upload or zip member larger than this is refused before it is read into memory.
MAX_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024
METADATA_FILE = "cohort.json"
TABLE_SUFFIXES = (".parquet", ".csv")
IGNORED_FILES = {"readme.md", "readme.txt", METADATA_FILE, ".ds_store"}


@dataclass(frozen=True)
class RawCohort:
    """Tables as read, before validation: names normalised, cells untouched.

    Each table's index is the row number a spreadsheet shows (the header is row 1)."""

    name: str
    sha256: str
    tables: Mapping[str, pd.DataFrame]
    metadata: Mapping[str, object] = field(default_factory=dict)
    notes: tuple[Problem, ...] = ()

    @property
    def synthetic(self) -> bool:
        return bool(self.metadata.get("synthetic", False))


def _number_rows(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df.index = pd.RangeIndex(2, len(df) + 2)
    return df


def _read_csv(data: bytes, label: str) -> pd.DataFrame:
    if not data.strip():
        raise CohortError.single(f"{label} is empty.")
    if b"\x00" in data[:65536]:
        raise CohortError.single(f"{label} is not a CSV text file (it contains binary data).")
    try:
        text_head = data[:65536].decode("utf-8-sig")
    except UnicodeDecodeError:
        # A cut in the middle of a multi-byte character at the boundary is fine; try the whole file.
        try:
            data.decode("utf-8-sig")
            text_head = data[:65536].decode("utf-8-sig", errors="ignore")
        except UnicodeDecodeError:
            raise CohortError.single(
                f"{label} is not UTF-8 text. In Excel choose 'Save As' → 'CSV UTF-8 (comma delimited)'."
            ) from None
    first = text_head.splitlines()[0] if text_head.splitlines() else ""
    sep = max([",", ";", "\t"], key=first.count)
    try:
        df = pd.read_csv(io.BytesIO(data), sep=sep, dtype=str, encoding="utf-8-sig", skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise CohortError.single(f"{label} could not be read as a CSV table ({_short(exc)}).") from None
    if len(df) == 0:
        raise CohortError.single(f"{label} has a header line but no rows.")
    return df


def _read_parquet(data: bytes, label: str) -> pd.DataFrame:
    if not data:
        raise CohortError.single(f"{label} is empty.")
    if data[:4] != b"PAR1":
        raise CohortError.single(f"{label} is not a Parquet file (it does not start with the Parquet signature).")
    if data[-4:] != b"PAR1":
        raise CohortError.single(f"{label} is a truncated or damaged Parquet file; export it again.")
    try:
        # Date columns (Parquet date32) come back as datetime64, not as Python date objects.
        return pq.read_table(io.BytesIO(data)).to_pandas(date_as_object=False)
    except Exception as exc:  # pyarrow raises many types for damaged files; all mean the same to a user.
        raise CohortError.single(f"{label} is a damaged Parquet file that could not be read ({_short(exc)}).") from None


def _read_xlsx(data: bytes, label: str) -> tuple[dict[str, pd.DataFrame], list[Problem]]:
    if not data:
        raise CohortError.single(f"{label} is empty.")
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise CohortError.single(f"{label} is an old-style Excel (.xls) or password-protected workbook; save it as .xlsx.")
    if data[:2] != b"PK":
        raise CohortError.single(f"{label} is not an Excel .xlsx workbook.")
    try:
        sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, dtype=object, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for damaged workbooks.
        raise CohortError.single(f"{label} could not be read as an .xlsx workbook ({_short(exc)}).") from None
    return _name_tables(sheets, label, "sheet")


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def _name_tables(found: Mapping[str, pd.DataFrame], label: str, what: str) -> tuple[dict[str, pd.DataFrame], list[Problem]]:
    tables: dict[str, pd.DataFrame] = {}
    notes: list[Problem] = []
    ignored = []
    for raw_name, df in found.items():
        name = normalise_name(raw_name)
        if name == "readme":  # the template workbook's explanation sheet
            continue
        if name in TABLES:
            if name in tables:
                raise CohortError.single(f"{label}: more than one {what} is named '{name}'; keep one.")
            # Fully empty rows (often left below a table in Excel) are not data.
            df = df.dropna(how="all")
            df = df.loc[:, [c for c in df.columns if not str(c).startswith("Unnamed:") or df[c].notna().any()]]
            tables[name] = _number_rows(df.reset_index(drop=True))
        else:
            ignored.append(str(raw_name))
    if ignored:
        notes.append(Problem(
            "warning", "", None, 0, tuple(ignored),
            f"{label}: {what}{'s' if len(ignored) > 1 else ''} {', '.join(repr(i) for i in ignored)} "
            f"{'are' if len(ignored) > 1 else 'is'} not a cohort table and {'were' if len(ignored) > 1 else 'was'} ignored "
            f"(cohort tables: {', '.join(TABLES)}).",
        ))
    if "patients" not in tables:
        names = ", ".join(repr(str(k)) for k in found) or "none"
        raise CohortError.single(
            f"{label} has no '{'patients'}' {what} ({what}s found: {names}). "
            f"Name the {what}s after the tables: {', '.join(TABLES)}; only 'patients' is required.",
            table="patients",
        )
    return tables, notes


def _read_member(name: str, data: bytes, label: str) -> pd.DataFrame:
    if name.lower().endswith(".parquet"):
        return _read_parquet(data, label)
    return _read_csv(data, label)


def _read_zip(data: bytes, label: str) -> tuple[dict[str, pd.DataFrame], list[Problem], dict]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError):
        raise CohortError.single(f"{label} is not a readable .zip archive.") from None
    if sum(i.file_size for i in infos) > MAX_UNCOMPRESSED_BYTES:
        raise CohortError.single(f"{label} unpacks to more than {MAX_UNCOMPRESSED_BYTES // 2**20} MB; send the tables without padding.")
    found: dict[str, pd.DataFrame] = {}
    metadata: dict = {}
    others: list[str] = []
    for info in infos:
        path = PurePosixPath(info.filename)
        if path.name.startswith(".") or "__MACOSX" in path.parts:
            continue
        try:
            content = zf.read(info)
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, ValueError):
            raise CohortError.single(f"{label}: '{info.filename}' could not be unpacked (damaged or encrypted).") from None
        if path.name == METADATA_FILE:
            metadata = _parse_metadata(content, f"{label}/{path.name}")
        elif path.suffix.lower() in TABLE_SUFFIXES:
            if path.stem in found:
                raise CohortError.single(f"{label} holds more than one file named '{path.stem}'; keep one.")
            found[path.stem] = _read_member(path.name, content, f"{label}/{info.filename}")
        elif path.suffix.lower() == ".xlsx" and len(infos) == 1:
            tables, notes = _read_xlsx(content, f"{label}/{info.filename}")
            return tables, notes, metadata
        else:
            others.append(info.filename)
    if not any(normalise_name(k) in TABLES for k in found):
        listed = ", ".join(repr(o) for o in (list(found) + others)[:8]) or "nothing"
        raise CohortError.single(
            f"{label} holds no Parquet or CSV files named after the cohort tables (it holds {listed}). "
            f"Put patients.parquet (and optionally {', '.join(t + '.parquet' for t in TABLES if t != 'patients')}) in the zip.",
            table="patients",
        )
    tables, notes = _name_tables(found, label, "file")
    if others:
        notes.append(Problem("warning", "", None, 0, tuple(others[:5]),
                             f"{label}: {len(others)} file(s) that are not tables were ignored ({', '.join(others[:5])})."))
    return tables, notes, metadata


def _parse_metadata(content: bytes, label: str) -> dict:
    try:
        meta = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CohortError.single(f"{label} is not valid JSON.") from None
    if not isinstance(meta, dict):
        raise CohortError.single(f"{label} must hold a JSON object.")
    return meta


def _digest(parts: list[tuple[str, bytes]]) -> str:
    h = hashlib.sha256()
    for name, data in sorted(parts):
        h.update(name.encode())
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def read_cohort_bytes(filename: str, data: bytes) -> RawCohort:
    """Read an uploaded cohort from memory: .xlsx, .zip, .parquet or .csv."""
    label = PurePosixPath(filename).name or "the file"
    suffix = PurePosixPath(label).suffix.lower()
    if len(data) == 0:
        raise CohortError.single(f"{label} is empty.")
    if len(data) > MAX_UNCOMPRESSED_BYTES:
        raise CohortError.single(f"{label} is larger than {MAX_UNCOMPRESSED_BYTES // 2**20} MB.")
    sha = hashlib.sha256(data).hexdigest()
    name = PurePosixPath(label).stem
    metadata: dict = {}
    notes: list[Problem] = []
    if suffix == ".xlsx":
        tables, notes = _read_xlsx(data, label)
    elif suffix == ".zip":
        tables, notes, metadata = _read_zip(data, label)
    elif suffix == ".parquet":
        tables = {"patients": _number_rows(_read_parquet(data, label))}
    elif suffix in (".csv", ".txt"):
        tables = {"patients": _number_rows(_read_csv(data, label))}
    elif suffix == ".xls":
        raise CohortError.single(f"{label} is an old-style Excel (.xls) workbook; save it as .xlsx.")
    else:
        raise CohortError.single(
            f"{label} is not a cohort file. A cohort is an .xlsx workbook (one sheet per table), "
            "a .zip of Parquet tables, or one Parquet or CSV file of patients."
        )
    return RawCohort(str(metadata.get("name", name)), sha, tables, metadata, tuple(notes))


def read_cohort(path: str | Path) -> RawCohort:
    """Read a cohort from disk: a folder of tables, or one file (see `read_cohort_bytes`)."""
    p = Path(path)
    if not p.exists():
        raise CohortError.single(f"{p} does not exist.")
    if not p.is_file() and not p.is_dir():
        raise CohortError.single(f"{p} is neither a file nor a folder.")
    if p.is_file():
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise CohortError.single(f"{p} could not be read ({exc.strerror}).") from None
        return read_cohort_bytes(p.name, data)
    parts: list[tuple[str, bytes]] = []
    found: dict[str, pd.DataFrame] = {}
    metadata: dict = {}
    try:
        entries = sorted(p.iterdir())
    except OSError as exc:
        raise CohortError.single(f"{p} could not be listed ({exc.strerror}).") from None
    for f in entries:
        if not f.is_file() or f.name.startswith("."):
            continue
        if f.name == METADATA_FILE:
            content = f.read_bytes()
            metadata = _parse_metadata(content, str(f))
            parts.append((f.name, content))
        elif f.suffix.lower() in TABLE_SUFFIXES:
            content = f.read_bytes()
            parts.append((f.name, content))
            if f.stem in found:
                raise CohortError.single(f"{p} holds both {f.stem}.parquet and {f.stem}.csv; keep one.")
            found[f.stem] = _read_member(f.name, content, str(f))
    if not found:
        raise CohortError.single(
            f"{p} holds no Parquet or CSV tables; a cohort folder needs at least patients.parquet.", table="patients",
        )
    tables, notes = _name_tables(found, str(p), "file")
    name = str(metadata.get("name", p.resolve().name))
    return RawCohort(name, _digest(parts), tables, metadata, tuple(notes))


def raw_from_frames(frames: Mapping[str, pd.DataFrame], name: str = "in-memory cohort", metadata: Mapping[str, object] | None = None) -> RawCohort:
    """A cohort from DataFrames already in memory (tests, generated cohorts)."""
    tables, notes = _name_tables(dict(frames), name, "table")
    h = hashlib.sha256()
    for t in sorted(tables):
        h.update(t.encode())
        h.update(pd.util.hash_pandas_object(tables[t].astype(str), index=False).to_numpy().tobytes())
        h.update(",".join(map(str, tables[t].columns)).encode())
    return RawCohort(name, h.hexdigest(), tables, dict(metadata or {}), tuple(notes))
