"""Reading a cohort: a folder of Parquet/CSV tables, one Parquet/CSV file of patients, an
.xlsx workbook with one sheet per table, or a .zip of tables (the browser upload).

Everything is read in memory: an uploaded file is never written to disk. Anything that is
not a readable cohort raises `CohortError` with a sentence that says what is wrong; no
reader exception reaches the caller.

Every file is read under `Limits`, and each limit holds on what is actually read, never on
what a header claims: bytes are counted as they are unpacked, a sheet's rows and columns as
they are parsed (not from its `<dimension>` tag), a Parquet file's rows and cell lengths batch
by batch as they are decoded. An upload is read under `UPLOAD_LIMITS`, and in a separate,
memory-capped process (`analysis.sandbox`); a cohort on disk under `FILE_LIMITS`, which admit a
registry of millions of rows but no unpacking bomb.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pandas._libs.parsers import STR_NA_VALUES

from .schema import TABLES, CohortError, Problem, normalise_name

MB = 1024 * 1024
METADATA_FILE = "cohort.json"
METADATA_SHEET = "cohort"  # a workbook's sheet that says what cohort.json says
TABLE_SUFFIXES = (".parquet", ".csv")
EXCEL_ROWS = 1_048_576  # an Excel sheet's own limit: no .xlsx can hold more
# Zip compression methods read: stored and deflate, which every zip tool and Excel write. Python
# unpacks the others (bzip2, LZMA) in one call of unbounded size, so a few KB could fill memory.
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
ZIP_METHOD_NAMES = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA", 9: "Deflate64", 93: "Zstandard"}
CHUNK = MB


@dataclass(frozen=True)
class Limits:
    """What a reader accepts. Each is checked on what is read, as it is read."""

    file_bytes: int | None  # the file itself (None: as large as it is on disk)
    inflated_bytes: int  # everything unpacked from one .zip or .xlsx, nested ones included
    members: int  # files in one .zip or parts in one .xlsx
    rows: int | None  # rows in one table (None: any number)
    columns: int  # columns in one table; the format has at most 14
    cell_chars: int  # characters in one cell: ids, codes, numbers, dates and short terms
    batch_rows: int  # rows of a Parquet file decoded at a time, so a check comes before the next batch
    threads: int = 1  # a Parquet file's columns decoded at once


# Why these numbers (README, "Hostile files"): 50 MB is the upload limit (server.maxUploadSize);
# 256 MB of unpacked tables is more than a 50 MB workbook of real cohort data unpacks to, and the
# child process that reads an upload has 1 GB; 1,048,576 rows is an Excel sheet's own limit;
# 100 columns is seven times the widest table of the format; 1,000 characters is longer than
# any id, code, date or adverse-event term. A file on disk is decoded 262,144 rows at a time (text
# as a dictionary, so a repeated value is held once): at most 262 MB of distinct 1,000-character
# cells before the check, and a million-patient lab table in 184 batches instead of 737 (its read
# 6.1 → 2.1 s); an upload, in its 1 GB child process, 8,192 rows at a time. A file on disk has
# two columns decoded at once (the machines have two cores; a million patients' tables were read
# in 11–13 s one column at a time); an upload one, so that nothing more of a hostile file is
# decoded than one column's batch before a check.
UPLOAD_LIMITS = Limits(file_bytes=50 * MB, inflated_bytes=256 * MB, members=1000, rows=EXCEL_ROWS, columns=100,
                       cell_chars=1000, batch_rows=8192)
FILE_LIMITS = Limits(file_bytes=None, inflated_bytes=1024 * MB, members=1000, rows=None, columns=100,
                     cell_chars=1000, batch_rows=262_144, threads=2)


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


class _Inflation:
    """Bytes unpacked from one upload, counted as they come out of the decompressor."""

    def __init__(self, label: str, limit: int) -> None:
        self.label, self.limit, self.spent = label, limit, 0

    def spend(self, n: int) -> None:
        self.spent += n
        if self.spent > self.limit:
            raise CohortError.single(
                f"{self.label} unpacks to more than {self.limit // MB:,} MB (counted while unpacking). A cohort's "
                "tables are far smaller; send the tables themselves, without padding or other files.")


def _number_rows(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy(deep=False)  # the same columns, not copied: a registry's lab table is gigabytes
    df.index = pd.RangeIndex(2, len(df) + 2)
    return df


def _column_name(index: int) -> str:
    """1 → A, 27 → AA: the column letters a spreadsheet shows."""
    name = ""
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def _too_many_columns(label: str, n: int, limits: Limits) -> CohortError:
    return CohortError.single(
        f"{label} has {n:,} columns; a cohort table has at most {limits.columns} (the format uses at most "
        f"{max(len(t.columns) for t in TABLES.values())}). Delete the columns that are not part of the format.")


def _too_many_rows(label: str, limits: Limits) -> CohortError:
    return CohortError.single(
        f"{label} has more than {limits.rows:,} rows, more than an upload may hold. Upload the cohort as Parquet "
        "tables in a .zip, or ask IT to serve it from the server's disk (COHORT_PATH).")


def _cell_too_long(label: str, where: str, length: int, limits: Limits) -> CohortError:
    return CohortError.single(
        f"{label} has a cell longer than {limits.cell_chars:,} characters ({where}: {length:,} characters). A cell "
        "of a cohort table holds an id, a code, a number, a date or a short term; check the column.")


# --------------------------------------------------------------------------------------
# CSV


def _looks_utf16(head: bytes) -> bool:
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    sample = head[:400]
    if len(sample) < 8:
        return False
    # ASCII text in UTF-16 has a NUL in every other byte.
    return sample[1::2].count(0) > 0.9 * len(sample[1::2]) or sample[0::2].count(0) > 0.9 * len(sample[0::2])


def _longest_line(data: bytes) -> int:
    """Length of the longest line, in bytes, counted in chunks so that memory stays small."""
    longest, start, step = 0, 0, 64 * MB
    for offset in range(0, len(data), step):
        chunk = np.frombuffer(data, np.uint8, count=min(step, len(data) - offset), offset=offset)
        ends = np.flatnonzero(chunk == 10) + offset
        if len(ends):
            longest = max(longest, int(ends[0] - start), int(np.diff(ends).max()) if len(ends) > 1 else 0)
            start = int(ends[-1]) + 1
    return max(longest, len(data) - start)


def _check_cells(df: pd.DataFrame, label: str, limits: Limits, header_offset: int = 2) -> None:
    for col in df.columns:
        s = df[col]
        if s.dtype != object:
            continue
        lengths = s.map(lambda v: len(v) if isinstance(v, str) else 0)
        if len(lengths) and lengths.max() > limits.cell_chars:
            pos = int(np.argmax(lengths.to_numpy() > limits.cell_chars))
            raise _cell_too_long(label, f"column '{str(col)[:40]}', row {pos + header_offset:,}", int(lengths.iloc[pos]), limits)


def _read_csv(data: bytes, label: str, limits: Limits) -> pd.DataFrame:
    if not data.strip():
        raise CohortError.single(f"{label} is empty.")
    if _looks_utf16(data[:4096]):
        raise CohortError.single(
            f"{label} is saved as UTF-16 text (Excel's 'Unicode Text'). In Excel choose 'Save As' → "
            "'CSV UTF-8 (comma delimited)'.")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise CohortError.single(
            f"{label} is not a CSV text file (it contains binary data: a NUL byte on line {line:,}).")
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
    lines = text_head.splitlines()
    first = lines[0] if lines else ""
    sep = max([",", ";", "\t"], key=first.count)
    end = data.find(b"\n")
    header_columns = data[: end if end >= 0 else len(data)].count(sep.encode()) + 1  # the whole header line
    if header_columns > limits.columns:
        raise _too_many_columns(label, header_columns, limits)
    nrows = limits.rows + 1 if limits.rows is not None else None
    try:
        df = pd.read_csv(io.BytesIO(data), sep=sep, dtype=str, encoding="utf-8-sig", skipinitialspace=True, nrows=nrows)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise CohortError.single(f"{label} could not be read as a CSV table ({_short(exc)}).") from None
    if len(df) == 0:
        raise CohortError.single(f"{label} has a header line but no rows.")
    if limits.rows is not None and len(df) > limits.rows:
        raise _too_many_rows(label, limits)
    if _longest_line(data) > limits.cell_chars:  # only then can a cell be too long
        _check_cells(df, label, limits)
    return df


# --------------------------------------------------------------------------------------
# Parquet

_UNSUPPORTED = (
    (lambda t: pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t), "lists"),
    (pa.types.is_struct, "records (struct)"),
    (pa.types.is_map, "maps"),
    (pa.types.is_union, "unions"),
    (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t), "binary data"),
    (lambda t: pa.types.is_time(t) or pa.types.is_duration(t) or pa.types.is_interval(t), "times of day or durations"),
)
# Dates a pandas timestamp can hold (1677-09-22 … 2262-04-11); outside them a date is read as text
# and validation names it ("dates outside 1900–2100").
_DATE_SAFE = (pa.scalar(datetime.date(1678, 1, 1), pa.date32()), pa.scalar(datetime.date(2261, 12, 31), pa.date32()))


def _value_type(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def _check_parquet_schema(schema: pa.Schema, label: str, limits: Limits) -> None:
    if len(schema) > limits.columns:
        raise _too_many_columns(label, len(schema), limits)
    for f in schema:
        t = _value_type(f.type)
        for test, words in _UNSUPPORTED:
            if test(t):
                raise CohortError.single(
                    f"{label}: column '{f.name[:40]}' holds {words} ({t}), not one value per cell. Export the table "
                    "with one number, date or text in each cell.", column=f.name)


def _is_text(t: pa.DataType) -> bool:
    t = _value_type(t)
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _dates_as_text(table: pa.Table) -> pa.Table:
    """Date and timestamp columns with a value outside what pandas holds are handed on as ISO text."""
    for i, f in enumerate(table.schema):
        if not (pa.types.is_date(f.type) or pa.types.is_timestamp(f.type)):
            continue
        col = table.column(i)
        days = col if pa.types.is_date32(f.type) else pc.cast(col, pa.date32())
        outside = pc.or_(pc.less(days, _DATE_SAFE[0]), pc.greater(days, _DATE_SAFE[1]))
        if pc.any(outside).as_py():
            table = table.set_column(i, f.name, pc.cast(days, pa.string()))
    return table


def _longest(arr: pa.Array, seen: dict) -> int:
    """Characters in the longest value of a text array; of a dictionary-encoded one, the longest
    value of its dictionary (which every row's value is one of). A row group's batches share one
    dictionary: it is measured once (`seen`: dictionary buffers already measured → longest)."""
    values = arr.dictionary if pa.types.is_dictionary(arr.type) else arr
    key = None
    if values is not arr:
        key = tuple((b.address, b.size) if b is not None else None for b in values.buffers()) + (values.offset, len(values))
        if key in seen:
            return seen[key]
    longest = (pc.max(pc.utf8_length(values)).as_py() if len(values) else None) or 0
    if key is not None:
        seen[key] = longest
    return longest


def _read_column(data: bytes, f: pa.Field, label: str, limits: Limits, pf: pq.ParquetFile | None = None) -> pa.ChunkedArray:
    """One column of a Parquet file (`_read_parquet`), checked batch by batch as it is decoded."""
    if pf is None:
        pf = pq.ParquetFile(io.BytesIO(data), read_dictionary=[f.name] if _is_text(f.type) else None)
    chunks, rows, seen = [], 0, {}
    for batch in pf.iter_batches(batch_size=limits.batch_rows, columns=[f.name], use_threads=False):
        arr = batch.column(0)
        if limits.rows is not None and rows + len(arr) > limits.rows:
            raise _too_many_rows(label, limits)
        if _is_text(f.type) and len(arr) and _longest(arr, seen) > limits.cell_chars:
            # A dictionary may hold a value no row uses: the rows themselves are measured,
            # each by its value's length (a million rows of one 10 KB value are not decoded).
            if pa.types.is_dictionary(arr.type):
                lengths = pc.utf8_length(arr.dictionary).take(arr.indices)
            else:
                lengths = pc.utf8_length(arr)
            longest = pc.max(lengths).as_py()
            if longest is not None and longest > limits.cell_chars:
                pos = pc.index(pc.greater(lengths, limits.cell_chars), True).as_py()
                raise _cell_too_long(label, f"column '{f.name[:40]}', row {rows + pos + 2:,}", longest, limits)
        rows += len(arr)
        chunks.append(arr)
    return pa.chunked_array(chunks, type=f.type) if chunks else pa.chunked_array([], type=f.type)


def _read_parquet(data: bytes, label: str, limits: Limits) -> pd.DataFrame:
    if not data:
        raise CohortError.single(f"{label} is empty.")
    if data[:4] != b"PAR1":
        raise CohortError.single(f"{label} is not a Parquet file (it does not start with the Parquet signature).")
    if data[-4:] != b"PAR1":
        raise CohortError.single(f"{label} is a truncated or damaged Parquet file; export it again.")
    try:
        schema = pq.ParquetFile(io.BytesIO(data)).schema_arrow
        # Text is read as it is stored, a dictionary of distinct values and a code per row, and
        # handed on as a pandas Categorical: a lab table's ids and test codes are millions of rows
        # but thousands of distinct values, and are never made into millions of Python strings.
        pf = pq.ParquetFile(io.BytesIO(data), read_dictionary=[f.name for f in schema if _is_text(f.type)])
        schema = pf.schema_arrow
    except Exception as exc:  # pyarrow raises many types for damaged files; all mean the same to a user.
        raise CohortError.single(f"{label} is a damaged Parquet file that could not be read ({_short(exc)}).") from None
    _check_parquet_schema(schema, label, limits)
    if limits.rows is not None and pf.metadata.num_rows > limits.rows:  # what the footer claims: refuse early
        raise _too_many_rows(label, limits)
    try:
        # Column by column and batch by batch, so that a long or repeated value is found before
        # more of it is decoded: a dictionary-encoded page can turn a few KB into gigabytes.
        # Columns of a file of more than one batch are decoded `limits.threads` at a time (Arrow
        # decodes without the GIL), each from its own reader; the first column's problem is the
        # one reported, as one at a time. (For the shipped cohort's small files the threads' start
        # cost more than they saved: 16 ms against 10.)
        if limits.threads > 1 and len(schema) > 1 and pf.metadata.num_rows > limits.batch_rows:
            with ThreadPoolExecutor(limits.threads) as pool:
                futures = [pool.submit(_read_column, data, f, label, limits) for f in schema]
                try:
                    columns = [future.result() for future in futures]
                except BaseException:
                    for future in futures:  # the columns not begun are not read
                        future.cancel()
                    raise
        else:
            columns = [_read_column(data, f, label, limits, pf) for f in schema]
        table = _dates_as_text(pa.Table.from_arrays(columns, schema=schema))
        # Date columns (Parquet date32) come back as datetime64, not as Python date objects.
        return table.to_pandas(date_as_object=False, coerce_temporal_nanoseconds=True)
    except CohortError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # as above: a damaged page, a bad encoding
        raise CohortError.single(f"{label} is a damaged Parquet file that could not be read ({_short(exc)}).") from None


# --------------------------------------------------------------------------------------
# Zip archives (a .zip upload, and the package an .xlsx is)


def _open_zip(data: bytes, label: str, limits: Limits, what: str) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError, IndexError):
        raise CohortError.single(f"{label} is not a readable {what}.") from None
    if len(infos) > limits.members:
        raise CohortError.single(
            f"{label} holds {len(infos):,} files; a cohort {what} holds a few tables (at most {limits.members:,} files "
            "are read). Send the cohort tables alone.")
    for info in infos:
        if info.flag_bits & 0x1:
            raise CohortError.single(f"{label}: '{info.filename[:80]}' is encrypted (password-protected); remove the password.")
        if info.compress_type not in ZIP_METHODS:
            method = ZIP_METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
            raise CohortError.single(
                f"{label}: '{info.filename[:80]}' is compressed with {method}, which is not read here. Save it again "
                "with the standard (deflate) compression: Excel, Windows' 'Send to → Compressed folder' and macOS' "
                "'Compress' all do.")
    declared = sum(i.file_size for i in infos)
    if declared > limits.inflated_bytes:  # the header's claim alone is already too much: refuse at once
        raise CohortError.single(
            f"{label} unpacks to more than {limits.inflated_bytes // MB:,} MB (its index says {declared // MB:,} MB). "
            "A cohort's tables are far smaller; send the tables themselves, without padding or other files.")
    return zf, infos


def _unpack(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str, budget: _Inflation, keep: bool = True) -> bytes:
    """One member, unpacked in chunks, each counted before the next is read. Python stops a
    stored or deflate member at the size its header declares and checks the CRC at the end."""
    parts: list[bytes] = []
    try:
        with zf.open(info) as f:
            while chunk := f.read(CHUNK):
                budget.spend(len(chunk))
                if keep:
                    parts.append(chunk)
    except CohortError:
        raise
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, ValueError, EOFError, zlib.error):
        raise CohortError.single(f"{label}: '{info.filename[:80]}' could not be unpacked (damaged or encrypted).") from None
    return b"".join(parts)


# --------------------------------------------------------------------------------------
# Excel workbooks


def _cell_value(v: object) -> object:
    """As pandas' Excel reader gives it: whole numbers as int, the usual missing-value words as missing."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v in STR_NA_VALUES:
        return None
    return v


def _sheet_frame(ws, label: str, limits: Limits) -> pd.DataFrame:
    """One sheet as a table, read from the cells the sheet really has. openpyxl pads every row to
    the sheet's <dimension>, which a file may set to a million rows by 16,384 columns; without it,
    only the cells present are returned, and rows and columns are counted as they come."""
    where = f"{label}, sheet '{ws.title[:40]}'"
    max_rows = min(EXCEL_ROWS, limits.rows if limits.rows is not None else EXCEL_ROWS) + 1  # + the header row
    ws.reset_dimensions()
    rows: list[tuple] = []
    width = 0
    for r, row in enumerate(ws.iter_rows(values_only=True), start=1):
        if r > max_rows:
            raise _too_many_rows(where, limits)
        n = len(row)
        while n and (row[n - 1] is None or row[n - 1] == ""):
            n -= 1
        if n > limits.columns:
            raise CohortError.single(
                f"{where} has a value in column {n:,} ({_column_name(n)}{r}); a cohort table has at most "
                f"{limits.columns} columns. Delete the stray cells or columns.")
        values = tuple(_cell_value(v) for v in row[:n])
        for i, v in enumerate(values):
            if isinstance(v, str) and len(v) > limits.cell_chars:
                raise _cell_too_long(label, f"sheet '{ws.title[:40]}', cell {_column_name(i + 1)}{r}", len(v), limits)
        width = max(width, n)
        rows.append(values)
    while rows and not any(v is not None for v in rows[-1]):
        rows.pop()
    while rows and not any(v is not None for v in rows[0]):  # blank lines above the header
        rows.pop(0)
    if not rows:
        return pd.DataFrame()
    header, body = rows[0], rows[1:]
    names, seen = [], {}
    for i in range(width):
        h = header[i] if i < len(header) else None
        name = f"Unnamed: {i}" if h is None else h
        if name in seen:  # the same name twice: 'age', 'age.1', as pandas names them
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        names.append(name)
    padded = [row + (None,) * (width - len(row)) for row in body]
    return pd.DataFrame(padded, columns=names, dtype=object) if padded else pd.DataFrame(columns=names, dtype=object)


def _read_xlsx(data: bytes, label: str, limits: Limits,
               budget: _Inflation | None = None) -> tuple[dict[str, pd.DataFrame], list[Problem], dict]:
    if not data:
        raise CohortError.single(f"{label} is empty.")
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise CohortError.single(f"{label} is an old-style Excel (.xls) or password-protected workbook; save it as .xlsx.")
    if data[:2] != b"PK":
        raise CohortError.single(f"{label} is not an Excel .xlsx workbook.")
    budget = budget or _Inflation(label, limits.inflated_bytes)
    zf, infos = _open_zip(data, label, limits, "workbook")
    # Every part unpacked once and counted before the workbook is opened: openpyxl then reads
    # parts whose real size is known, and stops at it.
    for info in infos:
        _unpack(zf, info, label, budget, keep=False)
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
        try:
            sheets = {}
            for ws in wb.worksheets:
                wanted = normalise_name(ws.title) in TABLES or normalise_name(ws.title) == METADATA_SHEET
                sheets[ws.title] = _sheet_frame(ws, label, limits) if wanted else pd.DataFrame()
        finally:
            wb.close()
    except (CohortError, MemoryError):
        raise
    except Exception as exc:  # openpyxl and the XML parser raise many types for damaged workbooks.
        raise CohortError.single(f"{label} could not be read as an .xlsx workbook ({_short(exc)}).") from None
    tables, notes = _name_tables(sheets, label, "sheet")
    return tables, notes, sheet_metadata(sheets, label)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def sheet_metadata(sheets: Mapping[str, pd.DataFrame], label: str) -> dict:
    """A workbook's description from its sheet named "cohort": two columns, key and value, one row
    per key (name; synthetic: yes/no), like cohort.json beside Parquet tables."""
    frame = next((df for n, df in sheets.items() if normalise_name(n) == METADATA_SHEET), None)
    if frame is None or frame.empty:
        return {}
    if frame.shape[1] < 2 or len(frame) > 20:
        raise CohortError.single(f"{label}: the sheet 'cohort' describes the cohort in two columns, key and value "
                                 "(name; synthetic: yes or no), a row each.")
    meta: dict = {}
    for key, value in frame.iloc[:, :2].itertuples(index=False):
        key = str(key).strip().lower()
        if key == "synthetic":
            meta["synthetic"] = str(value).strip().lower() in ("yes", "true", "1")
        elif key == "name" and value is not None:
            meta["name"] = str(value)
    return meta


def _name_tables(found: Mapping[str, pd.DataFrame], label: str, what: str) -> tuple[dict[str, pd.DataFrame], list[Problem]]:
    tables: dict[str, pd.DataFrame] = {}
    notes: list[Problem] = []
    ignored = []
    for raw_name, df in found.items():
        name = normalise_name(raw_name)
        if name in ("readme", METADATA_SHEET):  # the template's explanation, the workbook's description
            continue
        if name in TABLES:
            if name in tables:
                raise CohortError.single(f"{label}: more than one {what} is named '{name}'; keep one.")
            # Fully empty rows (often left below a table in Excel) are not data. Found column by
            # column, and the table copied only when there are any: a Parquet table has none.
            empty = np.ones(len(df), dtype=bool)
            for c in df.columns:
                empty &= df[c].isna().to_numpy()
            if empty.any():
                df = df[~empty]
            unnamed = [c for c in df.columns if str(c).startswith("Unnamed:") and not df[c].notna().any()]
            if unnamed:
                df = df.drop(columns=unnamed)
            tables[name] = _number_rows(df)
        else:
            ignored.append(str(raw_name)[:80])
    if ignored:
        shown = ignored[:8]
        notes.append(Problem(
            "warning", "", None, 0, tuple(shown),
            f"{label}: {what}{'s' if len(ignored) > 1 else ''} {', '.join(repr(i) for i in shown)}"
            f"{f' and {len(ignored) - 8} more' if len(ignored) > 8 else ''} "
            f"{'are' if len(ignored) > 1 else 'is'} not a cohort table and {'were' if len(ignored) > 1 else 'was'} ignored "
            f"(cohort tables: {', '.join(TABLES)}).",
        ))
    if "patients" not in tables:
        names = ", ".join(repr(str(k)[:80]) for k in list(found)[:12]) or "none"
        raise CohortError.single(
            f"{label} has no '{'patients'}' {what} ({what}s found: {names}). "
            f"Name the {what}s after the tables: {', '.join(TABLES)}; only 'patients' is required.",
            table="patients",
        )
    return tables, notes


def _read_member(name: str, data: bytes, label: str, limits: Limits) -> pd.DataFrame:
    if name.lower().endswith(".parquet"):
        return _read_parquet(data, label, limits)
    return _read_csv(data, label, limits)


def _read_zip(data: bytes, label: str, limits: Limits) -> tuple[dict[str, pd.DataFrame], list[Problem], dict]:
    budget = _Inflation(label, limits.inflated_bytes)
    zf, infos = _open_zip(data, label, limits, ".zip archive")
    found: dict[str, pd.DataFrame] = {}
    metadata: dict = {}
    others: list[str] = []
    for info in infos:
        path = PurePosixPath(info.filename)
        if path.name.startswith(".") or "__MACOSX" in path.parts:
            continue
        member = f"{label}/{info.filename[:120]}"
        if path.name == METADATA_FILE:
            metadata = _parse_metadata(_unpack(zf, info, label, budget), member)
        elif path.suffix.lower() in TABLE_SUFFIXES:
            if path.stem in found:
                raise CohortError.single(f"{label} holds more than one file named '{path.stem[:80]}'; keep one.")
            found[path.stem] = _read_member(path.name, _unpack(zf, info, label, budget), member, limits)
        elif path.suffix.lower() == ".xlsx" and len(infos) == 1:
            tables, notes, metadata = _read_xlsx(_unpack(zf, info, label, budget), member, limits, budget)
            return tables, notes, metadata
        else:
            others.append(info.filename[:120])
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


MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 10
MAX_NAME_CHARS = 120


def _parse_metadata(content: bytes, label: str) -> dict:
    if len(content) > MAX_METADATA_BYTES:
        raise CohortError.single(f"{label} is {len(content):,} bytes; a cohort's description is a few lines of JSON.")
    try:
        meta = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CohortError.single(f"{label} is not valid JSON.") from None
    if not isinstance(meta, dict):
        raise CohortError.single(f"{label} must hold a JSON object.")
    if _deeper_than(meta, MAX_METADATA_DEPTH):
        raise CohortError.single(f"{label} is nested more than {MAX_METADATA_DEPTH} levels deep; a cohort's "
                                 "description is a name and a few flags.")
    return meta


def _deeper_than(obj: object, limit: int) -> bool:
    stack = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack += [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list):
            stack += [(v, depth + 1) for v in item]
    return False


def _display_name(name: object) -> str:
    """A cohort name as shown on every page: printable characters only, and not a page long."""
    text = "".join(ch for ch in str(name) if ch.isprintable())
    return text[:MAX_NAME_CHARS] or "cohort"


def _digest(parts: list[tuple[str, bytes]]) -> str:
    h = hashlib.sha256()
    for name, data in sorted(parts):
        h.update(name.encode())
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def read_cohort_bytes(filename: str, data: bytes, limits: Limits = UPLOAD_LIMITS) -> RawCohort:
    """Read an uploaded cohort from memory: .xlsx, .zip, .parquet or .csv."""
    label = _display_name(PurePosixPath(filename).name or "the file")
    suffix = PurePosixPath(label).suffix.lower()
    if len(data) == 0:
        raise CohortError.single(f"{label} is empty.")
    if limits.file_bytes is not None and len(data) > limits.file_bytes:
        raise CohortError.single(f"{label} is larger than {limits.file_bytes // MB:,} MB.")
    sha = hashlib.sha256(data).hexdigest()
    name = PurePosixPath(label).stem
    metadata: dict = {}
    notes: list[Problem] = []
    if suffix == ".xlsx":
        tables, notes, metadata = _read_xlsx(data, label, limits)
    elif suffix == ".zip":
        tables, notes, metadata = _read_zip(data, label, limits)
    elif suffix == ".parquet":
        tables = {"patients": _number_rows(_read_parquet(data, label, limits))}
    elif suffix in (".csv", ".txt"):
        tables = {"patients": _number_rows(_read_csv(data, label, limits))}
    elif suffix == ".xls":
        raise CohortError.single(f"{label} is an old-style Excel (.xls) workbook; save it as .xlsx.")
    else:
        raise CohortError.single(
            f"{label} is not a cohort file. A cohort is an .xlsx workbook (one sheet per table), "
            "a .zip of Parquet tables, or one Parquet or CSV file of patients."
        )
    return RawCohort(_display_name(metadata.get("name", name)), sha, tables, metadata, tuple(notes))


def _read_file(f: Path) -> bytes:
    try:
        return f.read_bytes()
    except OSError as exc:
        raise CohortError.single(f"{f} could not be read ({exc.strerror or type(exc).__name__}).") from None


def read_cohort(path: str | Path, limits: Limits = FILE_LIMITS) -> RawCohort:
    """Read a cohort from disk: a folder of tables, or one file (see `read_cohort_bytes`)."""
    p = Path(path)
    try:
        if not p.exists():
            raise CohortError.single(f"{p} does not exist.")
        is_file, is_dir = p.is_file(), p.is_dir()
    except OSError as exc:  # e.g. a folder on the way that may not be entered
        raise CohortError.single(f"{p} could not be opened ({exc.strerror or type(exc).__name__}).") from None
    if not is_file and not is_dir:
        raise CohortError.single(f"{p} is neither a file nor a folder.")
    if is_file:
        return read_cohort_bytes(p.name, _read_file(p), limits)
    parts: list[tuple[str, bytes]] = []
    found: dict[str, pd.DataFrame] = {}
    metadata: dict = {}
    try:
        entries = sorted(p.iterdir())
    except OSError as exc:
        raise CohortError.single(f"{p} could not be listed ({exc.strerror or type(exc).__name__}).") from None
    for f in entries:
        if not f.is_file() or f.name.startswith("."):
            continue
        if f.name == METADATA_FILE:
            content = _read_file(f)
            metadata = _parse_metadata(content, str(f))
            parts.append((f.name, content))
        elif f.suffix.lower() in TABLE_SUFFIXES:
            content = _read_file(f)
            parts.append((f.name, content))
            if f.stem in found:
                raise CohortError.single(f"{p} holds both {f.stem}.parquet and {f.stem}.csv; keep one.")
            found[f.stem] = _read_member(f.name, content, str(f), limits)
    if not found:
        raise CohortError.single(
            f"{p} holds no Parquet or CSV tables; a cohort folder needs at least patients.parquet.", table="patients",
        )
    tables, notes = _name_tables(found, str(p), "file")
    name = _display_name(metadata.get("name", p.resolve().name))
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
