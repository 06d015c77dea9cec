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
from .memory import release_memory, trim_heap
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
    patient_numbers,
    problem_from_mask,
    rows_of_test,
)

# Lab courses and steroid segments are derived this many patients at a time: every step reads
# one patient's rows alone, and a million patients' intermediates at once (the daily levels of
# 48 M lab rows, 37 M dose changes) took up to 6.6 GB more than the tables.
PATIENTS_PER_CHUNK = 100_000
COST_AND_DOSE_WINDOW_DAYS = 548  # "first 18 months" = 18 × 30.4375 days, rounded

SOURCE_LABS, SOURCE_DOSES, SOURCE_RECORDED, SOURCE_NONE = "labs", "doses", "recorded", "none"


@dataclass(frozen=True)
class Derived:
    patients: pd.DataFrame
    steroid_segments: pd.DataFrame
    problems: tuple[Problem, ...]


def _months(delta: pd.Series) -> pd.Series:
    return pd.to_timedelta(delta).dt.days / DAYS_PER_MONTH


def _by_patient(frame, ids: pd.Index):
    """A frame or Series indexed by patient number, as every patient in table order indexed by
    id (missing where it has no row): aligned by position, without hashing the ids."""
    return frame.reindex(pd.RangeIndex(len(ids))).set_axis(ids, axis=0)


def _baseline(labs: pd.DataFrame, number: np.ndarray, rows: np.ndarray, start: np.ndarray) -> pd.Series:
    """The last result on or before treatment start (within the baseline window) among the lab
    rows `rows` (a mask) of one test, by patient number. `number`: each lab row's patient number;
    `start`: each patient's treatment start."""
    s = start[number[rows]]
    date = labs["date"].to_numpy()[rows]
    near = (date <= s) & (date >= s - np.timedelta64(BASELINE_WINDOW_DAYS, "D"))
    found = pd.DataFrame({"patient_id": number[rows][near], "date": date[near], "value": labs["value"].to_numpy()[rows][near]},
                         copy=False)
    found = found.sort_values(["patient_id", "date"], kind="stable")
    return found.groupby("patient_id", sort=False)["value"].last()


def _lab_rows(labs: pd.DataFrame, number: np.ndarray, rows: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """The lab rows `rows` (a mask) with `columns`, patient_id given as the patient number."""
    def column(c: str):
        if c == "patient_id":
            return number[rows]
        values = labs[c]
        # A Categorical (the test codes) is selected as codes, not made into millions of strings.
        return values.array[rows] if isinstance(values.dtype, pd.CategoricalDtype) else values.to_numpy()[rows]
    # copy=False: the selected arrays become the columns, not copied again into one block.
    return pd.DataFrame({c: column(c) for c in columns}, copy=False)


def lab_courses(labs: pd.DataFrame, patients: pd.DataFrame, number: np.ndarray, definitions: Definitions, test_is,
                ) -> tuple[pd.DataFrame, pd.Series, pd.Series, np.ndarray, np.ndarray]:
    """Response course per patient from labs, the baseline platelet and Hb counts (each indexed by
    patient_id, every patient in table order: missing where there is none), which patients have a
    course (assessed) and whose CR rested on Hb alone (masks in table order), under `definitions`. `number`: each lab
    row's patient number (its row in `patients`); `test_is`: `schema.rows_of_test(labs)`.

    Patients are numbered 0…n−1 in the order of the patients table and every lab row carries its
    patient's number instead of the id's text: the grouping, sorting and look-ups below run on
    integers (schema.CODED_TABLES). Ids are given back at the end."""
    ids = pd.Index(patients["patient_id"].astype(str), name="patient_id")
    start = patients["treatment_start"].to_numpy("datetime64[ns]")
    dx = pd.Categorical(patients["diagnosis"], categories=[ITP, AIHA, ES]).codes  # per patient number
    plt_at, hgb_at = test_is(PLT).to_numpy(), test_is(HGB).to_numpy()
    base_plt = _baseline(labs, number, plt_at, start)
    base_hgb = _baseline(labs, number, hgb_at, start)
    after = labs["date"].to_numpy() > start[number]
    lab_dx = dx[number]

    plt_rows = _lab_rows(labs, number, plt_at & after & ((lab_dx == 0) | (lab_dx == 2)),
                         ["patient_id", "date", "value", "bleeding"])
    plt_levels = criteria.itp_levels(plt_rows, base_plt).astype({"patient_id": np.int64})  # (typed even when empty)

    hb_rows = _lab_rows(labs, number, hgb_at & after & ((lab_dx == 1) | (lab_dx == 2)), ["patient_id", "date", "value"])
    tx = _lab_rows(labs, number, labs["transfused"].to_numpy(bool), ["patient_id", "date"]).drop_duplicates()
    marker_rows = np.logical_or.reduce([test_is(t).to_numpy() for t in HEMOLYSIS_MARKERS])
    markers = _lab_rows(labs, number, marker_rows, ["patient_id", "date", "test", "value"])
    hb_levels = criteria.aiha_levels(hb_rows, base_hgb, tx, markers, definitions.haemolysis_normal_for_cr).astype(
        {"patient_id": np.int64})
    del plt_rows, hb_rows, tx, markers  # each large intermediate goes when done

    dx_plt = dx[plt_levels["patient_id"].to_numpy()]
    dx_hb = dx[hb_levels["patient_id"].to_numpy()]
    itp = plt_levels[dx_plt == 0]
    aiha = hb_levels[dx_hb == 1][["patient_id", "date", "level", "hold"]]
    evans = criteria.evans_levels(plt_levels[dx_plt == 2], hb_levels[dx_hb == 2])
    levels = pd.concat([itp, aiha, evans], ignore_index=True)
    levels["patient_id"] = levels["patient_id"].astype(np.int64)
    hb_alone = np.zeros(len(ids), dtype=bool)
    hb_alone[hb_levels.loc[hb_levels["hb_alone"], "patient_id"].to_numpy(dtype=np.int64)] = True
    del plt_levels, hb_levels, itp, aiha, evans
    course = criteria.course(levels, definitions.relapse_on_loss_of_cr)
    del levels

    assessed = np.zeros(len(ids), dtype=bool)
    assessed[course.index.to_numpy(dtype=np.int64)] = True
    return _by_patient(course, ids), _by_patient(base_plt, ids), _by_patient(base_hgb, ids), assessed, hb_alone


def _chunks(number: np.ndarray, patients: int):
    """(first patient number, rows of `number` in the chunk) for each PATIENTS_PER_CHUNK patients
    numbered 0 … patients − 1."""
    for lo in range(0, patients, PATIENTS_PER_CHUNK):
        yield lo, np.flatnonzero((number >= lo) & (number < lo + PATIENTS_PER_CHUNK))


def lab_courses_in_chunks(labs: pd.DataFrame, patients: pd.DataFrame, number: np.ndarray, definitions: Definitions,
                          test_is):
    """`lab_courses`, PATIENTS_PER_CHUNK patients at a time, in the order of the patients table:
    each chunk's lab rows are taken out, numbered from 0, and derived alone; the per-patient
    results are put end to end. The same results as one call (tests/test_columnar.py), in a
    fraction of the memory."""
    if len(patients) <= PATIENTS_PER_CHUNK:
        return lab_courses(labs, patients, number, definitions, test_is)
    parts = []
    for lo, rows in _chunks(number, len(patients)):
        chunk = labs.take(rows)
        parts.append(lab_courses(chunk, patients.iloc[lo:lo + PATIENTS_PER_CHUNK],
                                 (number[rows] - lo).astype(number.dtype), definitions, rows_of_test(chunk)))
        freed = len(chunk)
        del chunk, rows
        release_memory(freed)  # each chunk's temporaries, before the next chunk's
    course, base_plt, base_hgb, assessed, hb_alone = zip(*parts)
    return (pd.concat(course), pd.concat(base_plt), pd.concat(base_hgb), np.concatenate(assessed),
            np.concatenate(hb_alone))


def steroid_segments(doses: pd.DataFrame) -> pd.DataFrame:
    """Daily prednisone-equivalent dose as non-overlapping segments [start, end] (inclusive),
    overlapping prescriptions added together. Columns: patient_id, start, end, prednisone_eq_mg.
    The patient_id is a Categorical of the dose table's ids, in their text order: a segment's
    patient is found by its code (Cohort.patient_rows, derive), and at a million patients 19 M
    segments hold 32-bit codes rather than references to 19 M strings."""
    if doses.empty:
        return pd.DataFrame({
            "patient_id": pd.Categorical([], categories=pd.Index([], dtype=object)),
            "start": pd.Series([], dtype="datetime64[ns]"),
            "end": pd.Series([], dtype="datetime64[ns]"), "prednisone_eq_mg": pd.Series([], dtype=float),
        })
    codes, names = _codes_in_text_order(doses["patient_id"])
    if len(names) <= PATIENTS_PER_CHUNK:
        columns, code = _segments_of(doses, codes)
    else:
        # A chunk of patients at a time (PATIENTS_PER_CHUNK), in the ids' text order, so that the
        # pieces put end to end are the segments in the order one pass gives. They are joined a
        # column at a time, each column's pieces let go as it is joined (a concat of the chunks'
        # frames held every piece and the whole at once: at a million patients, 1.2 GB).
        # The C heap's free pages are given back after each chunk and each joined column
        # (`memory.trim_heap`): at a million patients the peak of derivation was here, 3.96 GB (decimal,
        # resident), and is now 3.78 GB elsewhere; maximum RSS 3.69–3.70 → 3.44–3.52 GiB.
        parts = []
        for _, rows in _chunks(codes, len(names)):
            if len(rows):
                parts.append(_segments_of(doses.take(rows), codes[rows]))
                trim_heap(len(doses))
        columns = {}
        for name in SEGMENT_COLUMNS[1:]:
            columns[name] = np.concatenate([part[name] for part, _ in parts])
            for part, _ in parts:
                del part[name]
            trim_heap(len(doses))
        code = np.concatenate([code for _, code in parts])
    patient = pd.Categorical.from_codes(code, categories=pd.Index(names, dtype=object))
    return pd.DataFrame({"patient_id": patient, **columns}, copy=False)


SEGMENT_COLUMNS = ("patient_id", "start", "end", "prednisone_eq_mg")


def _segments_of(doses: pd.DataFrame, codes: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The segments of the dose rows `doses` (not empty) as arrays (SEGMENT_COLUMNS but the
    patient), each row's patient given as `codes` (`_codes_in_text_order`), and each segment's
    patient as its code."""
    eq = doses["daily_dose_mg"].to_numpy(float) * doses["drug"].map(PREDNISONE_EQUIVALENT).to_numpy(float)
    one_day = np.timedelta64(1, "D")
    code = np.r_[codes, codes]
    date = np.r_[doses["start_date"].to_numpy("datetime64[ns]"), doses["end_date"].to_numpy("datetime64[ns]") + one_day]
    delta = np.r_[eq, -eq]
    # The changes of dose per patient and date, in the order of the ids' text and of the dates:
    # one stable sort on one integer key (criteria.patient_day_keys), then pandas' compensated sum
    # over each run of equal keys, as grouping on (patient_id, date) summed them.
    # (Each array of a million-patient cohort's 38 M dose changes is 300 MB: each is let go when done.)
    key = criteria.patient_day_keys(code, date)
    order = np.argsort(key, kind="stable")
    key = key[order]
    boundary = np.r_[True, key[1:] != key[:-1]]
    del key
    starts = np.flatnonzero(boundary)
    del boundary
    first = order[starts]
    change = _run_sums(delta[order], starts)
    del order, delta
    code, date = code[first], date[first]
    level = pd.Series(change).groupby(code, sort=False).cumsum().round(6).to_numpy()
    same_next = np.r_[code[1:] == code[:-1], False]
    next_date = np.where(same_next, np.r_[date[1:], np.datetime64("NaT", "ns")], np.datetime64("NaT", "ns"))
    end = next_date - one_day
    kept = (level > 0) & ~np.isnat(end)
    code = code[kept]
    return {"start": date[kept], "end": end[kept], "prednisone_eq_mg": level[kept]}, code


def _run_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The sum of each run of `values` (runs begin at `starts`), bit for bit as pandas' grouped
    sum, which adds with Kahan compensation: a run of one or two values is the plain sum, so only
    the longer runs (few: the same patient's doses changing on one day) go through pandas.
    (Grouping 76 M dose changes in pandas took 2 s.)"""
    sums = np.add.reduceat(values, starts) if len(values) else values[:0]
    length = np.diff(np.r_[starts, len(values)])
    long = np.flatnonzero(length > 2)
    if len(long):
        rows = np.repeat(starts[long], length[long]) + (np.arange(length[long].sum())
                                                        - np.repeat(np.cumsum(length[long]) - length[long], length[long]))
        sums[long] = pd.Series(values[rows]).groupby(np.repeat(np.arange(len(long)), length[long]), sort=False).sum().to_numpy()
    return sums


def _codes_in_text_order(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each row's patient as a number that sorts as the ids' text sorts, and the ids (object
    array) by number; for a Categorical column through its categories alone."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        categories = ids.cat.categories.astype(str).to_numpy(dtype=object)
        order = np.argsort(categories, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        return rank[ids.cat.codes.to_numpy()], categories[order]
    codes, names = pd.factorize(ids.astype(str), sort=True)
    return codes, np.asarray(names, dtype=object)


def _steroid_endpoints(segments: pd.DataFrame, number: np.ndarray, patients: pd.DataFrame) -> pd.DataFrame:
    """First and last dose, cumulative dose and that of the first 18 months, per patient (index
    patient_id, in the order of `patients`). `number`: each segment's patient number."""
    p = patients.set_index("patient_id")
    if segments.empty:
        nat = pd.Series(pd.NaT, index=p.index, dtype="datetime64[ns]")
        nan = pd.Series(np.nan, index=p.index)
        return pd.DataFrame({"steroid_start_date": nat, "steroid_last_dose_date": nat,
                             "steroid_cum_mg": nan, "steroid_cum_mg_18m": nan})
    treatment_start = patients["treatment_start"].to_numpy("datetime64[ns]")
    start, end = segments["start"].to_numpy("datetime64[ns]"), segments["end"].to_numpy("datetime64[ns]")
    dose = segments["prednisone_eq_mg"].to_numpy()
    # A patient's segments are consecutive rows (`steroid_segments`), so they are summed a block of
    # whole patients at a time (SEGMENTS_PER_CHUNK rows): each patient's sums are the same, and
    # the temporary arrays are those of one block (at a million patients, 18.7 M segments: 1 GB).
    bounds = np.r_[np.flatnonzero(np.r_[True, number[1:] != number[:-1]]), len(number)]  # each patient's first row, and the end
    cuts = np.unique(np.r_[bounds[np.searchsorted(bounds, np.arange(0, len(number), SEGMENTS_PER_CHUNK))], len(number)])
    parts = [_steroid_sums(start[lo:hi], end[lo:hi], dose[lo:hi], number[lo:hi], treatment_start)
             for lo, hi in zip(cuts[:-1], cuts[1:])]
    return _by_patient(pd.concat(parts) if len(parts) > 1 else parts[0], p.index)


SEGMENTS_PER_CHUNK = 2_000_000


def _steroid_sums(start: np.ndarray, end: np.ndarray, dose: np.ndarray, number: np.ndarray,
                  treatment_start: np.ndarray) -> pd.DataFrame:
    """`_steroid_endpoints` of the segments of some patients (all of each one's segments), by
    patient number in the order of their first segment."""
    one_day = np.timedelta64(1, "D")
    days = (end - start) // one_day + 1
    window_end = treatment_start[number] + np.timedelta64(COST_AND_DOSE_WINDOW_DAYS, "D")
    clipped_end = np.where(end < window_end, end, window_end - one_day)
    days_18m = np.maximum((clipped_end - start) // one_day + 1, 0)
    seg = pd.DataFrame({"start": start, "end": end, "mg": dose * days, "mg_18m": dose * days_18m}, copy=False)
    g = seg.groupby(number, sort=False)
    return pd.DataFrame({
        "steroid_start_date": g["start"].min(),
        "steroid_last_dose_date": g["end"].max(),
        "steroid_cum_mg": g["mg"].sum(),
        "steroid_cum_mg_18m": g["mg_18m"].sum(),
    })


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
    """First visit, median trough and share of troughs in range, per patient of `index` (the
    patients' ids in table order), the visits grouped by patient number."""
    lo, hi = TACROLIMUS_TROUGH_TARGET
    trough = tac["trough_ng_ml"]
    # 1.0/0.0 and missing as floats: the mean is then computed in C (a bool-and-missing column is
    # an object column, which pandas averages in Python).
    t = pd.DataFrame({"date": tac["date"].to_numpy(), "trough_ng_ml": trough.to_numpy(),
                      "in_range": ((trough >= lo) & (trough <= hi)).astype("float64").where(trough.notna()).to_numpy()})
    g = t.groupby(patient_numbers(tac["patient_id"], index), sort=False)
    out = pd.DataFrame({
        "tacrolimus_first_date": g["date"].min(),
        "tacrolimus_median_trough": g["trough_ng_ml"].median(),
        "tacrolimus_trough_in_range": g["in_range"].mean(),
    })
    return _by_patient(out, index)


def _code(level: pd.Series, diagnosis: pd.Series) -> pd.Series:
    codes = pd.Series(pd.NA, index=level.index, dtype="string")
    for dx, mapping in criteria.LEVEL_CODE.items():
        sel = diagnosis.eq(dx) & level.notna()
        codes[sel] = level[sel].astype(int).map(mapping)
    return codes


def _on_steroids_at(segments: pd.DataFrame, number: np.ndarray, day: pd.Series, above_mg: float) -> pd.Series:
    """Whether each patient (index of `day`, in patient order) takes more than `above_mg` mg/day
    prednisone-equivalent on `day`. `number`: each segment's patient number."""
    at = day.to_numpy("datetime64[ns]")[number]
    covering = ((segments["start"].to_numpy() <= at) & (segments["end"].to_numpy() >= at)
                & (segments["prednisone_eq_mg"].to_numpy() > above_mg))
    on = np.zeros(len(day), dtype=bool)
    on[number[covering]] = True
    return pd.Series(on, index=day.index)


def derive(tables: Tables, definitions: Definitions = Definitions(), segments: pd.DataFrame | None = None,
           pack: bool = False) -> Derived:
    """One row per patient with every endpoint, read under `definitions` (analysis/definitions.py);
    see the module docstring. `segments`: the steroid segments of these tables when already
    derived (they do not depend on the definitions), so that the doses are not read again.
    `pack`: hold the labs and the doses packed in `tables` once they are read (Tables.pack), so
    that a large cohort's frames of them are let go while the rest is derived."""
    problems: list[Problem] = []
    pat = tables.patients.copy()
    pat["patient_id"] = pat["patient_id"].astype(str)
    out = pat.set_index("patient_id")[["arm", "diagnosis", "sex", "age", "weight_kg", "treatment_start", "last_follow_up"]].copy()
    out["follow_up_months"] = _months(out["last_follow_up"] - out["treatment_start"])

    labs = tables.get("labs")
    test_is = rows_of_test(labs)  # one factorisation of the test column for every lookup
    number = patient_numbers(labs["patient_id"], pd.Index(pat["patient_id"]))  # each lab row's patient
    if len(pat) < 2**31:  # half the memory of 48 M int64 numbers, and faster look-ups (no copy when
        number = number.astype(np.int32, copy=False)  # patient_numbers already gave 32-bit ones)
    course, base_plt, base_hgb, assessed, hb_alone = lab_courses_in_chunks(labs, pat, number, definitions, test_is)
    lab_rows = len(labs)
    del labs
    if pack:  # packed while the endpoints below are read from the lab courses
        tables.pack("labs", background=True)
    out["baseline_plt"] = base_plt
    out["baseline_hgb"] = base_hgb

    # Which patients have the lab results their diagnosis needs (by patient number, which is the
    # position in `out`).
    has = {}
    for t in (PLT, HGB):
        has[t] = np.zeros(len(out), dtype=bool)
        has[t][number[test_is(t).to_numpy()]] = True
    needs = out["diagnosis"]
    from_labs = assessed & np.where(
        needs.eq(ITP), has[PLT], np.where(needs.eq(AIHA), has[HGB], has[PLT] & has[HGB]),
    )
    rec = pat.set_index("patient_id")
    recorded = ~from_labs & rec["best_response"].notna().to_numpy()
    out["endpoint_source"] = np.where(from_labs, SOURCE_LABS, np.where(recorded, SOURCE_RECORDED, SOURCE_NONE))

    c = course
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
    out["cr_on_hb_alone"] = hb_alone & out["complete_response"].fillna(False).to_numpy(bool)

    relapse = c["relapse_onset"].where(from_labs, rec["relapse_date"].where(recorded))
    responded = out["responded"].fillna(False).astype(bool)
    out["relapse_date"] = relapse.where(responded)
    out["relapsed"] = out["relapse_date"].notna().astype("boolean").where(responded)
    rfs_end = out["relapse_date"].fillna(out["last_follow_up"])
    out["rfs_months"] = _months(rfs_end - out["response_date"]).where(responded)

    if pack:
        tables.wait_packed()  # the lab frame let go before the segments take their memory
    release_memory(lab_rows)
    if segments is None:
        segments = steroid_segments(tables.get("steroid_doses"))
        if pack:  # (on this thread: packed beside the rest of derive, a million patients' peak was 0.4 GB higher)
            tables.pack("steroid_doses")
        release_memory(len(segments))
    # Each segment's patient number, through the Categorical's few ids rather than each segment's.
    seg_ids = segments["patient_id"].cat.categories.to_numpy(dtype=object)
    seg_number = pd.Index(pat["patient_id"]).get_indexer(seg_ids)[segments["patient_id"].cat.codes.to_numpy()]
    st = _steroid_endpoints(segments, seg_number, pat)
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
    on_then = _on_steroids_at(segments, seg_number, day, STEROID_DEPENDENCE_ABOVE_MG).where(
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
    """`course`: the lab course of every patient, aligned with `out`."""
    problems: list[Problem] = []
    frame = out.reset_index()
    both = pd.Series(from_labs, index=out.index) & rec["best_response"].notna()
    if not both.any():
        return problems
    lab_level = course["best_level"]
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
    lab_rel = course["relapse_onset"].notna()
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
