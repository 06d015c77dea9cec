"""From the cohort's tables to one row per patient: the endpoints every view stands on.

`derive(tables)` returns the per-patient endpoint table, the daily prednisone-equivalent
series (as non-overlapping constant-dose segments, which is the daily series without one row
per day), and the problems found on the way (a recorded endpoint that contradicts the lab
data is an error; a missing baseline count is a warning).

Where a patient has the lab results their diagnosis needs (platelets for ITP, hemoglobin for
AIHA, both for Evans syndrome), the response and relapse come from the labs through
`analysis.criteria`; otherwise from the recorded endpoint columns of the patients table. The
column `endpoint_source` says which ("labs", "recorded" or "none").

Everything is vectorised: grouped and sorted array operations, no Python loop per patient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import criteria
from .definitions import STEROID_DEPENDENCE_ABOVE_MG, STEROID_DEPENDENCE_DAY, Definitions
from .schema import (
    AE_STEROID,
    AE_TACROLIMUS,
    AIHA,
    BASELINE_WINDOW_DAYS,
    ES,
    DAYS_PER_MONTH,
    HEMOLYSIS_MARKERS,
    HGB,
    ITP,
    PLT,
    PREDNISONE_EQUIVALENT,
    RESPONSE_LEVEL,
    TACROLIMUS_TROUGH_TARGET,
    Problem,
    Tables,
    problem_from_mask,
    rows_of_test,
)

COST_AND_DOSE_WINDOW_DAYS = 548  # "first 18 months" = 18 × 30.4375 days, rounded

SOURCE_LABS, SOURCE_DOSES, SOURCE_RECORDED, SOURCE_NONE = "labs", "doses", "recorded", "none"


@dataclass(frozen=True)
class Derived:
    patients: pd.DataFrame
    steroid_segments: pd.DataFrame
    problems: tuple[Problem, ...]


def _months(delta: pd.Series) -> pd.Series:
    return pd.to_timedelta(delta).dt.days / DAYS_PER_MONTH


def _baseline(labs: pd.DataFrame, test: str, start: pd.Series, test_is) -> pd.Series:
    """The last result of `test` on or before treatment start (within the baseline window).
    `test_is`: `schema.rows_of_test(labs)`."""
    rows = labs.loc[test_is(test), ["patient_id", "date", "value"]]
    s = rows["patient_id"].map(start)
    rows = rows[(rows["date"] <= s) & (rows["date"] >= s - pd.Timedelta(days=BASELINE_WINDOW_DAYS))]
    rows = rows.sort_values(["patient_id", "date"], kind="stable")
    return rows.groupby("patient_id", sort=False)["value"].last()


def _after_start(rows: pd.DataFrame, start: pd.Series) -> pd.DataFrame:
    return rows[rows["date"] > rows["patient_id"].map(start)]


def lab_courses(tables: Tables, patients: pd.DataFrame, definitions: Definitions, test_is,
                ) -> tuple[pd.DataFrame, pd.Series, pd.Series, pd.Series]:
    """Response course per patient from labs (index patient_id), the baseline platelet and
    Hb counts, and which patients' CR rested on Hb alone, under `definitions`. `test_is`:
    `schema.rows_of_test(tables.labs)`, which derive also uses."""
    # Patients are numbered 0…n−1 in the order of the patients table, and every lab row carries its
    # patient's number instead of the id's text: the grouping, sorting, merging and look-ups below
    # run on integers (on millions of lab rows, a third of the time). Ids are given back at the end.
    ids = pd.Index(patients["patient_id"].astype(str), name="patient_id")
    labs = tables.labs.assign(patient_id=ids.get_indexer(tables.labs["patient_id"].astype(str)))
    start = pd.Series(patients["treatment_start"].to_numpy(), index=pd.RangeIndex(len(ids)))
    diagnosis = pd.Series(patients["diagnosis"].to_numpy(), index=pd.RangeIndex(len(ids)))
    base_plt = _baseline(labs, PLT, start, test_is)
    base_hgb = _baseline(labs, HGB, start, test_is)

    plt_rows = _after_start(labs.loc[test_is(PLT)], start)
    plt_rows = plt_rows[plt_rows["patient_id"].map(diagnosis).isin([ITP, ES])]
    plt_levels = criteria.itp_levels(plt_rows, base_plt).astype({"patient_id": np.int64})  # (typed even when empty)

    hb_rows = _after_start(labs.loc[test_is(HGB)], start)
    hb_rows = hb_rows[hb_rows["patient_id"].map(diagnosis).isin([AIHA, ES])]
    tx = labs.loc[labs["transfused"], ["patient_id", "date"]].drop_duplicates()
    marker_rows = np.logical_or.reduce([test_is(t).to_numpy() for t in HEMOLYSIS_MARKERS])
    markers = labs.loc[marker_rows, ["patient_id", "date", "test", "value"]]
    hb_levels = criteria.aiha_levels(hb_rows, base_hgb, tx, markers, definitions.haemolysis_normal_for_cr).astype(
        {"patient_id": np.int64})

    dx_plt = plt_levels["patient_id"].map(diagnosis)
    dx_hb = hb_levels["patient_id"].map(diagnosis)
    itp = plt_levels[dx_plt.eq(ITP).to_numpy()]
    aiha = hb_levels[dx_hb.eq(AIHA).to_numpy()][["patient_id", "date", "level", "hold"]]
    evans = criteria.evans_levels(plt_levels[dx_plt.eq(ES).to_numpy()], hb_levels[dx_hb.eq(ES).to_numpy()])
    levels = pd.concat([itp, aiha, evans], ignore_index=True)
    levels["patient_id"] = levels["patient_id"].astype(np.int64)
    course = criteria.course(levels, definitions.relapse_on_loss_of_cr)

    def by_id(frame):  # patient numbers back to ids
        return frame.set_axis(ids[frame.index.to_numpy(dtype=np.int64)].rename("patient_id"), axis=0)

    hb_alone = ids[np.unique(hb_levels.loc[hb_levels["hb_alone"], "patient_id"].to_numpy(dtype=np.int64))]
    return (by_id(course), by_id(base_plt), by_id(base_hgb),
            pd.Series(True, index=pd.Index(hb_alone, name="patient_id")))


def steroid_segments(doses: pd.DataFrame) -> pd.DataFrame:
    """Daily prednisone-equivalent dose as non-overlapping segments [start, end] (inclusive),
    overlapping prescriptions added together. Columns: patient_id, start, end, prednisone_eq_mg."""
    if doses.empty:
        return pd.DataFrame({
            "patient_id": pd.Series([], dtype=str), "start": pd.Series([], dtype="datetime64[ns]"),
            "end": pd.Series([], dtype="datetime64[ns]"), "prednisone_eq_mg": pd.Series([], dtype=float),
        })
    eq = doses["daily_dose_mg"].to_numpy(float) * doses["drug"].map(PREDNISONE_EQUIVALENT).to_numpy(float)
    pid = doses["patient_id"].astype(str).to_numpy()
    one_day = pd.Timedelta(days=1)
    events = pd.DataFrame({
        "patient_id": np.r_[pid, pid],
        "date": np.r_[doses["start_date"].to_numpy(), (doses["end_date"] + one_day).to_numpy()],
        "delta": np.r_[eq, -eq],
    })
    events = events.groupby(["patient_id", "date"], sort=True)["delta"].sum().reset_index()
    level = events.groupby("patient_id", sort=False)["delta"].cumsum().round(6).to_numpy()
    next_date = events.groupby("patient_id", sort=False)["date"].shift(-1)
    seg = pd.DataFrame({
        "patient_id": events["patient_id"],
        "start": events["date"],
        "end": next_date - one_day,
        "prednisone_eq_mg": level,
    })
    return seg[(seg["prednisone_eq_mg"] > 0) & seg["end"].notna()].reset_index(drop=True)


def _steroid_endpoints(segments: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    p = patients.set_index("patient_id")
    if segments.empty:
        nat = pd.Series(pd.NaT, index=p.index, dtype="datetime64[ns]")
        nan = pd.Series(np.nan, index=p.index)
        return pd.DataFrame({"steroid_start_date": nat, "steroid_last_dose_date": nat,
                             "steroid_cum_mg": nan, "steroid_cum_mg_18m": nan})
    days = (segments["end"] - segments["start"]).dt.days + 1
    window_end = segments["patient_id"].map(p["treatment_start"]) + pd.Timedelta(days=COST_AND_DOSE_WINDOW_DAYS)
    clipped_end = segments["end"].where(segments["end"] < window_end, window_end - pd.Timedelta(days=1))
    days_18m = ((clipped_end - segments["start"]).dt.days + 1).clip(lower=0)
    seg = segments.assign(
        mg=segments["prednisone_eq_mg"] * days,
        mg_18m=segments["prednisone_eq_mg"] * days_18m,
    )
    g = seg.groupby("patient_id", sort=False)
    out = pd.DataFrame({
        "steroid_start_date": g["start"].min(),
        "steroid_last_dose_date": g["end"].max(),
        "steroid_cum_mg": g["mg"].sum(),
        "steroid_cum_mg_18m": g["mg_18m"].sum(),
    })
    return out.reindex(p.index)


def _ae_flags(ae: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    flags = pd.DataFrame({
        "patient_id": ae["patient_id"].astype(str),
        "any_ae": True,
        "steroid_ae": ae["category"].eq(AE_STEROID).to_numpy(),
        "tacrolimus_ae": ae["category"].eq(AE_TACROLIMUS).to_numpy(),
        "grade3_ae": (ae["grade"] >= 3).to_numpy(),
        "serious_ae": ae["serious"].to_numpy(bool),
    })
    g = flags.groupby("patient_id", sort=False)
    out = g.any()
    out["ae_count"] = g.size()
    out = out.reindex(index)
    for c in ("any_ae", "steroid_ae", "tacrolimus_ae", "grade3_ae", "serious_ae"):
        out[c] = out[c].astype("boolean").fillna(False).astype(bool)
    out["ae_count"] = out["ae_count"].fillna(0).astype("int64")
    return out


def _tacrolimus_summary(tac: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    lo, hi = TACROLIMUS_TROUGH_TARGET
    t = tac.assign(patient_id=tac["patient_id"].astype(str))
    trough = t["trough_ng_ml"]
    # 1.0/0.0 and missing as floats: the mean is then computed in C (a bool-and-missing column is
    # an object column, which pandas averages in Python).
    t = t.assign(in_range=((trough >= lo) & (trough <= hi)).astype("float64").where(trough.notna()))
    g = t.groupby("patient_id", sort=False)
    out = pd.DataFrame({
        "tacrolimus_first_date": g["date"].min(),
        "tacrolimus_median_trough": g["trough_ng_ml"].median(),
        "tacrolimus_trough_in_range": g["in_range"].mean(),
    })
    return out.reindex(index)


def _code(level: pd.Series, diagnosis: pd.Series) -> pd.Series:
    codes = pd.Series(pd.NA, index=level.index, dtype="string")
    for dx, mapping in criteria.LEVEL_CODE.items():
        sel = diagnosis.eq(dx) & level.notna()
        codes[sel] = level[sel].astype(int).map(mapping)
    return codes


def _on_steroids_at(segments: pd.DataFrame, day: pd.Series, above_mg: float) -> pd.Series:
    """Whether each patient (index of `day`) takes more than `above_mg` mg/day prednisone-equivalent on `day`."""
    at = segments["patient_id"].map(day)
    covering = segments.loc[(segments["start"] <= at) & (segments["end"] >= at)
                            & (segments["prednisone_eq_mg"] > above_mg), "patient_id"].unique()
    return pd.Series(day.index.isin(covering), index=day.index)


def derive(tables: Tables, definitions: Definitions = Definitions()) -> Derived:
    """One row per patient with every endpoint, read under `definitions` (analysis/definitions.py);
    see the module docstring."""
    problems: list[Problem] = []
    pat = tables.patients.copy()
    pat["patient_id"] = pat["patient_id"].astype(str)
    out = pat.set_index("patient_id")[["arm", "diagnosis", "sex", "age", "weight_kg", "treatment_start", "last_follow_up"]].copy()
    out["follow_up_months"] = _months(out["last_follow_up"] - out["treatment_start"])

    test_is = rows_of_test(tables.labs)  # one factorisation of the test column for every lookup
    course, base_plt, base_hgb, hb_alone = lab_courses(tables, pat, definitions, test_is)
    out["baseline_plt"] = base_plt.reindex(out.index)
    out["baseline_hgb"] = base_hgb.reindex(out.index)

    # Which patients have the lab results their diagnosis needs.
    assessed = set(course.index)
    has = {t: set(tables.labs.loc[test_is(t), "patient_id"].astype(str).unique()) for t in (PLT, HGB)}
    needs = out["diagnosis"]
    from_labs = out.index.isin(list(assessed)) & np.where(
        needs.eq(ITP), out.index.isin(list(has[PLT])),
        np.where(needs.eq(AIHA), out.index.isin(list(has[HGB])), out.index.isin(list(has[PLT] & has[HGB]))),
    )
    rec = pat.set_index("patient_id")
    recorded = ~from_labs & rec["best_response"].notna().to_numpy()
    out["endpoint_source"] = np.where(from_labs, SOURCE_LABS, np.where(recorded, SOURCE_RECORDED, SOURCE_NONE))

    c = course.reindex(out.index)
    lab_level = c["best_level"].where(from_labs)
    rec_level = rec["best_response"].map(RESPONSE_LEVEL).where(recorded)
    level = lab_level.fillna(rec_level)
    out["best_response"] = _code(level, out["diagnosis"])
    out["responded"] = (level >= criteria.RESPONSE).astype("boolean").where(level.notna())
    out["complete_response"] = (level >= criteria.COMPLETE).astype("boolean").where(level.notna())
    out["response_date"] = c["response_onset"].where(from_labs, rec["response_date"].where(recorded))
    out["response_confirmed_date"] = c["response_confirmed"].where(from_labs)
    out["best_response_date"] = c["best_onset"].where(from_labs, rec["response_date"].where(recorded))
    out["best_response_confirmed_date"] = c["best_confirmed"].where(from_labs)
    out["time_to_response_months"] = _months(out["response_date"] - out["treatment_start"])
    out["cr_on_hb_alone"] = out.index.isin(hb_alone.index) & out["complete_response"].fillna(False).to_numpy(bool)

    relapse = c["relapse_onset"].where(from_labs, rec["relapse_date"].where(recorded))
    responded = out["responded"].fillna(False).astype(bool)
    out["relapse_date"] = relapse.where(responded)
    out["relapsed"] = out["relapse_date"].notna().astype("boolean").where(responded)
    rfs_end = out["relapse_date"].fillna(out["last_follow_up"])
    out["rfs_months"] = _months(rfs_end - out["response_date"]).where(responded)

    segments = steroid_segments(tables.steroid_doses)
    st = _steroid_endpoints(segments, pat)
    has_doses = st["steroid_start_date"].notna()
    rec_stop = rec["steroid_stop_date"]
    rec_cum = rec["cumulative_steroid_mg"]
    use_rec = ~has_doses & (rec_stop.notna() | rec_cum.notna())
    out["steroid_source"] = np.where(has_doses, SOURCE_DOSES, np.where(use_rec, SOURCE_RECORDED, SOURCE_NONE))
    first_dose = st["steroid_start_date"].where(has_doses, out["treatment_start"].where(use_rec))
    last_dose = st["steroid_last_dose_date"].where(has_doses, rec_stop.where(use_rec))
    stopped = last_dose.notna() & (last_dose < out["last_follow_up"])
    known = has_doses | use_rec
    out["steroid_start_date"] = first_dose
    out["steroid_stop_date"] = last_dose.where(stopped)
    out["steroid_stopped"] = stopped.astype("boolean").where(known)
    stop_end = last_dose.where(stopped, out["last_follow_up"])
    out["steroid_stop_months"] = _months(stop_end - first_dose + pd.Timedelta(days=1)).where(known)
    out["steroid_cum_mg"] = st["steroid_cum_mg"].where(has_doses, rec_cum.where(use_rec))
    out["steroid_cum_mg_18m"] = st["steroid_cum_mg_18m"].where(has_doses)

    # Steroid dependence (analysis/definitions.py): a responder on more than the replacement dose at
    # day STEROID_DEPENDENCE_DAY, followed up past it and not relapsed before it. From the periods
    # where they are given, else from the recorded interval treatment start → stop date.
    day = out["treatment_start"] + pd.Timedelta(days=STEROID_DEPENDENCE_DAY)
    # A recorded course without a stop date says nothing about day 183: not called dependent.
    on_then = _on_steroids_at(segments, day, STEROID_DEPENDENCE_ABOVE_MG).where(
        has_doses, use_rec & rec_stop.notna() & (rec_stop >= day))
    held = out["relapse_date"].isna() | (out["relapse_date"] > day)
    dependent = responded & on_then.astype(bool) & (out["last_follow_up"] >= day) & held
    out["steroid_dependent"] = dependent.astype("boolean").where(out["responded"].notna())
    if definitions.steroid_dependence_is_nonresponse:
        dep = dependent.to_numpy(bool)
        out.loc[dep, "best_response"] = "NR"
        out.loc[dep, ["responded", "complete_response"]] = False
        out.loc[dep, "cr_on_hb_alone"] = False
        for col in ("response_date", "response_confirmed_date", "best_response_date", "best_response_confirmed_date",
                    "relapse_date"):
            out.loc[dep, col] = pd.NaT
        out.loc[dep, ["time_to_response_months", "rfs_months"]] = np.nan
        out.loc[dep, "relapsed"] = pd.NA

    out = out.join(_ae_flags(tables.adverse_events, out.index))
    out = out.join(_tacrolimus_summary(tables.tacrolimus, out.index))
    out["drug_cost_18m"] = rec["drug_cost_18m"]

    p = problem_from_mask(
        "warning", "patients", "response_date", out.reset_index(),
        pd.Series((out["endpoint_source"].eq(SOURCE_RECORDED) & responded & out["response_date"].isna()).to_numpy()),
        "no date for a recorded response, so relapse-free survival leaves these patients out", by="patient",
    )
    if p:
        problems.append(p)
    problems += _contradictions(out, rec, from_labs, course)
    problems += _baseline_warnings(out, from_labs)
    out = out.reset_index()
    return Derived(out, segments, tuple(problems))


def _contradictions(out: pd.DataFrame, rec: pd.DataFrame, from_labs: np.ndarray, course: pd.DataFrame) -> list[Problem]:
    problems: list[Problem] = []
    frame = out.reset_index()
    both = pd.Series(from_labs, index=out.index) & rec["best_response"].notna()
    if not both.any():
        return problems
    lab_level = course["best_level"].reindex(out.index)
    rec_level = rec["best_response"].map(RESPONSE_LEVEL)
    differ = (both & (lab_level != rec_level)).to_numpy()
    p = problem_from_mask(
        "error", "patients", "best_response", frame, pd.Series(differ, index=frame.index),
        "a recorded best response that contradicts the lab results (the labs give another level)",
        by="patient",
        hint="Correct the recorded value or the lab results, or leave best_response empty for patients with labs.",
    )
    if p:
        problems.append(p)
    rec_rel = rec["relapse_date"].notna()
    lab_rel = course["relapse_onset"].reindex(out.index).notna()
    responders = both & (lab_level >= criteria.RESPONSE) & (rec_level >= criteria.RESPONSE)
    differ_rel = (responders & (rec_rel != lab_rel)).to_numpy()
    p = problem_from_mask(
        "error", "patients", "relapse_date", frame, pd.Series(differ_rel, index=frame.index),
        "a recorded relapse that the lab results do not show, or no relapse where they show one",
        by="patient",
    )
    if p:
        problems.append(p)
    return problems


def _baseline_warnings(out: pd.DataFrame, from_labs: np.ndarray) -> list[Problem]:
    frame = out.reset_index()
    problems: list[Problem] = []
    labs_used = pd.Series(from_labs, index=frame.index)
    for col, dxs, test, rule in (
        ("baseline_plt", (ITP, ES), PLT, "R rests on platelets ≥ 30 alone"),
        ("baseline_hgb", (AIHA, ES), HGB, "PR rests on Hb ≥ 100 alone"),
    ):
        mask = labs_used & frame["diagnosis"].isin(dxs) & frame[col].isna()
        p = problem_from_mask(
            "warning", "labs", None, frame, mask,
            f"have no {test} result in the {BASELINE_WINDOW_DAYS} days up to treatment start, so {rule}",
            by="patient",
        )
        if p:
            problems.append(p)
    return problems
