"""Text that a spreadsheet would run as a formula, made harmless before it is written.

Excel and LibreOffice run a cell that starts with =, +, -, @, a tab or a carriage return as a
formula, from a CSV as from an .xlsx: an id such as =HYPERLINK("http://…?"&A2) sends a cell
to another site when the file is opened, and =cmd|' /C calc'!A0 starts a program (OWASP, "CSV
injection"). Every CSV and .xlsx the dashboard writes passes its text cells through `neutralise`,
which puts an apostrophe in front of such a value (OWASP's advice): the spreadsheet shows the
value as text. Numbers stay numbers: -3 in a number column is a number, not text.
"""

from __future__ import annotations

import pandas as pd

from .schema import FORMULA_PREFIXES


def neutralise_text(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of `df` whose text cells cannot run as formulas (see the module's docstring)."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            risky = s.astype("string").str.startswith(FORMULA_PREFIXES).fillna(False).astype(bool)
            if risky.any():
                out[col] = s.astype(object).where(~risky, "'" + s.astype("string").astype(object))
    # Column names are text too.
    out.columns = [neutralise_text(c) for c in out.columns]
    return out
