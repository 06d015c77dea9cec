"""What the Data page hands out: the data dictionary and a template workbook with the right
sheets, columns and a few example rows (taken from the synthetic cohort)."""

from __future__ import annotations

import io

import pandas as pd

from .schema import ARMS, TABLES, Tables
from .spreadsheet import neutralise

KIND_WORDS = {"text": "text", "code": "code", "number": "number", "integer": "whole number", "date": "date (YYYY-MM-DD)",
              "bool": "yes/no"}


def data_dictionary() -> pd.DataFrame:
    """One row per column of every table: table, column, required, type, unit, allowed codes, meaning."""
    rows = []
    for t in TABLES.values():
        for c in t.columns:
            rows.append({"table": t.name, "column": c.name, "required": "yes" if c.required else "no",
                         "type": KIND_WORDS[c.kind], "unit": c.unit, "codes": ", ".join(c.codes), "meaning": c.description})
    return pd.DataFrame(rows)


TEMPLATE_NAME = "Template workbook: example rows from the synthetic cohort"


def template_workbook(example: Tables, per_arm: int = 2) -> bytes:
    """An .xlsx with one sheet per table (every column of the format, in order), the rows of the
    first `per_arm` patients of each arm of `example`, a README sheet with the dictionary and a
    'cohort' sheet that names the rows as examples (synthetic: yes), so that uploading the template
    as it is shows two comparable arms of example patients, never "department data"."""
    p = example.patients
    ids = [str(i) for arm in ARMS for i in p.loc[p["arm"] == arm, "patient_id"].head(per_arm)]
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        pd.DataFrame({"key": ["name", "synthetic"], "value": [TEMPLATE_NAME, "yes"]}).to_excel(
            xw, sheet_name="cohort", index=False)
        for name, table in TABLES.items():
            df = example.get(name)
            df = df[df["patient_id"].astype(str).isin(ids)]
            if name in ("labs", "steroid_doses", "tacrolimus"):
                df = df.groupby("patient_id", sort=False, observed=True).head(6)
            out = df.reindex(columns=list(table.column_names)).copy()
            for col in table.columns:
                if col.kind == "date":
                    out[col.name] = pd.to_datetime(out[col.name]).dt.date
            neutralise(out).to_excel(xw, sheet_name=name, index=False)
        data_dictionary().to_excel(xw, sheet_name="README", index=False)
    return buf.getvalue()
