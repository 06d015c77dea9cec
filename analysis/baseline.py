"""Table 1: baseline characteristics by arm, with a p-value per row chosen the way tableone
chooses (Mann–Whitney for skewed continuous values; χ², or Fisher when an expected count is
below 5) and the standardised mean difference."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .continuous import MANN_WHITNEY, mann_whitney_p, summarise
from .proportions import choose_test, table_p_value
from .schema import ARM_CONTROL, ARM_TACROLIMUS, DIAGNOSES, LAB_UNITS, PLT, HGB

NAN = float("nan")


def smd_continuous(a: pd.Series, b: pd.Series) -> float:
    x, y = a.dropna().astype(float), b.dropna().astype(float)
    if len(x) < 2 or len(y) < 2:
        return NAN
    pooled = math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2)
    return float(abs(x.mean() - y.mean()) / pooled) if pooled > 0 else NAN


def smd_categorical(a: pd.Series, b: pd.Series, levels: list[str]) -> float:
    """Yang & Dalton (2012) multinomial SMD; for two levels it is the usual binary SMD.
    Written here because no maintained library we depend on has it (tableone, which does,
    would add a dependency for one formula)."""
    if len(a) == 0 or len(b) == 0:
        return NAN
    p = np.array([(a == lv).mean() for lv in levels])[1:]
    q = np.array([(b == lv).mean() for lv in levels])[1:]
    cov = lambda v: np.diag(v) - np.outer(v, v)  # noqa: E731 - covariance of a multinomial share vector
    s = (cov(p) + cov(q)) / 2
    d = p - q
    if not d.any():
        return 0.0
    return float(math.sqrt(max(d @ np.linalg.pinv(s) @ d, 0.0)))


def _fmt_iqr(s) -> str:
    return "–" if s.n == 0 else f"{s.median:.3g} [{s.q1:.3g}–{s.q3:.3g}]"


def table1(patients: pd.DataFrame) -> pd.DataFrame:
    """Columns: variable, level, tacrolimus, control (display text), p_value, test, smd."""
    a = patients[patients["arm"] == ARM_TACROLIMUS]
    b = patients[patients["arm"] == ARM_CONTROL]
    rows: list[dict] = [{"variable": "Patients, n", "level": "", "tacrolimus": str(len(a)), "control": str(len(b)),
                         "p_value": NAN, "test": "", "smd": NAN}]

    def continuous(label: str, column: str, subset=None) -> None:
        x = a if subset is None else a[a["diagnosis"].isin(subset)]
        y = b if subset is None else b[b["diagnosis"].isin(subset)]
        p, _ = mann_whitney_p(x[column], y[column])
        rows.append({"variable": label, "level": "median [IQR]", "tacrolimus": _fmt_iqr(summarise(x[column])),
                     "control": _fmt_iqr(summarise(y[column])), "p_value": p, "test": MANN_WHITNEY if not math.isnan(p) else "",
                     "smd": smd_continuous(x[column], y[column])})

    def categorical(label: str, column: str, levels: list[str], show: list[str] | None = None) -> None:
        table = np.array([[(a[column] == lv).sum() for lv in levels], [(b[column] == lv).sum() for lv in levels]])
        test = choose_test(table)
        p = table_p_value(table, test)
        smd = smd_categorical(a[column], b[column], levels)
        for i, lv in enumerate(show or levels):
            j = levels.index(lv)
            pa = f"{table[0, j]} ({table[0, j] / len(a):.1%})" if len(a) else "0"
            pb = f"{table[1, j]} ({table[1, j] / len(b):.1%})" if len(b) else "0"
            first = i == 0
            rows.append({"variable": label if first else "", "level": lv, "tacrolimus": pa, "control": pb,
                         "p_value": p if first else NAN, "test": test if first and not math.isnan(p) else "",
                         "smd": smd if first else NAN})

    continuous("Age, years", "age")
    rows.append({"variable": "Age range, years", "level": "min–max",
                 "tacrolimus": f"{a['age'].min():g}–{a['age'].max():g}" if len(a) else "–",
                 "control": f"{b['age'].min():g}–{b['age'].max():g}" if len(b) else "–",
                 "p_value": NAN, "test": "", "smd": NAN})
    categorical("Sex, n (%)", "sex", ["F", "M"], show=["M", "F"])
    categorical("Diagnosis, n (%)", "diagnosis", list(DIAGNOSES))
    continuous(f"Baseline platelets, {LAB_UNITS[PLT]} (ITP, ES)", "baseline_plt", subset=("ITP", "ES"))
    continuous(f"Baseline hemoglobin, {LAB_UNITS[HGB]} (AIHA, ES)", "baseline_hgb", subset=("AIHA", "ES"))
    continuous("Follow-up, months", "follow_up_months")
    return pd.DataFrame(rows)


def table1_display(t: pd.DataFrame) -> pd.DataFrame:
    """Table 1 as text for a page or a slide: p with 3 decimals (< 0.001), SMD with 2, blanks for none."""
    out = t.rename(columns={"variable": "Characteristic", "level": "", "tacrolimus": "Tacrolimus + steroid",
                            "control": "Steroid alone", "p_value": "p", "test": "Test", "smd": "SMD"}).copy()
    out["p"] = [("" if p != p else "< 0.001" if p < 0.001 else f"{p:.3f}") for p in t["p_value"]]
    out["SMD"] = ["" if v != v else f"{v:.2f}" for v in t["smd"]]
    return out
