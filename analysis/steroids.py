"""Steroid exposure by arm: the daily prednisone-equivalent dose over time (median and IQR of
the patients still followed), cumulative dose, time to discontinuation, the share steroid-free
at landmarks, and tacrolimus troughs against the 5–10 ng/mL target."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .continuous import Summary, TwoGroups, compare_values, summarise, summary_of_counts
from .ranking import distinct_values
from .schema import ARMS, DAYS_PER_MONTH, TACROLIMUS_TROUGH_TARGET, by_arm, patients_of_rows, select_rows
from .survival import ArmComparison, compare_arms

STEROID_FREE_MONTHS = (3.0, 6.0, 12.0)
DOSE_GRID_STEP_DAYS = 7
DOSE_GRID_MAX_DAYS = 546  # 78 weeks ≈ 18 months


def daily_dose_by_arm(patients: pd.DataFrame, segments: pd.DataFrame, step_days: int = DOSE_GRID_STEP_DAYS,
                      max_days: int = DOSE_GRID_MAX_DAYS, patient_of_row: np.ndarray | None = None) -> pd.DataFrame:
    """Median and IQR of the daily prednisone-equivalent dose on a day grid from treatment start,
    over the patients still followed on that day (a patient off steroids counts as 0 mg).
    Columns: arm, day, months, followed, median, q1, q3.

    The grid is day 0, step_days, 2·step_days, … up to max_days; months = day / 30.4375. A dose
    period (segments: patient_id, start, end, prednisone_eq_mg) counts on every grid day from its
    start to its end, both included; overlapping periods add up. A patient is followed on days up
    to last_follow_up − treatment_start. followed is the number of such patients; median, q1 and q3
    are numpy's linear percentiles (R's type 7), NaN where nobody is followed. Descriptive only.
    `patient_of_row`: each segment's patient as a position in `patients` (−1: not one of them),
    when known (`results.Results`); otherwise the ids are looked up.

    >>> import pandas as pd
    >>> p = pd.DataFrame({"patient_id": ["p1", "p2", "p3"], "arm": ["tacrolimus", "tacrolimus", "control"],
    ...                   "treatment_start": pd.to_datetime(["2020-01-01"] * 3),
    ...                   "last_follow_up": pd.to_datetime(["2020-03-01", "2020-01-20", "2020-03-01"])})
    >>> seg = pd.DataFrame({"patient_id": ["p1", "p1", "p2", "p3"],
    ...                     "start": pd.to_datetime(["2020-01-01", "2020-01-15", "2020-01-01", "2020-01-01"]),
    ...                     "end": pd.to_datetime(["2020-01-14", "2020-02-10", "2020-01-31", "2020-02-29"]),
    ...                     "prednisone_eq_mg": [60.0, 30.0, 40.0, 50.0]})
    >>> d = daily_dose_by_arm(p, seg, step_days=14, max_days=56)
    >>> d[d["arm"] == "tacrolimus"][["day", "followed", "median"]].values.tolist()
    [[0.0, 2.0, 50.0], [14.0, 2.0, 35.0], [28.0, 1.0, 30.0], [42.0, 1.0, 0.0], [56.0, 1.0, 0.0]]
    """
    grid = np.arange(0, max_days + 1, step_days)
    start = patients["treatment_start"].to_numpy("datetime64[ns]")
    follow_days = ((patients["last_follow_up"] - patients["treatment_start"]).dt.days).to_numpy()
    if patient_of_row is None:
        patient_of_row = patients_of_rows(segments["patient_id"], patients)
    # The segments of these patients by position (at 100,000 patients, looking up 1.9 M segments'
    # ids took 0.4 s a filter change), in the segments' order.
    keep = patient_of_row >= 0
    i = patient_of_row[keep]
    # A row per grid day, a column per patient: each day's doses are then one contiguous row.
    shape = (len(grid), len(patients))
    if not len(i):
        dose = np.zeros(shape)
    else:
        rel_start = (segments["start"].to_numpy("datetime64[ns]")[keep] - start[i]) / np.timedelta64(1, "D")
        rel_end = (segments["end"].to_numpy("datetime64[ns]")[keep] - start[i]) / np.timedelta64(1, "D")
        k_lo = np.maximum(np.ceil(rel_start / step_days), 0).astype(int)
        k_hi = np.minimum(np.floor(rel_end / step_days), len(grid) - 1).astype(int)
        count = np.clip(k_hi - k_lo + 1, 0, None)
        rows = np.repeat(i, count)
        offsets = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        cols = np.repeat(k_lo, count) + offsets
        # Each (grid day, patient)'s doses added in the segments' order, as np.add.at would (a
        # tenth of its time).
        dose = np.bincount(cols * len(patients) + rows,
                           weights=np.repeat(segments["prednisone_eq_mg"].to_numpy(float)[keep], count),
                           minlength=shape[0] * shape[1]).reshape(shape)
    out = []
    for arm in ARMS:
        in_arm = patients["arm"].eq(arm).to_numpy(bool, na_value=False)
        n = np.zeros(len(grid), dtype=np.int64)
        q = np.full((len(grid), 3), np.nan)
        for g, day in enumerate(grid):
            followed = in_arm & (follow_days >= day)
            n[g] = followed.sum()
            if n[g]:  # numpy's percentiles of the patients followed that day (nanpercentile's, without the NaNs)
                q[g] = np.percentile(dose[g, followed], [25, 50, 75])
        out.append(pd.DataFrame({"arm": arm, "day": grid, "months": grid / DAYS_PER_MONTH, "followed": n,
                                 "median": q[:, 1], "q1": q[:, 0], "q3": q[:, 2]}))
    return pd.concat(out, ignore_index=True)


@dataclass(frozen=True)
class TroughSummary:
    patients: int
    measurements: int
    values: Summary
    in_range: float  # share of troughs within 5–10 ng/mL
    below: float
    above: float
    reason: str = ""


def trough_summary(patients: pd.DataFrame, tacrolimus: pd.DataFrame, patient_of_row: np.ndarray | None = None,
                   ranked: tuple[np.ndarray, np.ndarray] | None = None) -> TroughSummary:
    """Tacrolimus trough levels (column trough_ng_ml) of the patients in `patients`, all
    measurements pooled (a patient measured often weighs more), not split by arm.

    Returns a `TroughSummary`: patients (with a level), measurements, values (`continuous.summarise`:
    median, quartiles, mean, SD, …) and the shares of measurements in the 5–10 ng/mL target (both
    ends included), below and above it. Descriptive only; NaN and `reason` when there is no level.
    `patient_of_row`: each row's patient as a position in `patients` (−1: not one of them), when
    known (`results.Results`); otherwise the ids are looked up. `ranked`: the table's levels as
    `ranking.distinct_values` gives them, when found already (`cohort.Cohort.ranked_values`):
    each selection then counts its levels instead of ranking them (`continuous.summary_of_counts`).

    >>> import pandas as pd
    >>> tac = pd.DataFrame({"patient_id": ["p1", "p1", "p2", "p2", "p9"], "trough_ng_ml": [4.2, 7.5, 8.1, 12.0, 6.0]})
    >>> t = trough_summary(pd.DataFrame({"patient_id": ["p1", "p2", "p3"]}), tac)
    >>> t.patients, t.measurements, t.values.median, t.in_range, t.below, t.above
    (2, 4, 7.8, 0.5, 0.25, 0.25)
    """
    lo, hi = TACROLIMUS_TROUGH_TARGET
    # The visits of these patients by position: given (`results.Results`), or looked up.
    number = patient_of_row
    if number is None:
        number = patients_of_rows(tacrolimus["patient_id"], patients)
    level = pd.to_numeric(tacrolimus["trough_ng_ml"], errors="coerce").to_numpy(float, na_value=np.nan)
    measured = (number >= 0) & ~np.isnan(level)
    if not measured.any():
        return TroughSummary(0, 0, summarise(level[:0]), float("nan"), float("nan"), float("nan"), "no trough levels recorded")
    # The selection's levels counted per distinct level: the summary and the shares in, below and
    # above the target come from the counts.
    distinct, index = ranked if ranked is not None else distinct_values(level, compact=True)
    counts = np.bincount(index[measured], minlength=len(distinct))
    n = int(counts.sum())
    # Patients with a level: distinct positions (one per patient), counted without sorting.
    with_level = int(np.count_nonzero(np.bincount(number[measured], minlength=len(patients))))
    share = lambda where: int(counts[where].sum()) / n  # noqa: E731
    return TroughSummary(with_level, n, summary_of_counts(distinct, counts),
                         share((distinct >= lo) & (distinct <= hi)), share(distinct < lo), share(distinct > hi))


@dataclass(frozen=True)
class SteroidResult:
    cumulative: TwoGroups  # whole follow-up, prednisone-equivalent mg
    cumulative_18m: TwoGroups
    discontinuation: ArmComparison  # time to the last steroid dose
    steroid_free: pd.DataFrame  # arm, months, share, ci_low, ci_high
    troughs: TroughSummary


def steroids(patients: pd.DataFrame, tacrolimus: pd.DataFrame, trough_rows: np.ndarray | None = None,
             troughs_ranked: tuple[np.ndarray, np.ndarray] | None = None) -> SteroidResult:
    """Steroid exposure, tacrolimus against control.

    Returns a `SteroidResult`: cumulative and cumulative_18m (`continuous.compare_values` of
    steroid_cum_mg and steroid_cum_mg_18m: medians and quartiles per arm, two-sided Mann–Whitney U
    test); discontinuation (`survival.compare_arms` of steroid_stop_months with event
    steroid_stopped: Kaplan–Meier with log(−log) CIs, log-rank, Cox HR; patients whose
    steroid_stopped is unknown left out); steroid_free (arm, months, share, ci_low, ci_high at 3, 6
    and 12 months: 1 − the Kaplan–Meier estimate of still being on steroids, with its CI flipped the
    same way); troughs (`trough_summary`; `trough_rows` is its `patient_of_row`, `troughs_ranked`
    its `ranked`).

    >>> import pandas as pd
    >>> p = pd.DataFrame({"patient_id": [f"p{i}" for i in range(8)], "arm": ["tacrolimus"] * 4 + ["control"] * 4,
    ...                   "steroid_stopped": [True, True, False, True, True, False, False, None],
    ...                   "steroid_stop_months": [2.0, 5.0, 12.0, 7.0, 10.0, 12.0, 9.0, None],
    ...                   "steroid_cum_mg": [1800.0, 2500.0, 4000.0, 2100.0, 3900.0, 5200.0, 4800.0, 6100.0],
    ...                   "steroid_cum_mg_18m": [1800.0, 2500.0, 3600.0, 2100.0, 3900.0, 4700.0, 4800.0, 5500.0]})
    >>> r = steroids(p, pd.DataFrame({"patient_id": [], "trough_ng_ml": []}))
    >>> r.cumulative.a.median, r.cumulative.b.median, round(r.cumulative.p_value, 4)
    (2300.0, 5000.0, 0.0571)
    >>> r.steroid_free.round(3).query("arm == 'tacrolimus'")[["months", "share"]].values.tolist()
    [[3.0, 0.25], [6.0, 0.5], [12.0, 0.75]]
    >>> r.troughs.reason
    'no trough levels recorded'
    """
    a, b = by_arm(patients[["arm", "steroid_cum_mg", "steroid_cum_mg_18m"]])
    known = select_rows(patients, patients["steroid_stopped"].notna().to_numpy(bool),
                        ["arm", "steroid_stop_months", "steroid_stopped"])
    disc = compare_arms(known, "steroid_stop_months", "steroid_stopped", landmarks=STEROID_FREE_MONTHS)
    free = disc.landmarks.assign(
        share=1 - disc.landmarks["survival"], ci_low=1 - disc.landmarks["ci_high"], ci_high=1 - disc.landmarks["ci_low"],
    )[["arm", "months", "share", "ci_low", "ci_high"]]
    return SteroidResult(
        cumulative=compare_values(a["steroid_cum_mg"], b["steroid_cum_mg"]),
        cumulative_18m=compare_values(a["steroid_cum_mg_18m"], b["steroid_cum_mg_18m"]),
        discontinuation=disc,
        steroid_free=free,
        troughs=trough_summary(patients, tacrolimus, trough_rows, troughs_ranked),
    )


def course_sample(patients: pd.DataFrame, segments: pd.DataFrame, per_arm: int = 25, seed: int = 0) -> pd.DataFrame:
    """Individual daily-dose courses of a random sample of patients per arm, as step points:
    arm, patient_id, months (since treatment start), dose (mg/day; 0 between periods)."""
    rng = np.random.default_rng(seed)
    picks = []
    for arm in ARMS:
        ids = patients.loc[patients["arm"] == arm, "patient_id"].astype(str).to_numpy()
        picks += list(rng.choice(ids, size=min(per_arm, len(ids)), replace=False)) if len(ids) else []
    seg = segments[segments["patient_id"].isin(picks)]
    seg = seg.assign(patient_id=seg["patient_id"].astype(str))  # the few picked as text, not a Categorical of every id
    if seg.empty:
        return pd.DataFrame(columns=["arm", "patient_id", "months", "dose"])
    info = patients.set_index(patients["patient_id"].astype(str))[["arm", "treatment_start"]]
    start = seg["patient_id"].map(info["treatment_start"])
    s = (seg["start"] - start).dt.days / DAYS_PER_MONTH
    e = ((seg["end"] - start).dt.days + 1) / DAYS_PER_MONTH
    # Each segment as a rise at its start and a fall to 0 at its end; adjacent segments overwrite the 0.
    pts = pd.concat([
        pd.DataFrame({"patient_id": seg["patient_id"], "months": s, "dose": seg["prednisone_eq_mg"], "order": 1}),
        pd.DataFrame({"patient_id": seg["patient_id"], "months": e, "dose": 0.0, "order": 0}),
    ]).sort_values(["patient_id", "months", "order"])
    pts = pts.drop_duplicates(["patient_id", "months"], keep="last")
    pts["arm"] = pts["patient_id"].map(info["arm"].astype(str))  # text, whatever the patients' column holds
    return pts[["arm", "patient_id", "months", "dose"]].reset_index(drop=True)


def trough_points(patients: pd.DataFrame, tacrolimus: pd.DataFrame, patient_of_row: np.ndarray | None = None) -> pd.DataFrame:
    """Trough levels with months since treatment start: patient_id, months, trough_ng_ml (the
    tacrolimus table's rows, in its order and with its index). `patient_of_row`: each row's patient
    as a position in `patients` (−1: not one of them), when known (`results.Results`); otherwise
    the ids are looked up (at 100,000 patients, turning 640,000 visits' ids into text took 0.1 s
    a filter change)."""
    if patient_of_row is None:
        patient_of_row = patients_of_rows(tacrolimus["patient_id"], patients)
    keep = (patient_of_row >= 0) & tacrolimus["trough_ng_ml"].notna().to_numpy()
    who = patient_of_row[keep]
    index = tacrolimus.index[keep]
    start = patients["treatment_start"].to_numpy("datetime64[ns]")[who]
    days = pd.Series(tacrolimus["date"].to_numpy("datetime64[ns]")[keep] - start, index=index).dt.days
    return pd.DataFrame({"patient_id": pd.Series(patients["patient_id"].astype(str).to_numpy()[who], index=index),
                         "months": days / DAYS_PER_MONTH,
                         "trough_ng_ml": tacrolimus["trough_ng_ml"][keep]}, index=index)
