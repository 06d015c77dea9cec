"""Adverse events by arm (any, steroid-related, tacrolimus-related, grade ≥ 3, serious; and by
term), and drug expenses at 18 months."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .continuous import TwoGroups, compare_values
from .proportions import Comparison, compare, compare_flags
from .schema import AE_FLAGS, ARM_CONTROL, ARM_TACROLIMUS, ARMS, by_arm, patients_of_rows


def incidence(patients: pd.DataFrame) -> dict[str, Comparison]:
    """Share of patients with each kind of adverse event (the yes/no columns of `schema.AE_FLAGS`:
    any_ae, steroid_ae, tacrolimus_ae, grade3_ae, serious_ae), tacrolimus against control.

    Returns {flag: `proportions.Comparison`}: Wilson 95% CI per arm, Newcombe (method 10) CI of the
    difference, Fisher's exact test when an expected count is below 5 else χ² with Yates'
    correction, and the odds ratio (see `proportions.compare`). Denominator: all patients of the arm.

    >>> import pandas as pd
    >>> p = pd.DataFrame({"arm": ["tacrolimus"] * 3 + ["control"] * 3,
    ...                   "any_ae": [True, True, False, True, False, False],
    ...                   "steroid_ae": False, "tacrolimus_ae": False, "grade3_ae": False, "serious_ae": False})
    >>> inc = incidence(p)
    >>> inc["any_ae"].a.events, inc["any_ae"].b.events, inc["any_ae"].test, round(inc["any_ae"].p_value, 3)
    (2, 1, "Fisher's exact test", 1.0)
    >>> inc["serious_ae"].reason
    'no events in either arm'
    """
    out = {}
    for flag in AE_FLAGS:
        out[flag] = compare_flags(*by_arm(patients, flag), what="events")
    return out


def by_term(patients: pd.DataFrame, adverse_events: pd.DataFrame, patient_of_row: np.ndarray | None = None) -> pd.DataFrame:
    """Patients with each term, by arm, with Fisher or χ². Columns: term, category,
    tacrolimus_patients, tacrolimus_rate, control_patients, control_rate, p_value, test.

    A patient counts once per term (and category) however many events they had; the rate's
    denominator is every patient of the arm in `patients` (events of other patients are ignored).
    Only terms that occur are listed, sorted by category and term. Test as `proportions.compare`:
    Fisher's exact test when an expected count is below 5, else χ² with Yates' correction; no odds
    ratio, no adjustment for multiplicity. `patient_of_row`: each event's patient as a position in
    `patients` (−1: not one of them), when known (`results.Results`); otherwise the ids are looked up.

    >>> import pandas as pd
    >>> p = pd.DataFrame({"patient_id": ["p1", "p2", "p3", "p4", "p5", "p6"],
    ...                   "arm": ["tacrolimus"] * 3 + ["control"] * 3})
    >>> ae = pd.DataFrame({"patient_id": ["p1", "p1", "p2", "p4", "p9"],
    ...                    "term": ["Tremor", "Tremor", "Hyperglycaemia", "Hyperglycaemia", "Tremor"],
    ...                    "category": ["Neurological", "Neurological", "Metabolic", "Metabolic", "Neurological"]})
    >>> by_term(p, ae)[["term", "tacrolimus_patients", "control_patients", "test"]].values.tolist()
    [['Hyperglycaemia', 1, 1, "Fisher's exact test"], ['Tremor', 1, 0, "Fisher's exact test"]]
    """
    n_a, n_b = (len(rows) for rows in by_arm(patients, "arm"))
    # On integer codes: each event's patient (its row in `patients`), term and category, so that
    # the patients are told apart and counted without comparing strings (at 100,000 patients
    # and 72,000 events the table took 101 ms, now 65).
    patient = patient_of_row
    if patient is None:
        patient = patients_of_rows(adverse_events["patient_id"], patients)
    arm_of = np.select([patients["arm"].eq(a).to_numpy(bool, na_value=False) for a in ARMS], [0, 1], -1)
    term, terms = pd.factorize(adverse_events["term"])
    category, categories = pd.factorize(adverse_events["category"])
    arm = np.full(len(patient), -1)
    arm[patient >= 0] = arm_of[patient[patient >= 0]]
    keep = (arm >= 0) & (term >= 0) & (category >= 0)
    # Each (term, category) pair a number, and each (patient, pair) once: one 64-bit key per event,
    # its distinct values found by hashing (pd.unique), the patients then counted per pair and arm
    # by a bincount. (With a frame's drop_duplicates and group-by, the table of a million
    # patients' 720,000 events took 125–130 ms; so 83–89.)
    pairs = len(terms) * len(categories)
    pair = term[keep].astype(np.int64) * len(categories) + category[keep]
    once = pd.unique(patient[keep].astype(np.int64) * pairs + pair)
    counted = np.bincount(once % pairs * 2 + arm_of[once // pairs], minlength=2 * pairs).reshape(pairs, 2)
    tac, con = ARMS.index(ARM_TACROLIMUS), ARMS.index(ARM_CONTROL)  # arm_of's codes
    rows = []
    for code in np.flatnonzero(counted.sum(axis=1)):  # one row per AE term (dozens), not per patient
        c = compare(int(counted[code, tac]), n_a, int(counted[code, con]), n_b, with_odds_ratio=False)
        rows.append({"term": terms[code // len(categories)], "category": categories[code % len(categories)],
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


def safety(patients: pd.DataFrame, adverse_events: pd.DataFrame, event_rows: np.ndarray | None = None) -> SafetyResult:
    """Returns a `SafetyResult`: incidence (`incidence`), by_term (`by_term`) and cost, the drug
    expenses at 18 months (drug_cost_18m) by arm (`continuous.compare_values`: median and
    quartiles per arm, two-sided Mann–Whitney U test). `event_rows`: `by_term`'s `patient_of_row`."""
    return SafetyResult(incidence(patients), by_term(patients, adverse_events, event_rows),
                        compare_values(*by_arm(patients, "drug_cost_18m")))
