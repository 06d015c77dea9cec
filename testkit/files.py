"""Building cohort files in memory for tests and the corpus: an .xlsx with one sheet per table,
a .zip of named files, and a smaller cohort cut from the shipped one."""

from __future__ import annotations

import io
import zipfile

import pandas as pd


def xlsx_bytes(sheets: dict[str, pd.DataFrame]) -> bytes:
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        for name, df in sheets.items():
            df.to_excel(xw, sheet_name=name, index=False)
    return buf.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def shipped_subset(n: int) -> dict[str, pd.DataFrame]:
    """The shipped cohort's first n patients and all their rows, table by table: a department's
    own cohort for tests that upload or mount one."""
    from analysis.cohort import DEFAULT_COHORT

    frames = {f.stem: pd.read_parquet(f) for f in sorted(DEFAULT_COHORT.glob("*.parquet"))}
    keep = set(frames["patients"]["patient_id"].head(n))
    return {name: df[df["patient_id"].isin(keep)] for name, df in frames.items()}
