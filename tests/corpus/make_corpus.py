"""Writes the broken cohorts of tests/corpus/ and their table (cases.csv). Each case is a file a
department might really send, and the sentence fragment the user must be told. Also writes the
hostile files of testkit/hostile.py that are small enough to keep (tests/corpus/hostile/).

    python tests/corpus/make_corpus.py
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from analysis.cohort import DEFAULT_COHORT
from testkit.files import xlsx_bytes as xlsx, zip_bytes as zipped

HERE = Path(__file__).resolve().parent

SHIPPED = {f.stem: pd.read_parquet(f) for f in sorted(DEFAULT_COHORT.glob("*.parquet"))}
GOOD = "patient_id,arm,diagnosis,sex,age,treatment_start,last_follow_up,best_response\n"
ROW = "P1,control,ITP,F,40,2020-01-01,2021-01-01,NR\n"


def csv_bytes(text: str) -> bytes:
    return text.encode("utf-8")


def parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def small(**changes) -> dict[str, pd.DataFrame]:
    """Five shipped patients (ITP in both arms, AIHA, Evans) and their rows, changed by callables."""
    pats = SHIPPED["patients"]
    itp = pats[pats["diagnosis"] == "ITP"]
    p = pd.concat([itp[itp["arm"] == "tacrolimus"].head(2), itp[itp["arm"] == "control"].head(1),
                   pats[pats["diagnosis"] == "AIHA"].head(1), pats[pats["diagnosis"] == "ES"].head(1)]).reset_index(drop=True)
    ids = set(p["patient_id"])
    out = {"patients": p}
    for name in ("labs", "steroid_doses", "tacrolimus", "adverse_events"):
        out[name] = SHIPPED[name][SHIPPED[name]["patient_id"].isin(ids)].copy()
    for name, fn in changes.items():
        out[name] = fn(out[name].copy())
    return out


def setcell(col, value, row=0):
    def fn(df):
        df = df.astype({col: object})
        df.iloc[row, df.columns.get_loc(col)] = value
        return df
    return fn


CASES: list[tuple[str, bytes, str, str]] = [
    ("not-a-table.csv", b"\x89PNG\r\n\x1a\n\x00\x00binary", "not a CSV text file", "an image renamed .csv"),
    ("empty.csv", b"", "is empty", "a file with no bytes"),
    ("blank-lines.csv", b"\n \n\n", "is empty", "only blank lines"),
    ("header-only.csv", csv_bytes(GOOD), "has a header line but no rows", "column names, no patients"),
    ("latin1.csv", GOOD.replace("patient_id", "patient_id,rémarque").encode("latin-1"), "not UTF-8", "saved in a legacy encoding"),
    ("not-parquet.parquet", b"this is text, not parquet", "not a Parquet file", "text with a .parquet name"),
    ("truncated.parquet", (DEFAULT_COHORT / "patients.parquet").read_bytes()[:4000], "truncated or damaged", "a download cut short"),
    ("empty.parquet", b"", "is empty", "a Parquet file with no bytes"),
    ("not-xlsx.xlsx", b"plain text", "not an Excel .xlsx workbook", "text with an .xlsx name"),
    ("old-excel.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old-style Excel (.xls)", "Excel 97-2003 format"),
    ("broken.zip", b"PK\x03\x04broken", "not a readable .zip", "a damaged archive"),
    ("wrong-things.zip", zipped({"photo.jpg": b"\xff\xd8", "notes.docx": b"PK"}), "no Parquet or CSV files named after the cohort tables", "a zip of the wrong files"),
    ("two-patients.zip", zipped({"a/patients.csv": csv_bytes(GOOD + ROW), "b/patients.csv": csv_bytes(GOOD + ROW)}), "more than one file named 'patients'", "two patients tables"),
    ("wrong-sheet-names.xlsx", xlsx({"Sheet1": SHIPPED["patients"].head(3), "Sheet2": SHIPPED["labs"].head(3)}), "no 'patients' sheet", "sheets left with Excel's default names"),
    ("missing-columns.csv", csv_bytes("patient_id,arm\nP1,control\n"), "are missing", "required columns absent"),
    ("duplicate-column.csv", csv_bytes("patient_id,Arm,arm,diagnosis,sex,age,treatment_start,last_follow_up\nP1,control,control,ITP,F,40,2020-01-01,2021-01-01\n"), "all mean 'arm'", "the same column twice in different case"),
    ("text-in-age.csv", csv_bytes(GOOD + "P1,control,ITP,F,forty,2020-01-01,2021-01-01,NR\n"), "not numbers", "a word in a number column"),
    ("decimal-comma.csv", csv_bytes(GOOD + 'P1,control,ITP,F,"40,5",2020-01-01,2021-01-01,NR\n'), "not numbers", "a decimal comma"),
    ("ambiguous-date.csv", csv_bytes(GOOD + "P1,control,ITP,F,40,03/04/2020,2021-01-01,NR\n"), "not dates", "a day/month date"),
    ("excel-serial-date.xlsx", xlsx({"patients": pd.DataFrame({"patient_id": ["P1"], "arm": ["control"], "diagnosis": ["ITP"], "sex": ["F"], "age": [40], "treatment_start": [43831], "last_follow_up": [44197], "best_response": ["NR"]})}), "not dates", "dates shown as Excel serial numbers"),
    ("bad-yes-no.xlsx", xlsx(small(adverse_events=setcell("serious", "maybe"))), "not yes/no", "a yes/no column with another word"),
    ("unknown-arm.csv", csv_bytes(GOOD + "P1,placebo,ITP,F,40,2020-01-01,2021-01-01,NR\n"), "unknown codes (allowed: tacrolimus, control)", "an arm that is not in the study"),
    ("unknown-diagnosis.csv", csv_bytes(GOOD + "P1,control,TTP,F,40,2020-01-01,2021-01-01,NR\n"), "allowed: ITP, AIHA, ES", "a diagnosis outside the study"),
    ("unknown-sex.csv", csv_bytes(GOOD + "P1,control,ITP,X,40,2020-01-01,2021-01-01,NR\n"), "allowed: M, F", "a sex code that is not M or F"),
    ("unknown-lab-test.xlsx", xlsx(small(labs=setcell("test", "WBC"))), "allowed: PLT, HGB, RET, LDH, TBIL", "a lab test the format does not know"),
    ("unknown-drug.xlsx", xlsx(small(steroid_doses=setcell("drug", "budesonide"))), "allowed: prednisone", "a steroid the format does not convert"),
    ("empty-required-cell.csv", csv_bytes(GOOD + "P1,control,ITP,,40,2020-01-01,2021-01-01,NR\n"), "empty cells", "a blank sex"),
    ("duplicate-ids.csv", csv_bytes(GOOD + ROW + ROW.replace("40", "41")), "duplicate patient ids", "one patient twice"),
    ("orphan-labs.xlsx", xlsx(small(labs=setcell("patient_id", "NOBODY"))), "not in the patients table", "lab rows for an unknown patient"),
    ("control-on-tacrolimus.xlsx", xlsx(small(tacrolimus=lambda df: pd.concat([df, df.head(1).assign(patient_id=small()["patients"].query("arm == 'control'")["patient_id"].iloc[0])]))), "control (steroid alone) arm", "tacrolimus records for a control patient"),
    ("follow-up-before-start.csv", csv_bytes(GOOD + "P1,control,ITP,F,40,2020-01-01,2019-01-01,NR\n"), "dates before treatment_start", "last follow-up before treatment start"),
    ("lab-after-follow-up.xlsx", xlsx(small(labs=setcell("date", pd.Timestamp("2035-01-01")))), "after the patient's last_follow_up", "a lab result after the last visit"),
    ("dose-end-before-start.xlsx", xlsx(small(steroid_doses=setcell("end_date", pd.Timestamp("2000-01-01")))), "end dates before start_date", "a steroid period ending before it starts"),
    ("relapse-before-response.csv", csv_bytes(GOOD.replace("best_response", "best_response,response_date,relapse_date") + "P1,control,ITP,F,40,2020-01-01,2021-01-01,CR,2020-06-01,2020-03-01\n"), "relapse dates before the response date", "relapse recorded before response"),
    ("negative-age.csv", csv_bytes(GOOD + "P1,control,ITP,F,-4,2020-01-01,2021-01-01,NR\n"), "negative values", "a negative age"),
    ("absurd-platelets.xlsx", xlsx(small(labs=lambda df: df.assign(value=df["value"].where(df["test"] != "PLT", 5000.0)))), "implausible PLT results above 2,000", "platelets in the wrong unit"),
    ("absurd-hemoglobin.xlsx", xlsx(small(labs=lambda df: df.assign(value=df["value"].where(df["test"] != "HGB", 1300.0)))), "implausible HGB results above 250 g/L", "Hb in g/dL×100 or mmol mix-up"),
    ("absurd-steroid-dose.xlsx", xlsx(small(steroid_doses=setcell("daily_dose_mg", 5000))), "implausible values above 2,000 mg", "a daily steroid dose of 5 g"),
    ("grade-six.xlsx", xlsx(small(adverse_events=setcell("grade", 6))), "implausible values above 5", "a CTCAE grade that does not exist"),
    ("contradicting-endpoint.xlsx", xlsx(small(patients=lambda df: df.assign(best_response="NR"))), "contradicts the lab results", "a recorded response the labs do not show"),
    ("formulas-and-html.csv", csv_bytes(GOOD + 'P1,=HYPERLINK("http://x"),ITP,F,40,2020-01-01,2021-01-01,NR\nP2,<script>alert(1)</script>,ITP,F,40,2020-01-01,2021-01-01,NR\n'), "unknown codes", "a spreadsheet formula and HTML in cells"),
    ("unicode-names.csv", csv_bytes(GOOD.replace("patient_id", "patient_id,患者备注") + "病人-1,备注,control,ITP,F,40,2020-01-01,2021-01-01,NR\n"), "not part of the format", "Unicode ids and an extra Unicode column (loads, with a warning)"),
]


def write_hostile() -> None:
    """The hostile files small enough to keep (tests/corpus/hostile/), and their table."""
    from testkit import hostile

    hostile.STORED.mkdir(exist_ok=True)
    rows = []
    for case in hostile.CASES:
        data = case.build()
        kept = len(data) < hostile.KEEP_BELOW
        if kept:
            (hostile.STORED / case.file).write_bytes(data)
        rows.append({"file": case.file, "what it is": case.what, "the user is told": case.told or "(loads)",
                     "bytes": len(data), "kept here": "yes" if kept else "no: built by the tests"})
    with open(hostile.STORED / "cases.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} hostile cases, {sum(r['kept here'] == 'yes' for r in rows)} kept in {hostile.STORED}")


def main() -> None:
    write_hostile()
    rows = []
    for name, data, told, what in CASES:
        (HERE / name).write_bytes(data)
        rows.append({"file": name, "what it is": what, "the user is told": told})
    with open(HERE / "cases.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["file", "what it is", "the user is told"])
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} cases written to {HERE}")


if __name__ == "__main__":
    main()
