"""Response and relapse rules, with their references and thresholds as named constants.

- ITP: International Working Group 2009 — Rodeghiero F et al., Blood 2009;113:2386–2393.
- AIHA: First International Consensus — Jäger U et al., Blood Rev 2020;41:100648.
- Evans syndrome: no standard exists. Each lineage is scored with its own rule; complete
  response needs CR in both lineages, response needs at least R/PR in both, relapse is relapse
  in either (Norton & Roberts, Br J Haematol 2006;132:125; Audia et al., J Clin Med 2020;9:3851).

Every function here is vectorised over all patients at once: it takes long tables of lab
results and returns long tables of per-assessment levels or one row per patient. There is no
Python loop per patient; a cohort of 100,000 patients is scored in seconds.

Levels: 0 = no response (NR), 1 = response (ITP "R", AIHA "PR"), 2 = complete response (CR).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .schema import AIHA, ES, HEMOLYSIS_MARKERS, ITP, LDH, RET, TBIL

IWG_2009 = "International Working Group 2009 (Rodeghiero et al., Blood 2009;113:2386)"
AIHA_CONSENSUS = "First International Consensus on AIHA (Jäger et al., Blood Rev 2020;41:100648)"
EVANS_COMPOSITE = (
    "Evans composite: each lineage by its own rule; CR needs CR in both, response needs R/PR in both, "
    "relapse is relapse in either (no standard exists)"
)

NR, RESPONSE, COMPLETE = 0, 1, 2
LEVEL_CODE = {ITP: {0: "NR", 1: "R", 2: "CR"}, AIHA: {0: "NR", 1: "PR", 2: "CR"}, ES: {0: "NR", 1: "R", 2: "CR"}}

# ITP, IWG 2009 (platelets ×10⁹/L)
ITP_CR_PLATELETS = 100.0  # CR: platelets ≥ 100 and no bleeding
ITP_R_PLATELETS = 30.0  # R: platelets ≥ 30 and ≥ 2× baseline and no bleeding
ITP_R_FOLD_OVER_BASELINE = 2.0

# AIHA, First International Consensus (hemoglobin g/L)
AIHA_CR_HEMOGLOBIN = 120.0  # CR: Hb ≥ 120, no hemolysis, no transfusion in the previous 7 days
AIHA_PR_HEMOGLOBIN = 100.0  # PR: Hb ≥ 100 or a rise ≥ 20 from baseline, no transfusion in 7 days
AIHA_PR_RISE_FROM_BASELINE = 20.0
TRANSFUSION_FREE_DAYS = 7

# Hemolysis markers are "normal" at or below these upper limits of normal (typical adult
# reference ranges; a department with other ranges changes them here).
UPPER_LIMIT_OF_NORMAL = {RET: 2.5, LDH: 250.0, TBIL: 21.0}
# A marker result counts for an Hb count when it was taken on the same day or up to this
# many days before it.
MARKER_WINDOW_DAYS = 7

# Confirmation (IWG 2009, applied to both lineages so one stray count makes no response):
# CR and R need two counts at least 7 days apart with no count below the level between them;
# NR and loss of response need two consecutive counts at least 1 day apart.
CONFIRM_RESPONSE_DAYS = 7
CONFIRM_LOSS_DAYS = 1


def _empty_levels() -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": pd.Series([], dtype="string"),
        "date": pd.Series([], dtype="datetime64[ns]"),
        "level": pd.Series([], dtype="int8"),
        "hold": pd.Series([], dtype="int8"),
    })


def itp_levels(platelets: pd.DataFrame, baseline: pd.Series) -> pd.DataFrame:
    """Level of each post-baseline platelet count.

    platelets: patient_id, date, value, bleeding. baseline: platelet count by patient_id
    (missing: the 2× rule cannot be applied and R rests on ≥ 30 alone)."""
    if platelets.empty:
        return _empty_levels()
    value = platelets["value"].to_numpy(float)
    base = platelets["patient_id"].map(baseline).to_numpy(float)
    bleeding = platelets["bleeding"].to_numpy(bool)
    doubled = np.where(np.isnan(base), True, value >= ITP_R_FOLD_OVER_BASELINE * base)
    level = np.where(
        ~bleeding & (value >= ITP_CR_PLATELETS), COMPLETE,
        np.where(~bleeding & (value >= ITP_R_PLATELETS) & doubled, RESPONSE, NR),
    )
    return pd.DataFrame({
        "patient_id": platelets["patient_id"].to_numpy(),
        "date": platelets["date"].to_numpy(),
        "level": level.astype("int8"),
        "hold": level.astype("int8"),
    }, copy=False)  # the arrays as they are: no copy into one block


def patient_day_keys(codes: np.ndarray, date: np.ndarray) -> np.ndarray:
    """One sortable int64 per (patient code ≥ 0, date): the code in the high half, the date in the
    low half, as days (dates without a time of day, as validated tables hold them) or else as its
    rank among the distinct timestamps."""
    ns = date.view(np.int64)
    day = np.int64(86_400 * 10**9)
    if (ns % day == 0).all():
        low = ns // day + np.int64(2**31)
    else:
        low = np.unique(date, return_inverse=True)[1].astype(np.int64).reshape(-1)
    return (codes.astype(np.int64) << 32) | low


def _latest_before(left: pd.DataFrame, right: pd.DataFrame, value: str, window_days: int) -> np.ndarray:
    """For each row of `left` (patient_id, date), the `value` of the latest `right` row of the
    same patient dated within `window_days` on or before it; NaN where there is none. (Of several
    right rows on that date, the last in table order.)

    What `pd.merge_asof(..., by="patient_id", direction="backward", tolerance=…)` gives, written
    as a binary search on one integer key per (patient, date): merge_asof sorts and groups both
    tables by their ids, which on millions of lab rows takes seconds; this a fraction of one."""
    if right.empty or left.empty:
        return np.full(len(left), np.nan)
    codes, _ = pd.factorize(pd.concat([left["patient_id"], right["patient_id"]], ignore_index=True))
    dates = np.concatenate([left["date"].to_numpy("datetime64[ns]"), right["date"].to_numpy("datetime64[ns]")])
    keys = patient_day_keys(codes, dates)
    lkey, rkey = keys[:len(left)], keys[len(left):]
    order = np.argsort(rkey, kind="stable")  # linear on rows already in patient and date order
    rkey, rdate = rkey[order], dates[len(left):][order]
    rvalue = right[value].to_numpy(float)[order]
    at = np.searchsorted(rkey, lkey, side="right") - 1  # the last right row at or before, ties: last in order
    hit = np.maximum(at, 0)
    same_patient = (at >= 0) & ((rkey[hit] >> 32) == (lkey >> 32))
    ok = same_patient & (dates[:len(left)] - rdate[hit] <= np.timedelta64(window_days, "D"))
    return np.where(ok, rvalue[hit], np.nan)


def aiha_levels(
    hemoglobin: pd.DataFrame,
    baseline: pd.Series,
    transfusion_dates: pd.DataFrame,
    markers: pd.DataFrame,
    require_markers: bool = False,
) -> pd.DataFrame:
    """Level of each post-baseline Hb count, and whether CR there rested on Hb alone.

    hemoglobin: patient_id, date, value. baseline: Hb by patient_id. transfusion_dates:
    patient_id, date. markers: patient_id, date, test (RET/LDH/TBIL), value. With
    `require_markers`, CR also needs at least one marker in the window (no CR on Hb alone); the
    column `hold` keeps the level without that requirement, so that a count without a marker does
    not count as the loss of a CR already confirmed (a missing test is not a fall)."""
    if hemoglobin.empty:
        out = _empty_levels()
        out["hb_alone"] = pd.Series([], dtype=bool)
        return out
    hb = hemoglobin["value"].to_numpy(float)
    base = hemoglobin["patient_id"].map(baseline).to_numpy(float)
    tx = transfusion_dates.assign(flag=1.0)
    recent_tx = ~np.isnan(_latest_before(hemoglobin, tx, "flag", TRANSFUSION_FREE_DAYS))
    hemolysis = np.zeros(len(hemoglobin), bool)
    any_marker = np.zeros(len(hemoglobin), bool)
    for test in HEMOLYSIS_MARKERS:
        m = markers.loc[markers["test"].eq(test), ["patient_id", "date", "value"]]
        v = _latest_before(hemoglobin, m, "value", MARKER_WINDOW_DAYS)
        any_marker |= ~np.isnan(v)
        hemolysis |= np.nan_to_num(v, nan=-np.inf) > UPPER_LIMIT_OF_NORMAL[test]
    rise = np.where(np.isnan(base), False, hb - base >= AIHA_PR_RISE_FROM_BASELINE)
    partial = ~recent_tx & ((hb >= AIHA_PR_HEMOGLOBIN) | rise)
    hold = np.where(~recent_tx & (hb >= AIHA_CR_HEMOGLOBIN) & ~hemolysis, COMPLETE, np.where(partial, RESPONSE, NR))
    level = np.where((hold == COMPLETE) & ~any_marker & require_markers, RESPONSE, hold)
    return pd.DataFrame({
        "patient_id": hemoglobin["patient_id"].to_numpy(),
        "date": hemoglobin["date"].to_numpy(),
        "level": level.astype("int8"),
        "hold": hold.astype("int8"),
        "hb_alone": (level == COMPLETE) & ~any_marker,
    }, copy=False)


def _daily(levels: pd.DataFrame) -> pd.DataFrame:
    """One level (and hold level) per patient and day: the lowest of that day's assessments
    (conservative); sorted by patient, then date.

    What `groupby(["patient_id", "date"], sort=True).min()` gives, as a stable sort on one integer
    key and a minimum over each run of equal keys: pandas' grouping on two keys hashes every row,
    seconds on tens of millions of lab rows; the sort is linear on rows already in order."""
    columns = ["level", "hold"] if "hold" in levels else ["level"]
    if levels.empty:
        return levels.groupby(["patient_id", "date"], sort=True, observed=True)[columns].min().reset_index()
    known = levels["patient_id"].notna().to_numpy()
    if not known.all():  # (a copy of tens of millions of rows only when some are to go)
        levels = levels[known]
    if pd.api.types.is_integer_dtype(levels["patient_id"]) and (levels["patient_id"] >= 0).all():
        # Patient numbers (analysis.derive) are their own codes, in the same order.
        codes = levels["patient_id"].to_numpy(np.int64)
        patients = pd.RangeIndex(int(codes.max()) + 1)
    else:
        codes, patients = pd.factorize(levels["patient_id"], sort=True)
    date = levels["date"].to_numpy("datetime64[ns]")
    key = patient_day_keys(codes, date)
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    del key  # (the arrays of a million-patient cohort are hundreds of MB each: each goes when done)
    first = order[starts]
    out = {"patient_id": patients.take(codes[first]), "date": date[first]}
    for c in columns:
        out[c] = np.minimum.reduceat(levels[c].to_numpy()[order], starts)
    return pd.DataFrame(out, copy=False)


def evans_levels(platelet_levels: pd.DataFrame, hemoglobin_levels: pd.DataFrame) -> pd.DataFrame:
    """Composite level on every date either lineage was assessed: the lower of the two lineages,
    each carried forward from its latest assessment (dates before both lineages have been
    assessed once are dropped)."""
    p = _daily(platelet_levels).rename(columns={"level": "plt", "hold": "plt_hold"})
    h = _daily(hemoglobin_levels).rename(columns={"level": "hgb", "hold": "hgb_hold"})
    m = p.merge(h, on=["patient_id", "date"], how="outer").sort_values(["patient_id", "date"], kind="stable")
    lineages = ["plt", "hgb", "plt_hold", "hgb_hold"]
    m[lineages] = m.groupby("patient_id", sort=False)[lineages].ffill()
    m = m.dropna(subset=["plt", "hgb"])
    level = np.minimum(m["plt"].to_numpy(), m["hgb"].to_numpy()).astype("int8")
    hold = np.minimum(m["plt_hold"].to_numpy(), m["hgb_hold"].to_numpy()).astype("int8")
    return pd.DataFrame({"patient_id": m["patient_id"].to_numpy(), "date": m["date"].to_numpy(), "level": level,
                         "hold": hold}, copy=False)


COURSE_COLUMNS = (
    "best_level", "best_onset", "best_confirmed",
    "response_onset", "response_confirmed", "relapse_onset", "relapse_confirmed",
)


def course(levels: pd.DataFrame, relapse_on_loss_of_cr: bool = False) -> pd.DataFrame:
    """From per-assessment levels to one row per patient (index patient_id):

    - best_level: highest level held on a confirmed run (0 when none);
    - best_onset / best_confirmed: first date of the first confirmed run at the best level,
      and the date its confirming count was taken;
    - response_onset / response_confirmed: the same for the first confirmed response (≥ R/PR);
    - relapse_onset / relapse_confirmed: after the first confirmed response, the first two
      consecutive no-response counts at least 1 day apart (NaT when none); with
      `relapse_on_loss_of_cr`, for a patient whose best level is CR, the first two such counts
      below CR after CR was confirmed (IWG 2009: the duration of CR ends at the loss of CR).

    A run is a stretch of consecutive assessments all at or above a level; it confirms the level
    at its first count at least CONFIRM_RESPONSE_DAYS after the run began.
    """
    if levels.empty:
        empty = pd.DataFrame({c: pd.Series([], dtype="datetime64[ns]") for c in COURSE_COLUMNS[1:]})
        empty.insert(0, "best_level", pd.Series([], dtype="int8"))
        empty.index = pd.Index([], name="patient_id", dtype=object)
        return empty
    d = _daily(levels)
    pid = d["patient_id"].to_numpy()
    date = d["date"].to_numpy("datetime64[ns]")
    level = d["level"].to_numpy()
    new_patient = np.ones(len(d), bool)
    new_patient[1:] = pid[1:] != pid[:-1]
    # Rows come patient by patient (_daily): each row's patient as its position in `patients`, so
    # that "the first row of each patient where …" is a run boundary and a look-up by position,
    # not a grouping or re-indexing by id.
    position = np.cumsum(new_patient) - 1
    patients = pd.Index(pid[new_patient], name="patient_id")
    nat = np.datetime64("NaT", "ns")

    def first_per_patient(where: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Which patients have a row in `where`, and each value at their first such row."""
        rows = np.flatnonzero(where)
        rows = rows[np.r_[True, position[rows[1:]] != position[rows[:-1]]]] if len(rows) else rows
        has = np.zeros(len(patients), dtype=bool)
        has[position[rows]] = True
        columns = []
        for v in values:
            column = np.full(len(patients), nat)
            column[position[rows]] = v[rows]
            columns.append(column)
        return has, columns

    out = pd.DataFrame(index=patients)
    best = np.full(len(patients), NR, dtype=np.int8)
    confirm_gap = np.timedelta64(CONFIRM_RESPONSE_DAYS, "D")
    for k in (RESPONSE, COMPLETE):
        q = level >= k
        starts = new_patient | np.r_[True, q[1:] != q[:-1]]
        run_id = np.cumsum(starts)
        run_start = date[np.flatnonzero(starts)][run_id - 1]
        confirmed = q & (date - run_start >= confirm_gap)
        has, (onset, at) = first_per_patient(confirmed, run_start, date)
        name = "response" if k == RESPONSE else "complete"
        out[f"{name}_onset"] = onset
        out[f"{name}_confirmed"] = at
        best[has] = np.int8(k)
    out.insert(0, "best_level", best)
    best_is_cr = out["best_level"].eq(COMPLETE)
    out["best_onset"] = out["complete_onset"].where(best_is_cr, out["response_onset"])
    out["best_confirmed"] = out["complete_confirmed"].where(best_is_cr, out["response_confirmed"])

    # Relapse: consecutive pairs of no-response assessments after the response was confirmed.
    confirmed_at = out["response_confirmed"].to_numpy("datetime64[ns]")[position]
    after = date > confirmed_at  # NaT compares False
    low = after & (level == NR)
    if relapse_on_loss_of_cr:
        # Loss of response (above) or, after a confirmed CR, counts below CR; `hold` is the level
        # a missing haemolysis marker does not lower (aiha_levels).
        cr_at = out["best_confirmed"].where(best_is_cr).to_numpy("datetime64[ns]")[position]
        hold = d["hold"].to_numpy() if "hold" in d else level
        low = low | ((date > cr_at) & (hold < COMPLETE))
    same_next = np.r_[pid[1:] == pid[:-1], False]
    next_low = np.r_[low[1:], False] & same_next
    next_date = np.r_[date[1:], nat]
    gap_ok = (next_date - date) >= np.timedelta64(CONFIRM_LOSS_DAYS, "D")
    pair = low & next_low & gap_ok
    _, (onset, at) = first_per_patient(pair, date, next_date)
    out["relapse_onset"] = onset
    out["relapse_confirmed"] = at
    for c in COURSE_COLUMNS[1:]:
        out[c] = pd.to_datetime(out[c])
    return out[list(COURSE_COLUMNS)]
