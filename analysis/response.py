"""Best response by arm: ORR (CR + R/PR) and CRR with Wilson CIs, the difference with a Newcombe
CI, Fisher or χ², the odds ratio, the same by diagnosis, a Cochran–Mantel–Haenszel test
stratified by diagnosis, the best-response distribution, and time to first response (KM)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .proportions import Comparison, StratifiedComparison, cochran_mantel_haenszel, compare
from .schema import ARM_CONTROL, ARM_TACROLIMUS, ARMS, DIAGNOSES
from .survival import ArmComparison, compare_arms

ENDPOINTS = {"orr": ("responded", "responders"), "crr": ("complete_response", "complete responses")}
RESPONSE_GROUPS = ("CR", "R/PR", "NR")


def assessable(patients: pd.DataFrame) -> pd.DataFrame:
    """Patients whose best response is known (from labs or recorded)."""
    return patients[patients["responded"].notna()]


def _compare(df: pd.DataFrame, column: str, what: str) -> Comparison:
    a = df.loc[df["arm"] == ARM_TACROLIMUS, column].astype(bool)
    b = df.loc[df["arm"] == ARM_CONTROL, column].astype(bool)
    return compare(int(a.sum()), len(a), int(b.sum()), len(b), what=what)


@dataclass(frozen=True)
class ResponseResult:
    orr: Comparison
    crr: Comparison
    by_diagnosis: pd.DataFrame
    cmh: dict[str, StratifiedComparison]
    distribution: pd.DataFrame
    time_to_response: ArmComparison
    not_assessable: int


def by_diagnosis(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for dx in DIAGNOSES:
        sub = df[df["diagnosis"] == dx]
        for key, (column, what) in ENDPOINTS.items():
            c = _compare(sub, column, what)
            rows.append({
                "diagnosis": dx, "endpoint": key.upper(),
                "tacrolimus_events": c.a.events, "tacrolimus_n": c.a.n, "tacrolimus_rate": c.a.rate,
                "tacrolimus_ci_low": c.a.ci_low, "tacrolimus_ci_high": c.a.ci_high,
                "control_events": c.b.events, "control_n": c.b.n, "control_rate": c.b.rate,
                "control_ci_low": c.b.ci_low, "control_ci_high": c.b.ci_high,
                "difference": c.difference, "difference_ci_low": c.difference_ci[0], "difference_ci_high": c.difference_ci[1],
                "p_value": c.p_value, "test": c.test, "odds_ratio": c.odds_ratio, "reason": c.reason,
            })
    return pd.DataFrame(rows)


def distribution(df: pd.DataFrame) -> pd.DataFrame:
    group = df["best_response"].map({"CR": "CR", "R": "R/PR", "PR": "R/PR", "NR": "NR"})
    counts = pd.crosstab(df["arm"], group).reindex(index=list(ARMS), columns=list(RESPONSE_GROUPS), fill_value=0)
    tidy = counts.stack().rename("patients").reset_index().rename(columns={"best_response": "response"})
    tidy.columns = ["arm", "response", "patients"]
    totals = tidy.groupby("arm")["patients"].transform("sum")
    tidy["share"] = (tidy["patients"] / totals).where(totals > 0)
    return tidy


def best_response(patients: pd.DataFrame) -> ResponseResult:
    df = assessable(patients)
    cmh = {}
    for key, (column, _) in ENDPOINTS.items():
        tables = {}
        for dx in DIAGNOSES:
            sub = df[df["diagnosis"] == dx]
            a = sub.loc[sub["arm"] == ARM_TACROLIMUS, column].astype(bool)
            b = sub.loc[sub["arm"] == ARM_CONTROL, column].astype(bool)
            tables[dx] = [[int(a.sum()), int((~a).sum())], [int(b.sum()), int((~b).sum())]]
        cmh[key] = cochran_mantel_haenszel(tables)
    ttr = df.assign(
        ttr_months=df["time_to_response_months"].where(df["responded"].astype(bool), df["follow_up_months"]),
    )
    ttr = ttr[~(ttr["responded"].astype(bool) & ttr["time_to_response_months"].isna())]
    return ResponseResult(
        orr=_compare(df, "responded", "responders"),
        crr=_compare(df, "complete_response", "complete responses"),
        by_diagnosis=by_diagnosis(df),
        cmh=cmh,
        distribution=distribution(df),
        time_to_response=compare_arms(ttr, "ttr_months", "responded", landmarks=(1.0, 3.0, 6.0)),
        not_assessable=int(len(patients) - len(df)),
    )
