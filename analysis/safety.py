"""Adverse events by arm (any, steroid-related, tacrolimus-related, grade ≥ 3, serious; and by
term), and drug expenses at 18 months."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .continuous import TwoGroups, compare_values
from .proportions import Comparison, compare
from .schema import ARM_CONTROL, ARM_TACROLIMUS

AE_FLAGS = {
    "any_ae": "Any adverse event",
    "steroid_ae": "Steroid-related",
    "tacrolimus_ae": "Tacrolimus-related",
    "grade3_ae": "Grade ≥ 3",
    "serious_ae": "Serious",
}


def incidence(patients: pd.DataFrame) -> dict[str, Comparison]:
    out = {}
    for flag in AE_FLAGS:
        a = patients.loc[patients["arm"] == ARM_TACROLIMUS, flag].astype(bool)
        b = patients.loc[patients["arm"] == ARM_CONTROL, flag].astype(bool)
        out[flag] = compare(int(a.sum()), len(a), int(b.sum()), len(b), what="events")
    return out


def by_term(patients: pd.DataFrame, adverse_events: pd.DataFrame) -> pd.DataFrame:
    """Patients with each term, by arm, with Fisher or χ². Columns: term, category,
    tacrolimus_patients, tacrolimus_rate, control_patients, control_rate, p_value, test."""
    n_a = int((patients["arm"] == ARM_TACROLIMUS).sum())
    n_b = int((patients["arm"] == ARM_CONTROL).sum())
    arm = patients.set_index(patients["patient_id"].astype(str))["arm"]
    ae = adverse_events.assign(patient_id=adverse_events["patient_id"].astype(str))
    ae = ae[ae["patient_id"].isin(arm.index)].assign(arm=lambda d: d["patient_id"].map(arm))
    counts = ae.drop_duplicates(["patient_id", "term", "category"]).groupby(["term", "category", "arm"]).size().unstack("arm")
    counts = counts.reindex(columns=[ARM_TACROLIMUS, ARM_CONTROL]).fillna(0).astype(int)
    rows = []
    for (term, category), r in counts.iterrows():  # one row per AE term (dozens), not per patient
        c = compare(int(r[ARM_TACROLIMUS]), n_a, int(r[ARM_CONTROL]), n_b, with_odds_ratio=False)
        rows.append({"term": term, "category": category,
                     "tacrolimus_patients": c.a.events, "tacrolimus_rate": c.a.rate,
                     "control_patients": c.b.events, "control_rate": c.b.rate,
                     "p_value": c.p_value, "test": c.test})
    cols = ["term", "category", "tacrolimus_patients", "tacrolimus_rate", "control_patients", "control_rate", "p_value", "test"]
    return pd.DataFrame(rows, columns=cols).sort_values(["category", "term"], ignore_index=True)


@dataclass(frozen=True)
class SafetyResult:
    incidence: dict[str, Comparison]
    by_term: pd.DataFrame
    cost: TwoGroups


def safety(patients: pd.DataFrame, adverse_events: pd.DataFrame) -> SafetyResult:
    a = patients.loc[patients["arm"] == ARM_TACROLIMUS, "drug_cost_18m"]
    b = patients.loc[patients["arm"] == ARM_CONTROL, "drug_cost_18m"]
    return SafetyResult(incidence(patients), by_term(patients, adverse_events), compare_values(a, b))
