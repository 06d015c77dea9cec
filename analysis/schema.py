"""The cohort format: tables, columns, types, units and codes, and validation.

This module is the one source of truth for names and codes (arms, diagnoses, lab tests,
steroid drugs, adverse-event categories) and for the labels shown to people. Every other
module imports them from here. `validate` turns the raw tables read by `analysis.io` into
typed tables and a report that lists every problem at once, each naming the table, the
column, how many rows and a few example rows or patients.

Row numbers in messages count the header as row 1, as a spreadsheet shows them: the first
data row is row 2. They are the row numbers the reader attached in `analysis.io`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .memory import PackedTable, release_memory

# --------------------------------------------------------------------------------------
# Codes and labels

ARM_TACROLIMUS = "tacrolimus"
ARM_CONTROL = "control"
ARMS: tuple[str, ...] = (ARM_TACROLIMUS, ARM_CONTROL)
ARM_LABELS: Mapping[str, str] = {ARM_TACROLIMUS: "Tacrolimus + steroid", ARM_CONTROL: "Steroid alone"}

ITP, AIHA, ES = "ITP", "AIHA", "ES"
DIAGNOSES: tuple[str, ...] = (ITP, AIHA, ES)
DIAGNOSIS_LABELS: Mapping[str, str] = {
    ITP: "Immune thrombocytopenia",
    AIHA: "Autoimmune hemolytic anemia",
    ES: "Evans syndrome",
}

def by_arm(frame: pd.DataFrame, column: str | None = None) -> tuple:
    """The rows of each arm, tacrolimus first: `(tacrolimus, control)`, as frames or, given a
    column, as that column's values.

    >>> import pandas as pd
    >>> t, c = by_arm(pd.DataFrame({"arm": ["tacrolimus", "control", "control"], "age": [30, 40, 50]}), "age")
    >>> list(t), list(c)
    ([30], [40, 50])
    """
    # Each arm's rows as positions, taken (a take is a fifth of the cost of a boolean selection
    # of the same rows, and a report splits by arm some forty times).
    rows = [np.flatnonzero(frame["arm"].eq(a).to_numpy(dtype=bool, na_value=False)) for a in ARMS]
    if column is not None:  # the column alone: the frame's other columns are not copied
        values = frame[column]
        return tuple(values.take(r) for r in rows)
    return tuple(select_rows(frame, r) for r in rows)


def arm_counts(frame: pd.DataFrame, selected: np.ndarray | None = None) -> tuple[int, int]:
    """The number of patients in each arm, tacrolimus first, of the rows `selected` (a mask; all
    when None), without taking any row."""
    counts = []
    for a in ARMS:
        in_arm = frame["arm"].eq(a).to_numpy(dtype=bool, na_value=False)
        counts.append(int(np.count_nonzero(in_arm if selected is None else in_arm & selected)))
    return counts[0], counts[1]


def select_rows(frame: pd.DataFrame, selected: np.ndarray | None = None, columns=None) -> pd.DataFrame:
    """`frame.iloc[selected][columns]`: the rows `selected` (a mask or positions; all when None)
    of the `columns` (all when None), taken column by column and put together without copying
    again. pandas' own take of a wide frame works block by block and copies the index with each
    column: a million patients' 26 analysed columns took 240 ms selected by a mask, this 36 ms
    (the same frame: values, dtypes, index)."""
    names = list(frame.columns if columns is None else columns)
    data = {}
    for name in names:
        values = frame[name]
        values = values.to_numpy() if isinstance(values.dtype, np.dtype) else values.array
        data[name] = values if selected is None else values[selected]
    index = frame.index if selected is None else frame.index[selected]
    return pd.DataFrame(data, index=index, columns=pd.Index(names, name=frame.columns.name), copy=False)


SEXES: tuple[str, ...] = ("M", "F")
SEX_LABELS: Mapping[str, str] = {"M": "Male", "F": "Female"}

# Best-response codes. R is the IWG 2009 "response" (ITP), PR the AIHA consensus "partial
# response"; both are the middle level. Evans syndrome uses R for "response in both lineages".
RESPONSE_CODES: tuple[str, ...] = ("CR", "R", "PR", "NR")
RESPONSE_LEVEL: Mapping[str, int] = {"NR": 0, "R": 1, "PR": 1, "CR": 2}

PLT, HGB, RET, LDH, TBIL = "PLT", "HGB", "RET", "LDH", "TBIL"
LAB_TESTS: tuple[str, ...] = (PLT, HGB, RET, LDH, TBIL)
LAB_UNITS: Mapping[str, str] = {PLT: "×10⁹/L", HGB: "g/L", RET: "%", LDH: "U/L", TBIL: "µmol/L"}
HEMOLYSIS_MARKERS: tuple[str, ...] = (RET, LDH, TBIL)
# Largest value taken as possible for each test; above it the value is a data error
# (platelets above 2,000 ×10⁹/L and Hb above 250 g/L do not occur in these patients).
LAB_MAXIMUM: Mapping[str, float] = {PLT: 2000.0, HGB: 250.0, RET: 100.0, LDH: 20000.0, TBIL: 1000.0}

# Abbreviations shown on the pages, each spelled out where it first appears.
ABBREVIATIONS: Mapping[str, str] = {
    "ORR": "overall response rate (best response CR or R/PR)",
    "CRR": "complete response rate (best response CR)",
    "CR": "complete response",
    "R/PR": "response (ITP, IWG 2009) or partial response (AIHA)",
    "NR": "no response",
    "RFS": "relapse-free survival, from the first confirmed response to relapse",
    "HR": "hazard ratio, tacrolimus + steroid vs steroid alone (below 1 favours tacrolimus)",
    "CI": "confidence interval",
    "SMD": "standardised mean difference between the arms",
    "CMH": "Cochran–Mantel–Haenszel test, stratified by diagnosis",
    "IQR": "interquartile range",
    "AE": "adverse event",
}

# Time and targets used everywhere.
DAYS_PER_MONTH = 365.25 / 12  # 30.4375: every duration in months is days / 30.4375
TACROLIMUS_TROUGH_TARGET = (5.0, 10.0)  # ng/mL, the study group's target range for whole-blood troughs

# Adverse-event flags of the per-patient table and the label of each.
AE_FLAGS: Mapping[str, str] = {
    "any_ae": "Any adverse event",
    "steroid_ae": "Steroid-related",
    "tacrolimus_ae": "Tacrolimus-related",
    "grade3_ae": "Grade ≥ 3",
    "serious_ae": "Serious",
}

# mg of the drug × factor = mg prednisone (STUDY.md; 0.75 mg dexamethasone ≙ 5 mg prednisone).
PREDNISONE_EQUIVALENT: Mapping[str, float] = {
    "prednisone": 1.0,
    "prednisolone": 1.0,
    "methylprednisolone": 1.25,
    "dexamethasone": 6.67,
    "hydrocortisone": 0.25,
}
STEROID_DRUGS: tuple[str, ...] = tuple(PREDNISONE_EQUIVALENT)
MAX_DAILY_STEROID_MG = 2000.0

AE_STEROID, AE_TACROLIMUS, AE_OTHER = "steroid", "tacrolimus", "other"
AE_CATEGORIES: tuple[str, ...] = (AE_STEROID, AE_TACROLIMUS, AE_OTHER)

CURRENCY = "CNY"  # drug_cost_18m is in Chinese yuan, the currency of the study's hospital.
# Eighteen months of steroids and tacrolimus cost tens of thousands of yuan; ten million is a typing error.
MAX_DRUG_COST = 10_000_000.0

# Dates of treatment and follow-up in this format fall in these years; others are typing errors.
FIRST_YEAR, LAST_YEAR = 1900, 2100
# Characters no identifier or term should hold: control characters (NUL, tab, …), invisible
# formatting characters (zero-width spaces, right-to-left overrides, byte-order marks), line and
# paragraph separators, private-use and unassigned code points. They make two ids look the same,
# or text display in another order than it is stored.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})
MAX_ID_CHARS = 64
# A cell starting with one of these is run as a formula by Excel and LibreOffice (OWASP, "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Age bands for subgroup analyses: (label, lower bound inclusive, upper bound exclusive), years.
AGE_BANDS: tuple[tuple[str, float, float], ...] = (("<40", 0.0, 40.0), ("40–59", 40.0, 60.0), ("≥60", 60.0, 200.0))

# Labs this many days before treatment start may serve as the baseline count.
BASELINE_WINDOW_DAYS = 30

# --------------------------------------------------------------------------------------
# Tables and columns

Kind = Literal["text", "code", "number", "integer", "date", "bool"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool
    description: str
    unit: str = ""
    codes: tuple[str, ...] = ()
    minimum: float | None = None  # below this: error ("negative" when it is 0)
    maximum: float | None = None  # above this: error (implausible)


@dataclass(frozen=True)
class Table:
    name: str
    required: bool
    description: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


_PID = Column("patient_id", "text", True, "The patient's identifier, as in the patients table.")

PATIENTS = Table(
    "patients",
    True,
    "One row per patient.",
    (
        Column("patient_id", "text", True, "Unique identifier of the patient (text; no names)."),
        Column("arm", "code", True, "Treatment arm.", codes=ARMS),
        Column("diagnosis", "code", True, "Autoimmune cytopenia: ITP, AIHA or ES (Evans syndrome).", codes=DIAGNOSES),
        Column("sex", "code", True, "M or F.", codes=SEXES),
        Column("age", "number", True, "Age at treatment start.", unit="years", minimum=0, maximum=120),
        Column("treatment_start", "date", True, "Start of the treatment being studied (first steroid dose)."),
        Column("last_follow_up", "date", True, "Date of the last follow-up visit."),
        Column("weight_kg", "number", False, "Body weight at treatment start.", unit="kg", minimum=0, maximum=400),
        Column("drug_cost_18m", "number", False, "Drug expenses over the first 18 months.", unit=CURRENCY, minimum=0,
               maximum=MAX_DRUG_COST),
        Column("best_response", "code", False, "Recorded best response, for patients without lab results.", codes=RESPONSE_CODES),
        Column("response_date", "date", False, "Recorded date the (first) response was reached."),
        Column("relapse_date", "date", False, "Recorded date of relapse after response; empty if none."),
        Column("steroid_stop_date", "date", False, "Recorded date of the last steroid dose; empty if still on steroids."),
        Column("cumulative_steroid_mg", "number", False, "Recorded cumulative steroid dose, prednisone-equivalent.", unit="mg", minimum=0, maximum=1_000_000),
    ),
)

LABS = Table(
    "labs",
    False,
    "One row per laboratory result.",
    (
        _PID,
        Column("date", "date", True, "Date the sample was taken."),
        Column("test", "code", True, "PLT, HGB, RET, LDH or TBIL.", codes=LAB_TESTS),
        Column("value", "number", True, "The result, in the test's unit (PLT ×10⁹/L, HGB g/L, RET %, LDH U/L, TBIL µmol/L).", minimum=0),
        Column("bleeding", "bool", False, "Bleeding at this visit (PLT rows); empty means no."),
        Column("transfused", "bool", False, "Red-cell transfusion on this date; empty means no."),
    ),
)

STEROID_DOSES = Table(
    "steroid_doses",
    False,
    "One row per period at a constant daily steroid dose.",
    (
        _PID,
        Column("drug", "code", True, "prednisone, prednisolone, methylprednisolone, dexamethasone or hydrocortisone.", codes=STEROID_DRUGS),
        Column("start_date", "date", True, "First day of the period."),
        Column("end_date", "date", True, "Last day of the period (inclusive)."),
        Column("daily_dose_mg", "number", True, "Daily dose of the drug itself (not converted).", unit="mg", minimum=0, maximum=MAX_DAILY_STEROID_MG),
    ),
)

TACROLIMUS = Table(
    "tacrolimus",
    False,
    "One row per tacrolimus visit: the daily dose from that date, and the trough level measured.",
    (
        _PID,
        Column("date", "date", True, "Visit date."),
        Column("daily_dose_mg", "number", True, "Daily tacrolimus dose from this date.", unit="mg", minimum=0, maximum=30),
        Column("trough_ng_ml", "number", False, f"Whole-blood trough concentration (target {TACROLIMUS_TROUGH_TARGET[0]:g}–{TACROLIMUS_TROUGH_TARGET[1]:g}).", unit="ng/mL", minimum=0, maximum=100),
    ),
)

ADVERSE_EVENTS = Table(
    "adverse_events",
    False,
    "One row per adverse event.",
    (
        _PID,
        Column("onset_date", "date", True, "Date the event began."),
        Column("term", "text", True, "What happened, e.g. hyperglycemia, tremor."),
        Column("category", "code", True, "Attributed to: steroid, tacrolimus or other.", codes=AE_CATEGORIES),
        Column("grade", "integer", True, "CTCAE grade, 1 to 5.", minimum=1, maximum=5),
        Column("serious", "bool", True, "Serious adverse event (yes/no)."),
    ),
)

TABLES: Mapping[str, Table] = {t.name: t for t in (PATIENTS, LABS, STEROID_DOSES, TACROLIMUS, ADVERSE_EVENTS)}
CHILD_TABLES: tuple[str, ...] = tuple(n for n in TABLES if n != "patients")
# Tables of many rows per patient (a registry's lab table has tens of millions): validated tables
# hold their text and code columns (patient_id, test, drug) as pandas Categoricals, a small integer
# per row and each distinct value once, and `patient_numbers` maps their ids without text.
CODED_TABLES: tuple[str, ...] = ("labs", "steroid_doses", "tacrolimus")

# --------------------------------------------------------------------------------------
# Problems and the report


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a cohort, as a sentence a person can act on."""

    severity: Severity
    table: str
    column: str | None
    rows: int
    examples: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class ValidationReport:
    problems: tuple[Problem, ...] = ()

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def __add__(self, other: "ValidationReport") -> "ValidationReport":
        return ValidationReport(self.problems + other.problems)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "severity": p.severity,
                    "table": p.table,
                    "column": p.column or "",
                    "rows": p.rows,
                    "examples": ", ".join(p.examples),
                    "problem": p.message,
                }
                for p in self.problems
            ],
            columns=["severity", "table", "column", "rows", "examples", "problem"],
        )

    def to_text(self) -> str:
        if not self.problems:
            return "No problems found."
        lines = [f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)."]
        lines += [f"{p.severity.upper()}: {p.message}" for p in self.problems]
        return "\n".join(lines)


class CohortError(Exception):
    """A cohort that cannot be analysed; `report` lists every reason."""

    def __init__(self, report: ValidationReport):
        self.report = report
        first = report.errors[0].message if report.errors else "the cohort could not be read."
        more = len(report.errors) - 1
        super().__init__(first + (f" (and {more} more problem(s))" if more > 0 else ""))

    @classmethod
    def single(cls, message: str, table: str = "", column: str | None = None) -> "CohortError":
        return cls(ValidationReport((Problem("error", table, column, 0, (), message),)))


# --------------------------------------------------------------------------------------
# Helpers that make problems

MAX_EXAMPLES = 5


def _fmt_value(v: object) -> str:
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
        return "empty"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        v = int(v)
    elif isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat()
    text = str(v)
    if len(text) > 40:
        text = text[:37] + "…"
    return repr(text) if isinstance(v, str) else text


def _examples(df: pd.DataFrame, mask: pd.Series, column: str | None, by: Literal["row", "patient"]) -> tuple[str, ...]:
    hits = df.loc[mask]
    out: list[str] = []
    if by == "patient":
        ids = pd.unique(hits["patient_id"].astype(str))
        return tuple(str(i) for i in ids[:MAX_EXAMPLES])
    has_pid = "patient_id" in hits.columns
    for idx, row in hits.head(MAX_EXAMPLES).iterrows():
        part = f"row {idx}"
        if has_pid and column != "patient_id" and pd.notna(row["patient_id"]):
            part += f" ({row['patient_id']})"
        if column is not None and column in hits.columns:
            part += f": {_fmt_value(row[column])}"
        out.append(part)
    return tuple(out)


def problem_from_mask(
    severity: Severity,
    table: str,
    column: str | None,
    df: pd.DataFrame,
    mask: pd.Series,
    what: str,
    *,
    by: Literal["row", "patient"] = "row",
    values: pd.Series | None = None,
    hint: str = "",
) -> Problem | None:
    """A problem for the rows of `df` where `mask` is true, or None when there are none.

    `what` completes "<table>: column '<column>' has <what> in N rows", or, without a column,
    "<table>: N patients <what>".
    `values`, when given, are shown in the examples instead of the column's current values
    (e.g. the raw text that could not be read as a number).
    """
    if mask.dtype != bool:  # a plain boolean mask (most of them, up to 48 M rows) is used as it is
        mask = mask.fillna(False).astype(bool)
    n = int(np.count_nonzero(mask.to_numpy()))
    if n == 0:
        return None
    shown = df
    if values is not None:
        shown = df.assign(**{column: values}) if column else df
    examples = _examples(shown, mask, column, by)
    if by == "patient":
        total = int(df.loc[mask, "patient_id"].nunique())
        subject = f"{total} patient" + ("" if total == 1 else "s")
    else:
        total = n
        subject = f"{n} row" + ("" if n == 1 else "s")
    if column:
        head = f"{table}: column '{column}' has {what} {'for' if by == 'patient' else 'in'} {subject}"
    else:
        head = f"{table}: {subject} {what}"
    more = f" and {total - len(examples)} more" if total > len(examples) else ""
    joined = ", ".join(examples) if by == "patient" else "; ".join(examples)
    ex = f" ({'patients ' if by == 'patient' else ''}{joined}{more})"
    message = head + ex + "." + (f" {hint}" if hint else "")
    return Problem(severity, table, column, n, examples, message)


# --------------------------------------------------------------------------------------
# Reading raw values into types


def normalise_name(name: object) -> str:
    """Column or sheet name as the schema spells it: case, spaces and hyphens ignored."""
    text = str(name).strip().lower()
    out = []
    for ch in text:
        out.append("_" if ch in " -\t\n." else ch)
    norm = "".join(out)
    while "__" in norm:
        norm = norm.replace("__", "_")
    return norm.strip("_")


_TRUE = {"true", "yes", "y", "1", "t", "1.0"}
_FALSE = {"false", "no", "n", "0", "f", "0.0", ""}


def _per_unique(s: pd.Series, func) -> pd.Series:
    """Apply a string function to each distinct value once, not to every row: a lab table has
    millions of rows but only thousands of distinct patient ids and five test codes. (pandas'
    .str methods run a Python call per row.) Missing values stay missing."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    mapped = func(pd.Series(uniques, dtype=object)).to_numpy(dtype=object)
    out = np.empty(len(s), dtype=object)
    out[:] = None
    valid = codes >= 0
    out[valid] = mapped[codes[valid]]
    return pd.Series(out, index=s.index)


def _flags(s: pd.Series, test, factorized: tuple | None = None) -> pd.Series:
    """A boolean test of each distinct value, spread to every row (see _per_unique); missing → False.
    `factorized`: `pd.factorize(s)` already computed, for several tests of one column."""
    codes, uniques = factorized if factorized is not None else _factorized(s)
    hit = pd.Series(test(pd.Series(uniques, dtype=object))).to_numpy(dtype=bool, na_value=False)
    out = np.zeros(len(s), dtype=bool)
    if hit.any():  # most tests find nothing: then no row needs looking at (48 M rows: 0.4 s a test)
        valid = codes >= 0
        out[valid] = hit[codes[valid]]
    return pd.Series(out, index=s.index)


def _factorized(s: pd.Series) -> tuple[np.ndarray, object]:
    """(a code per row, −1 where missing; the distinct values), as pd.factorize, but a Categorical's
    own codes and categories as they are (a category no row uses is tested, and counts for no row)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.codes.to_numpy(), s.cat.categories.to_numpy(dtype=object)
    return pd.factorize(s, use_na_sentinel=True)


def _stripped(s: pd.Series) -> pd.Series:
    """Cell text without surrounding spaces; None for missing or space-only cells."""
    def strip(u: pd.Series) -> pd.Series:
        t = u.astype(str).str.strip()
        return t.where(t.ne(""), None)
    return _per_unique(s, strip)


def _blank(s: pd.Series) -> pd.Series:
    """Cells that hold nothing: missing or only spaces (each distinct text tested once)."""
    if s.dtype == object or pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
        return s.isna() | _flags(s, lambda u: u.astype(str).str.strip().eq(""))
    return s.isna()


def _as_text(s: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(s):
        # Identifiers typed as numbers in Excel arrive as floats: 1001.0 means "1001".
        whole = s.dropna()
        if len(whole) and np.isfinite(whole).all() and (whole == np.floor(whole)).all():
            return s.map(lambda v: pd.NA if pd.isna(v) else str(int(v))).astype("string")
    return _stripped(s).astype("string")


def _text_column(raw: pd.Series, lookup: dict[str, str] | None = None,
                 categorical: bool = False) -> tuple[pd.Series, pd.Series | None]:
    """A text column as `_as_text` reads it and, with `lookup` (lower-case text → code), the codes
    it maps to (None without): the distinct values are found once, stripped (and mapped) once,
    and the columns are built from them by position. The same values as `_as_text`/`_per_unique`
    give row by row, in one factorisation, and without checking millions of cells one by one as
    `.astype("string")` does (a lab table's patient ids and test codes: 4.8 M rows, 100,000 and
    six distinct values). With `categorical`, both come back as pandas Categoricals."""
    codes, uniques = _factorized(raw)  # from Parquet, a Categorical: its own codes and values
    u = pd.Series(uniques, dtype=object).astype(str).str.strip()
    u = u.where(u.ne(""), None)

    def column(values: pd.Series) -> pd.Series:
        if categorical and isinstance(raw.dtype, pd.CategoricalDtype) and values.notna().all() \
                and values.is_unique and (values.to_numpy(dtype=object) == uniques).all():
            return raw  # every value already reads as itself: the column as read, not a copy
        if categorical:
            # Distinct values that strip or map to the same text become one category.
            ucodes, categories = pd.factorize(values, use_na_sentinel=True)
            rows = (np.where(codes >= 0, ucodes.take(codes, mode="clip"), -1) if len(ucodes)
                    else np.full(len(codes), -1))
            out = pd.Categorical.from_codes(rows, categories=pd.Index(categories, dtype=object))
        else:
            out = pd.array(values.to_numpy(dtype=object), dtype="string").take(codes, allow_fill=True)
        return pd.Series(out, index=raw.index)
    return column(u), (column(u.str.lower().map(lookup)) if lookup is not None else None)


def _coerce(col: Column, raw: pd.Series, categorical: bool = False) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Typed values, a mask of non-empty cells that could not be read as the column's kind, and a
    mask of blank cells (`_blank`). With `categorical`, text and codes come back as a pandas
    Categorical (CODED_TABLES)."""
    if col.kind in ("text", "code") and not pd.api.types.is_float_dtype(raw):
        lookup = {c.lower(): c for c in col.codes} if col.kind == "code" else None
        text, mapped = _text_column(raw, lookup, categorical=categorical)
        blank = text.isna()  # missing, or only spaces: what stripping leaves empty
        if mapped is not None:
            return mapped, ~blank & mapped.isna(), blank
        return text, pd.Series(False, index=raw.index), blank
    if col.kind in ("text", "code") and categorical:
        typed, bad, blank = _coerce(col, raw)
        return pd.Series(pd.Categorical(typed.to_numpy(dtype=object, na_value=None)), index=raw.index), bad, blank
    blank = _blank(raw)
    typed, bad = _coerce_value(col, raw, blank)
    return typed, bad, blank


_NS_PER_DAY = 86_400 * 10**9
_NAT = np.iinfo(np.int64).min  # NaT as int64


def _all_midnight(nanoseconds: np.ndarray, block: int = 1 << 20) -> bool:
    """Whether every time (int64 nanoseconds, NaT aside) falls at midnight."""
    for i in range(0, len(nanoseconds), block):
        part = nanoseconds[i:i + block]
        if (part[part != _NAT] % _NS_PER_DAY).any():
            return False
    return True


def _coerce_value(col: Column, raw: pd.Series, blank: pd.Series) -> tuple[pd.Series, pd.Series]:
    """`_coerce` for the columns whose cells are read one by one (numbers, dates, yes/no, and
    text or codes typed as numbers); `blank`: `_blank(raw)`."""
    if col.kind in ("text", "code"):
        text = _as_text(raw)
        if col.kind == "code":
            lookup = {c.lower(): c for c in col.codes}
            mapped = _per_unique(text, lambda u: u.str.lower().map(lookup))
            bad = text.notna() & mapped.isna()
            return mapped.astype("string"), bad
        return text, pd.Series(False, index=raw.index)
    if col.kind in ("number", "integer"):
        if pd.api.types.is_bool_dtype(raw):
            num = pd.Series(np.nan, index=raw.index)
        elif pd.api.types.is_numeric_dtype(raw):
            num = raw.astype("float64", copy=False)
        else:
            # A decimal comma ("3,5") is not read as a number: it is reported, not guessed at.
            num = _per_unique(raw, lambda u: pd.to_numeric(u.astype(str).str.strip(), errors="coerce")).astype("float64")
        bad = ~blank & num.isna()
        if col.kind == "integer":
            frac = num.notna() & (num != np.floor(num))
            bad = bad | frac
            num = num.mask(frac)
        return num, bad
    if col.kind == "date":
        if pd.api.types.is_datetime64_any_dtype(raw):
            dt = raw
            if getattr(dt.dt, "tz", None) is not None:
                dt = dt.dt.tz_localize(None)
            dt = dt.astype("datetime64[ns]", copy=False)
            # Dates from Parquet (date32) are midnights already: normalising them again, or any
            # test that makes arrays as long as the column, costs seconds at a million patients
            # (48 M lab dates; fresh memory is slow to come by), a test of a million at a time
            # a fraction of that.
            if not _all_midnight(dt.to_numpy().view(np.int64)):
                dt = dt.dt.normalize()
            return dt, pd.Series(False, index=raw.index)
        if pd.api.types.is_numeric_dtype(raw):
            # Numbers in a date column are usually Excel serial days shown without a date format.
            return pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]"), ~blank
        values = raw.astype(object)
        is_stamp = values.map(lambda v: isinstance(v, (pd.Timestamp,)) or hasattr(v, "year"))
        dt = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
        if is_stamp.any():
            dt.loc[is_stamp] = pd.to_datetime(values[is_stamp], errors="coerce")
        text = values[~is_stamp & ~blank]
        if len(text):
            parsed = _per_unique(
                text, lambda u: pd.Series(pd.to_datetime(u.astype(str).str.strip(), format="ISO8601", errors="coerce"), dtype=object)
            )
            dt.loc[text.index] = pd.to_datetime(parsed)
        dt = dt.astype("datetime64[ns]").dt.normalize()
        bad = ~blank & dt.isna()
        return dt, bad
    if col.kind == "bool":
        if pd.api.types.is_bool_dtype(raw):
            return raw.astype("boolean"), pd.Series(False, index=raw.index)
        text = _per_unique(raw, lambda u: u.astype(str).str.strip().str.lower()).fillna("")
        out = pd.Series(pd.NA, index=raw.index, dtype="boolean")
        out[text.isin(_TRUE)] = True
        out[text.isin(_FALSE) & ~blank] = False
        bad = ~blank & ~text.isin(_TRUE | _FALSE)
        return out, bad
    raise ValueError(f"unknown column kind {col.kind!r}")  # pragma: no cover - schema bug


def empty_table(table: Table) -> pd.DataFrame:
    data: dict[str, pd.Series] = {}
    for c in table.columns:
        dtype = {
            "text": "string",
            "code": "string",
            "number": "float64",
            "integer": "float64",
            "date": "datetime64[ns]",
            "bool": "boolean",
        }[c.kind]
        if table.name in CODED_TABLES and c.kind in ("text", "code"):
            dtype = pd.CategoricalDtype(pd.Index([], dtype=object))
        data[c.name] = pd.Series([], dtype=dtype)
    return pd.DataFrame(data)


# --------------------------------------------------------------------------------------
# Typed tables


@dataclass(frozen=True)
class Tables:
    """A cohort's tables, typed as the schema says; absent optional tables are empty. A table
    may be held packed (`pack`): `get` gives each as a frame."""

    patients: pd.DataFrame
    labs: pd.DataFrame | PackedTable = field(default_factory=lambda: empty_table(LABS))
    steroid_doses: pd.DataFrame | PackedTable = field(default_factory=lambda: empty_table(STEROID_DOSES))
    tacrolimus: pd.DataFrame = field(default_factory=lambda: empty_table(TACROLIMUS))
    adverse_events: pd.DataFrame = field(default_factory=lambda: empty_table(ADVERSE_EVENTS))
    present: tuple[str, ...] = ("patients",)

    def get(self, name: str) -> pd.DataFrame:
        """The table `name` as a frame (unpacked anew when it is held packed)."""
        value = getattr(self, name)
        return value.unpack() if isinstance(value, PackedTable) else value

    def pack(self, name: str, background: bool = False) -> None:
        """Hold the table `name` packed from now on (analysis.memory.PackedTable: the same
        content, compressed; `background`: on a thread of its own, see `wait_packed`). It changes
        how the table is held, not what it holds, so it is done in place: `derive` packs the labs
        and doses of the tables it is given once it has read them, and the memory of their frames
        goes as soon as the caller, too, holds them only here (analysis.cohort)."""
        value = getattr(self, name)
        if not isinstance(value, PackedTable):
            object.__setattr__(self, name, PackedTable(value, background))

    def wait_packed(self) -> None:
        """Return once every table being packed is packed."""
        for value in vars(self).values():
            if isinstance(value, PackedTable):
                value.wait()


def _type_table(table: Table, raw: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem], bool]:
    """Typed columns, the problems found, and whether required columns are missing."""
    problems: list[Problem] = []
    name = table.name
    # Column names that differ only in case or spacing are the same column.
    normalised: dict[str, list[str]] = {}
    for c in raw.columns:
        normalised.setdefault(normalise_name(c), []).append(str(c))
    for norm, originals in normalised.items():
        if len(originals) > 1 and norm in table.column_names:
            problems.append(Problem(
                "error", name, norm, 0, tuple(originals),
                f"{name}: columns {', '.join(repr(o) for o in originals)} all mean '{norm}'; keep one.",
            ))
    df = raw.copy(deep=False)  # renamed, not copied
    df.columns = [normalise_name(c) for c in raw.columns]
    if df.columns.duplicated().any():
        df = df.loc[:, ~df.columns.duplicated()]

    missing = [c for c in table.required_columns if c not in df.columns]
    if missing:
        found = ", ".join(repr(str(c)) for c in raw.columns[:12]) or "none"
        problems.append(Problem(
            "error", name, ", ".join(missing), len(df), (),
            f"{name}: required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} {'are' if len(missing) > 1 else 'is'} missing "
            f"(columns found: {found}).",
        ))
    extra = [str(c) for c in raw.columns if normalise_name(c) not in table.column_names]
    if extra:
        problems.append(Problem(
            "warning", name, None, 0, tuple(extra[:MAX_EXAMPLES]),
            f"{name}: column{'s' if len(extra) > 1 else ''} {', '.join(repr(e) for e in extra[:8])}"
            f"{' …' if len(extra) > 8 else ''} {'are' if len(extra) > 1 else 'is'} not part of the format and "
            f"{'were' if len(extra) > 1 else 'was'} ignored.",
        ))

    # The typed columns are gathered and made one frame without a copy: a column read with its
    # type already (a number, a date) is the column as read, not a second copy of it (setting the
    # columns of a frame one by one copied each: a million patients' labs, 1.2 GB more while checked).
    out: dict[str, pd.Series] = {}
    for col in table.columns:
        if col.name not in df.columns:
            out[col.name] = empty_table(table)[col.name].reindex(df.index)
            continue
        raw_col = df[col.name]
        typed, bad, blank = _coerce(col, raw_col, categorical=name in CODED_TABLES)
        kind_words = {
            "number": "values that are not numbers",
            "integer": "values that are not whole numbers",
            "date": "values that are not dates (write dates as YYYY-MM-DD or as Excel dates)",
            "bool": "values that are not yes/no (use true/false, yes/no or 1/0)",
            "text": "unreadable values",
            "code": "unknown codes (allowed: " + ", ".join(col.codes) + ")",
        }[col.kind]
        if col.kind == "date":
            far = bad & _far_years(raw_col)
            bad = bad & ~far
            problems += _found("error", name, col.name, df, far, f"dates outside {FIRST_YEAR}–{LAST_YEAR}", values=raw_col)
        problems += _found("error", name, col.name, df, bad, kind_words, values=raw_col)
        if col.kind in ("number", "integer"):
            infinite = pd.Series(np.isinf(typed.to_numpy(dtype="float64", na_value=np.nan)), index=typed.index)
            problems += _found("error", name, col.name, df, infinite, "values that are not finite numbers", values=raw_col)
            if infinite.any():
                typed = typed.mask(infinite)
        if col.kind == "text":
            problems += _text_problems(name, col.name, df, typed)
        if col.required:
            p = problem_from_mask("error", name, col.name, df, blank, "empty cells; every row needs a value")
            if p:
                problems.append(p)
        out[col.name] = typed
    return pd.DataFrame(out, index=df.index, copy=False), problems, bool(missing)


def _number(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,g}"


def _found(severity: Severity, table: str, column: str, df: pd.DataFrame, mask: pd.Series, what: str,
           **kw) -> list[Problem]:
    p = problem_from_mask(severity, table, column, df, mask, what, **kw)
    return [p] if p else []


_ISO_YEAR = re.compile(r"^\s*([0-9]{1,6})-[0-9]{1,2}-[0-9]{1,2}")
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _far_years(raw: pd.Series) -> pd.Series:
    """Cells written as a date (YYYY-MM-DD…) whose year lies outside FIRST_YEAR–LAST_YEAR."""
    def far(u: pd.Series) -> pd.Series:
        years = u.astype(str).str.extract(_ISO_YEAR, expand=False)
        y = pd.to_numeric(years, errors="coerce")
        return (y < FIRST_YEAR) | (y > LAST_YEAR)
    if pd.api.types.is_datetime64_any_dtype(raw) or pd.api.types.is_numeric_dtype(raw):
        return pd.Series(False, index=raw.index)
    return _flags(raw, far)


def _has_hidden(text: str) -> bool:
    if text.isascii():
        return _ASCII_CONTROL.search(text) is not None
    return any(unicodedata.category(ch) in HIDDEN_CATEGORIES for ch in text)


def _arrow_text(u: pd.Series) -> pa.Array | None:
    """Distinct texts as an Arrow string array, for tests that run in C over a million ids; None
    for text Arrow cannot hold (a lone surrogate is not UTF-8), which is then tested in Python."""
    try:
        return pa.array(u.to_numpy(dtype=object), type=pa.string())
    except (pa.ArrowException, UnicodeError, TypeError):
        return None


def _hidden(u: pd.Series, arr: pa.Array | None) -> np.ndarray:
    """`_has_hidden` of each distinct text `u` (`arr`: `_arrow_text(u)`): ASCII text through one
    regular expression in Arrow (its only hidden characters are the ASCII controls), the rest
    character by character."""
    if arr is None:
        return u.map(_has_hidden).to_numpy(dtype=bool)
    out = pc.match_substring_regex(arr, _ASCII_CONTROL.pattern).to_numpy(zero_copy_only=False).astype(bool)
    other = np.flatnonzero(~pc.string_is_ascii(arr).to_numpy(zero_copy_only=False).astype(bool))
    if len(other):
        out[other] = [_has_hidden(t) for t in u.to_numpy(dtype=object)[other]]
    return out


def _longer_than(u: pd.Series, arr: pa.Array | None, limit: int) -> np.ndarray:
    if arr is None:
        return (u.str.len() > limit).to_numpy(dtype=bool)
    return pc.greater(pc.utf8_length(arr), limit).to_numpy(zero_copy_only=False).astype(bool)


def _starts_with_formula(u: pd.Series, arr: pa.Array | None) -> np.ndarray:
    if arr is None:
        return u.str.startswith(FORMULA_PREFIXES).to_numpy(dtype=bool)
    hits = [pc.starts_with(arr, prefix) for prefix in FORMULA_PREFIXES]
    return np.logical_or.reduce([h.to_numpy(zero_copy_only=False).astype(bool) for h in hits])


def _text_problems(table: str, column: str, df: pd.DataFrame, text: pd.Series) -> list[Problem]:
    """Identifiers and terms that would be shown, compared or exported as something else."""
    once = _factorized(text)  # one factorisation for the three tests below
    arr = _arrow_text(pd.Series(once[1], dtype=object))  # and one Arrow copy of the distinct texts
    problems = _found(
        "error", table, column, df, _flags(text, lambda u: _hidden(u, arr), once),
        "invisible or control characters (a zero-width space, a right-to-left override, a NUL …)",
        hint="They make two ids look alike or text show in another order; retype these values.",
    )
    if column == "patient_id":
        long = _flags(text, lambda u: _longer_than(u, arr, MAX_ID_CHARS), once)
        problems += _found("error", table, column, df, long, f"ids longer than {MAX_ID_CHARS} characters")
    formula = _flags(text, lambda u: _starts_with_formula(u, arr), once)
    problems += _found(
        "warning", table, column, df, formula,
        "values a spreadsheet would run as formulas (starting with =, +, -, @, a tab or a carriage return)",
        hint="Downloads write them with a leading apostrophe, so that Excel shows them as text.",
    )
    return problems


def _range_problems(table: Table, df: pd.DataFrame) -> list[Problem]:
    problems: list[Problem] = []
    first, last = pd.Timestamp(FIRST_YEAR, 1, 1), pd.Timestamp(LAST_YEAR, 12, 31)
    for col in table.columns:
        if col.kind == "date" and col.name in df.columns:
            v = df[col.name]
            problems += _found("error", table.name, col.name, df, (v < first) | (v > last),
                               f"dates outside {FIRST_YEAR}–{LAST_YEAR}")
        if col.kind not in ("number", "integer") or col.name not in df.columns:
            continue
        v = df[col.name]
        if col.minimum is not None:
            what = "negative values" if col.minimum == 0 else f"values below {col.minimum:g}"
            p = problem_from_mask("error", table.name, col.name, df, v < col.minimum, what)
            if p:
                problems.append(p)
        if col.maximum is not None:
            unit = f" {col.unit}" if col.unit else ""
            p = problem_from_mask(
                "error", table.name, col.name, df, v > col.maximum,
                f"implausible values above {_number(col.maximum)}{unit}",
            )
            if p:
                problems.append(p)
    return problems


def patient_numbers(column: pd.Series, ids: pd.Index) -> np.ndarray:
    """For each row of a patient_id column, the position of its patient in `ids` (unique), −1
    where there is none: `ids.get_indexer(column)`, but for a Categorical column (CODED_TABLES)
    through its categories, so that millions of rows are looked up as thousands of ids."""
    if isinstance(column.dtype, pd.CategoricalDtype) and not ids.hasnans:
        codes = column.cat.codes.to_numpy()
        categories = column.cat.categories
        # 32-bit positions: at a million patients the numbers of 48 M lab rows take 0.2 GB, not 0.4.
        kind = np.int32 if len(ids) < 2 ** 31 else np.int64
        if len(categories) == len(ids) and (categories.equals(ids) or np.array_equal(
                categories.to_numpy(dtype=object), ids.to_numpy(dtype=object))):  # text ids and object ids alike
            # The categories are the patients' ids in their order (as a cohort's visit tables are
            # read): each code is its patient's position, and −1 (a missing id) stays −1. Compared
            # in order, a million ids take 25 ms; looked up by hashing, 0.3–0.4 s a table.
            return codes.astype(kind)
        per_category = ids.get_indexer(categories.astype(object))
        # A missing id's code is −1, which takes the −1 put last: one array as long as the
        # column, not three (a mask, the look-up, the choice between them).
        return np.append(per_category, -1).astype(kind, copy=False).take(codes)
    return ids.get_indexer(column.astype(object))


def patients_of_rows(column: pd.Series, patients: pd.DataFrame) -> np.ndarray:
    """For each row of a child table's patient_id column, its patient's position in `patients`
    (−1: none), the ids compared as text: how a section finds its patients' visits when no
    positions are given (`results.Results` gives them from `Cohort.patient_rows`)."""
    return patient_numbers(column.astype(str), pd.Index(patients["patient_id"].astype(str)))


def rows_of_test(labs: pd.DataFrame):
    """`test → rows of that test` for a lab table, from one factorisation of its test column (a
    comparison of 4.8 M strings per test costs a tenth of a second; of their codes, a hundredth)."""
    codes, uniques = _factorized(labs["test"])  # a Categorical's own codes: 1 byte a row, not 8
    position = {u: i for i, u in enumerate(uniques)}
    index = labs.index  # (not the table: the look-up outlives it in derive)

    def rows(test: str) -> pd.Series:
        return pd.Series(codes == position.get(test, -2), index=index)
    return rows


def _lab_range_problems(labs: pd.DataFrame) -> list[Problem]:
    problems: list[Problem] = []
    test_is = rows_of_test(labs)
    for test, top in LAB_MAXIMUM.items():
        mask = test_is(test) & (labs["value"] > top)
        p = problem_from_mask(
            "error", "labs", "value", labs, mask,
            f"implausible {test} results above {top:,g} {LAB_UNITS[test]}",
        )
        if p:
            problems.append(p)
    return problems


ROWS_PER_CHECK = 4_000_000


def _against_patients(values: pd.Series, patient_dates: pd.Series, number: np.ndarray, compare) -> pd.Series:
    """`compare(date, its patient's date)` for each row (`number`: each row's patient, −1 for
    none), False where either is missing; ROWS_PER_CHECK rows at a time, so that the patients'
    dates are never spread over a whole table at once (over a million patients' 48 M lab rows,
    0.4 GB a column)."""
    v = values.to_numpy("datetime64[ns]")
    per_patient = np.append(patient_dates.to_numpy("datetime64[ns]"), np.datetime64("NaT", "ns"))  # −1: no patient
    out = np.empty(len(v), dtype=bool)
    for lo in range(0, len(v), ROWS_PER_CHECK):
        out[lo:lo + ROWS_PER_CHECK] = compare(v[lo:lo + ROWS_PER_CHECK], per_patient.take(number[lo:lo + ROWS_PER_CHECK]))
    return pd.Series(out, index=values.index)


def _date_problems(tables: dict[str, pd.DataFrame], first: pd.DataFrame, numbers: Mapping[str, np.ndarray]) -> list[Problem]:
    """`first`, `numbers`: the patients' first rows per id and each child row's number among them (_numbers)."""
    problems: list[Problem] = []
    pat = tables["patients"]
    add = problems.append

    def check(p: Problem | None) -> None:
        if p:
            add(p)

    check(problem_from_mask(
        "error", "patients", "last_follow_up", pat, pat["last_follow_up"] < pat["treatment_start"],
        "dates before treatment_start",
    ))
    for col in ("response_date", "relapse_date", "steroid_stop_date"):
        v = pat[col]
        check(problem_from_mask("error", "patients", col, pat, v < pat["treatment_start"], "dates before treatment_start"))
        check(problem_from_mask("error", "patients", col, pat, v > pat["last_follow_up"], "dates after last_follow_up"))
    check(problem_from_mask(
        "error", "patients", "relapse_date", pat, pat["relapse_date"] < pat["response_date"],
        "relapse dates before the response date",
    ))
    check(problem_from_mask(
        "error", "patients", "relapse_date", pat,
        pat["relapse_date"].notna() & pat["best_response"].eq("NR"),
        "a relapse date although best_response is NR (relapse needs a response first)",
    ))
    check(problem_from_mask(
        "error", "patients", "response_date", pat,
        pat["response_date"].notna() & pat["best_response"].eq("NR"),
        "a response date although best_response is NR",
    ))

    date_cols = {
        "labs": ("date",),
        "steroid_doses": ("start_date", "end_date"),
        "tacrolimus": ("date",),
        "adverse_events": ("onset_date",),
    }
    window = np.timedelta64(BASELINE_WINDOW_DAYS, "D")
    for name, cols in date_cols.items():
        df = tables.get(name)
        if df is None or df.empty:
            continue
        number = numbers[name]
        for col in cols:
            v = df[col]
            if name == "labs":
                early = _against_patients(v, first["treatment_start"], number, lambda v, s: v < s - window)
                check(problem_from_mask(
                    "warning", name, col, df, early,
                    f"results more than {BASELINE_WINDOW_DAYS} days before treatment_start; they were ignored",
                ))
            else:
                check(problem_from_mask("error", name, col, df, _against_patients(v, first["treatment_start"], number, np.less),
                                        "dates before the patient's treatment_start"))
            if not (name == "steroid_doses" and col == "start_date"):
                check(problem_from_mask("error", name, col, df, _against_patients(v, first["last_follow_up"], number, np.greater),
                                        "dates after the patient's last_follow_up"))
    sd = tables.get("steroid_doses")
    if sd is not None and not sd.empty:
        check(problem_from_mask(
            "error", "steroid_doses", "end_date", sd, sd["end_date"] < sd["start_date"], "end dates before start_date",
        ))
    return problems


def _numbers(tables: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The patients table's rows with a first occurrence of an id (all rows when ids are unique),
    and each child table row's patient as its number among them, −1 for an id not there; found
    once per table, through a Categorical's categories (patient_numbers)."""
    pat = tables["patients"]
    first = pat[~pat["patient_id"].duplicated().to_numpy()]
    ids = pd.Index(first["patient_id"])
    return first, {name: patient_numbers(tables[name]["patient_id"], ids) for name in CHILD_TABLES if name in tables}


def _link_problems(tables: dict[str, pd.DataFrame], first: pd.DataFrame, numbers: Mapping[str, np.ndarray]) -> list[Problem]:
    problems: list[Problem] = []
    pat = tables["patients"]
    ids = pat["patient_id"]
    dup = ids.notna() & ids.duplicated(keep=False)
    p = problem_from_mask("error", "patients", "patient_id", pat, dup, "duplicate patient ids; each patient needs one row")
    if p:
        problems.append(p)
    for name in CHILD_TABLES:
        df = tables.get(name)
        if df is None or df.empty:
            continue
        orphan = df["patient_id"].notna() & pd.Series(numbers[name] < 0, index=df.index)
        p = problem_from_mask(
            "error", name, "patient_id", df, orphan, "patient ids that are not in the patients table",
        )
        if p:
            problems.append(p)
    tac = tables.get("tacrolimus")
    if tac is not None and not tac.empty:
        arm = pd.Series(first["arm"].array.take(numbers["tacrolimus"], allow_fill=True), index=tac.index)
        p = problem_from_mask(
            "error", "tacrolimus", "patient_id", tac, arm.eq(ARM_CONTROL),
            "records although the patient is in the control (steroid alone) arm", by="patient",
        )
        if p:
            problems.append(p)
    return problems


def _coverage_warnings(tables: dict[str, pd.DataFrame], numbers: Mapping[str, np.ndarray]) -> list[Problem]:
    """Warnings that do not stop the analysis but change what a number rests on. (Run on a cohort
    without errors: ids are unique, so a patient's number is its row.)"""
    problems: list[Problem] = []
    pat = tables["patients"]
    labs = tables.get("labs")
    if labs is None:
        labs = empty_table(LABS)
    number = numbers.get("labs", np.zeros(0, dtype=np.int64))
    # Which patients have results of each test, by patient number.
    test_is = rows_of_test(labs)
    has_test = {}
    for t in LAB_TESTS:
        has_test[t] = np.zeros(len(pat), dtype=bool)
        has_test[t][number[test_is(t).to_numpy()]] = True
    needs_hb = pat["diagnosis"].isin([AIHA, ES])
    has_hb = pd.Series(has_test[HGB], index=pat.index)
    markers = pd.Series(np.logical_or.reduce([has_test[t] for t in HEMOLYSIS_MARKERS]), index=pat.index)
    p = problem_from_mask(
        "warning", "labs", None, pat, needs_hb & has_hb & ~markers,
        "with AIHA or Evans syndrome have hemoglobin results but no hemolysis markers (RET, LDH, TBIL), "
        "so their complete response rests on hemoglobin alone",
        by="patient",
    )
    if p:
        problems.append(p)
    lineage_ok = np.where(
        pat["diagnosis"].eq(ITP), has_test[PLT],
        np.where(pat["diagnosis"].eq(AIHA), has_hb, has_test[PLT] & has_hb),
    )
    no_data = ~pd.Series(lineage_ok, index=pat.index) & pat["best_response"].isna()
    p = problem_from_mask(
        "warning", "patients", None, pat, no_data,
        "with neither the lab results their diagnosis needs nor a recorded best_response; "
        "they are left out of the response and relapse analyses",
        by="patient",
    )
    if p:
        problems.append(p)
    return problems


def _renumbered(df: pd.DataFrame) -> pd.DataFrame:
    """The table with rows numbered from 0, its columns not copied."""
    df = df.copy(deep=False)
    df.index = pd.RangeIndex(len(df))
    return df


def validate(raw: Mapping[str, pd.DataFrame], release: bool = False) -> tuple[Tables | None, ValidationReport]:
    """Check raw tables against the format. Returns typed tables (None when there are errors)
    and the report of every problem found. With `release`, each table is removed from `raw` (a
    dict) once typed, so that the tables as read and as typed are not all held at once (a
    million-patient cohort's tables as read take 2.9 GB)."""
    problems: list[Problem] = []
    if "patients" not in raw:
        found = ", ".join(repr(k) for k in raw) or "none"
        msg = (
            "The cohort has no 'patients' table (tables found: "
            f"{found}). Name the sheet or file 'patients'; the other tables are "
            + ", ".join(CHILD_TABLES) + "."
        )
        return None, ValidationReport((Problem("error", "patients", None, 0, (), msg),))
    typed: dict[str, pd.DataFrame] = {}
    structural = False
    present = tuple(n for n in TABLES if n in raw)
    for name, table in TABLES.items():
        if name not in raw:
            continue
        df, probs, missing = _type_table(table, raw[name])
        if release:
            del raw[name]
            release_memory(len(df))
        problems += probs
        structural |= missing
        typed[name] = df
    if typed["patients"].empty:
        problems.append(Problem("error", "patients", None, 0, (), "patients: the table has no rows."))
    if not structural:
        for name, table in TABLES.items():
            if name in typed:
                problems += _range_problems(table, typed[name])
        if "labs" in typed:
            problems += _lab_range_problems(typed["labs"])
        first, numbers = _numbers(typed)
        problems += _link_problems(typed, first, numbers)
        problems += _date_problems(typed, first, numbers)
        if not any(p.severity == "error" for p in problems):
            problems += _coverage_warnings(typed, numbers)
    report = ValidationReport(tuple(problems))
    if not report.ok:
        return None, report
    clean = {n: _renumbered(typed.get(n, empty_table(TABLES[n]))) for n in TABLES}
    # Defaults for optional flags: an empty cell means "no".
    for c in ("bleeding", "transfused"):
        clean["labs"][c] = clean["labs"][c].fillna(False).astype(bool)
    clean["adverse_events"]["serious"] = clean["adverse_events"]["serious"].astype(bool)
    clean["adverse_events"]["grade"] = clean["adverse_events"]["grade"].astype("int64")
    return Tables(**clean, present=present), report
