"""The synthetic cohort: not real patients, calibrated to Zhang et al., Ann Hematol 2022.

Each patient is drawn from a latent model — true best response, time to response, relapse
time, steroid taper, tacrolimus dosing and troughs, adverse events, cost — and the raw tables
a hospital would hold are written from it: lab series at realistic visits with noise, steroid
periods following the study's regimens (re-escalation after relapse), events after onset. The
derivation in `analysis.derive` then has to recover the endpoints from those raw tables, as it
would from a department's own data.

Exact facts of the abstract (arm × diagnosis counts, 87 men, age median 45 and range 14–90)
hold exactly for the default 318 patients. Effect sizes are ASSUMPTIONS taken from comparable
cohorts (STUDY.md), collected in `ASSUMPTIONS`, not results of the paper.

The arms are not comparable by construction, as in any retrospective study: confounding by
indication is built in (`Assumptions`, "confounding by indication"). Tacrolimus went more often
to younger patients and to those with lower baseline counts, and both age and the baseline count
also act on response and relapse. The crude comparison is therefore biased and the adjusted one
(`analysis.adjusted`) is not; `potential_levels` gives each patient's best response under either
arm, so the true marginal effect of a large cohort is known (tests/test_adjusted.py).

Generation is vectorised over patients and runs in chunks of `CHUNK_PATIENTS`, each written to
Parquet before the next is drawn, so a million patients generate in bounded memory. The same
seed gives byte-identical files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import criteria
from .derive import COST_AND_DOSE_WINDOW_DAYS
from .schema import (
    AE_OTHER, AE_STEROID, AE_TACROLIMUS, AIHA, ARM_CONTROL, ARM_TACROLIMUS, DAYS_PER_MONTH, ES, HGB, ITP, LDH, PLT,
    PREDNISONE_EQUIVALENT, RET, TABLES, TBIL,
)

GENERATOR_VERSION = 2
DEFAULT_PATIENTS = 318
DEFAULT_SEED = 20221
CHUNK_PATIENTS = 20_000
STUDY_CITATION = (
    "Zhang R, Chen M, Yang C, Han B et al. Efficacy and steroid-sparing effect of tacrolimus in patients "
    "with autoimmune cytopenia. Ann Hematol 2022;101:2421–2431. doi:10.1007/s00277-022-04967-9"
)

# Exact facts of the abstract.
STUDY_COUNTS: dict[tuple[str, str], int] = {
    (ARM_TACROLIMUS, ITP): 120, (ARM_TACROLIMUS, AIHA): 19, (ARM_TACROLIMUS, ES): 5,
    (ARM_CONTROL, ITP): 141, (ARM_CONTROL, AIHA): 25, (ARM_CONTROL, ES): 8,
}
STUDY_PATIENTS = 318
STUDY_MALES = 87
STUDY_AGE_MIN, STUDY_AGE_MAX = 14, 90
# Age quantiles (probability, years) through the published median and range; the shape in
# between is assumed.
AGE_QUANTILES = ((0.0, 14.0), (0.1, 22.0), (0.25, 31.0), (0.5, 45.0), (0.75, 58.0), (0.9, 68.0), (1.0, 90.0))


@dataclass(frozen=True)
class Assumptions:
    """Latent-model parameters. Not from the paper: assumed from comparable cohorts (STUDY.md)."""

    # P(best CR), P(best R/PR) by (arm, diagnosis), for a patient at the reference severity and
    # age 45 (see the confounding below)
    p_cr: tuple[tuple[tuple[str, str], float], ...] = (
        ((ARM_TACROLIMUS, ITP), 0.76), ((ARM_TACROLIMUS, AIHA), 0.70), ((ARM_TACROLIMUS, ES), 0.58),
        ((ARM_CONTROL, ITP), 0.43), ((ARM_CONTROL, AIHA), 0.40), ((ARM_CONTROL, ES), 0.35),
    )
    p_partial: tuple[tuple[tuple[str, str], float], ...] = (
        ((ARM_TACROLIMUS, ITP), 0.13), ((ARM_TACROLIMUS, AIHA), 0.18), ((ARM_TACROLIMUS, ES), 0.25),
        ((ARM_CONTROL, ITP), 0.37), ((ARM_CONTROL, AIHA), 0.40), ((ARM_CONTROL, ES), 0.40),
    )
    # Relapse hazard after response, per month, by (arm, diagnosis)
    relapse_per_month: tuple[tuple[tuple[str, str], float], ...] = (
        ((ARM_TACROLIMUS, ITP), 0.010), ((ARM_TACROLIMUS, AIHA), 0.008), ((ARM_TACROLIMUS, ES), 0.016),
        ((ARM_CONTROL, ITP), 0.027), ((ARM_CONTROL, AIHA), 0.036), ((ARM_CONTROL, ES), 0.032),
    )
    # Median days to response by diagnosis
    response_days_median: tuple[tuple[str, float], ...] = ((ITP, 14.0), (AIHA, 24.0), (ES, 28.0))
    # Confounding by indication. Baseline counts are drawn given the arm (normal, equal spread,
    # lower with tacrolimus), so the true propensity score is logistic-linear in them, as the
    # model of `analysis.adjusted` assumes. Ages (the exact published set) are handed out so that
    # tacrolimus patients are younger: a patient's rank is a standard normal draw plus
    # `age_rank_shift_tacrolimus`, the highest ranks getting the youngest ages.
    baseline_plt_mean: tuple[tuple[str, float], ...] = ((ARM_TACROLIMUS, 11.0), (ARM_CONTROL, 14.5))
    baseline_plt_sd: float = 4.5
    baseline_hgb_mean: tuple[tuple[str, float], ...] = ((ARM_TACROLIMUS, 65.0), (ARM_CONTROL, 72.0))
    baseline_hgb_sd: float = 9.0
    age_rank_shift_tacrolimus: float = 0.5
    # Severity = how far the baseline count lies below the reference (in SDs; Evans: the mean of
    # both lineages). Each unit lowers the log-odds of CR and of response by `severity_log_odds`
    # and multiplies the relapse hazard by exp(`severity_log_hazard`); each decade of age above 45
    # acts the same way with the `age_*` coefficients.
    severity_reference_plt: float = 13.0
    severity_reference_hgb: float = 69.0
    severity_log_odds: float = -0.45
    severity_log_hazard: float = 0.25
    age_log_odds_per_decade: float = -0.10
    age_log_hazard_per_decade: float = 0.10
    # A CR patient may fall back to the R/PR level without relapsing (ITP platelets 40–85, AIHA Hb
    # 106–114), at this multiple of their relapse hazard: the loss of CR that the reviewer's
    # relapse definition counts (analysis/definitions.py).
    cr_loss_hazard_ratio: float = 0.7
    follow_up_months_median: float = 20.0
    follow_up_months_range: tuple[float, float] = (6.0, 48.0)
    # Steroid course: full-dose days and weekly taper steps (median) by arm
    full_dose_days: tuple[tuple[str, tuple[int, int]], ...] = ((ARM_TACROLIMUS, (21, 28)), (ARM_CONTROL, (28, 35)))
    taper_steps_median: tuple[tuple[str, float], ...] = ((ARM_TACROLIMUS, 10.0), (ARM_CONTROL, 22.0))
    nonresponder_taper_steps: float = 8.0
    share_dexamethasone_itp: float = 0.15
    share_methylprednisolone_pulse_aiha: float = 0.30
    share_prednisolone: float = 0.10
    # Adverse events: steroid-related probability grows with the prednisone-equivalent dose
    steroid_ae_base: float = 0.02
    steroid_ae_per_gram: float = 0.10
    tacrolimus_ae: float = 0.30
    other_ae: float = 0.12
    # Cost, CNY
    tacrolimus_cny_per_mg: float = 8.0
    prednisone_cny_per_mg: float = 0.02
    supportive_cny_median: float = 8000.0
    rescue_cny_range: tuple[float, float] = (8000.0, 30000.0)

    def by_arm_dx(self, field_name: str, arm: np.ndarray, dx: np.ndarray) -> np.ndarray:
        out = np.zeros(len(arm))
        for (a, d), v in getattr(self, field_name):
            out[(arm == a) & (dx == d)] = v
        return out

    def by_arm(self, field_name: str, arm: np.ndarray) -> np.ndarray:
        return np.select([arm == a for a, _ in getattr(self, field_name)], [v for _, v in getattr(self, field_name)], 0.0)


ASSUMPTIONS = Assumptions()

STEROID_AE_TERMS = (
    ("hyperglycemia", 0.22), ("hypertension", 0.10), ("infection", 0.18), ("osteoporosis", 0.06),
    ("cushingoid features", 0.14), ("weight gain", 0.12), ("insomnia", 0.10), ("gastric discomfort", 0.08),
)
TACROLIMUS_AE_TERMS = (
    ("renal dysfunction", 0.25), ("tremor", 0.20), ("hypomagnesemia", 0.15), ("diarrhoea", 0.15),
    ("hyperkalaemia", 0.10), ("hypertension", 0.08), ("hyperglycemia", 0.07),
)
OTHER_AE_TERMS = (("headache", 0.3), ("rash", 0.25), ("fatigue", 0.25), ("arthralgia", 0.2))

# Scheduled visits (days after treatment start); the last visit is at last follow-up.
VISIT_DAYS = np.array(
    [3, 7, 10, 14, 21, 28, 35, 42, 56, 70, 84, 112, 140, 168] + list(range(198, 1500, 30)), dtype=np.int64
)
STUDY_START = np.datetime64("2016-01-01")
ENROLMENT_DAYS = 1640


# --------------------------------------------------------------------------------------
# Arrow schemas: fixed column types make the files stable and byte-identical per seed.

_ARROW = {"text": pa.string(), "code": pa.string(), "number": pa.float64(), "integer": pa.int64(),
          "date": pa.date32(), "bool": pa.bool_()}
WRITTEN_COLUMNS = {
    "patients": ("patient_id", "arm", "diagnosis", "sex", "age", "treatment_start", "last_follow_up",
                 "weight_kg", "drug_cost_18m"),
    "labs": ("patient_id", "date", "test", "value", "bleeding", "transfused"),
    "steroid_doses": ("patient_id", "drug", "start_date", "end_date", "daily_dose_mg"),
    "tacrolimus": ("patient_id", "date", "daily_dose_mg", "trough_ng_ml"),
    "adverse_events": ("patient_id", "onset_date", "term", "category", "grade", "serious"),
}


def arrow_schema(table: str) -> pa.Schema:
    spec = TABLES[table]
    return pa.schema([(c, _ARROW[spec.column(c).kind]) for c in WRITTEN_COLUMNS[table]])


# --------------------------------------------------------------------------------------
# Allocation of the exact facts


def _largest_remainder(total: int, shares: np.ndarray) -> np.ndarray:
    raw = shares / shares.sum() * total
    base = np.floor(raw).astype(int)
    short = total - base.sum()
    order = np.argsort(-(raw - base), kind="stable")
    base[order[:short]] += 1
    return base


def _ages(rng: np.random.Generator, m: int, younger: np.ndarray, shift: float) -> np.ndarray:
    """The published age distribution (exact median and range for 318), handed out so that the
    patients flagged `younger` tend to get the younger ages (rank shift `shift` SDs)."""
    p, q = zip(*AGE_QUANTILES)
    ages = np.round(np.interp((np.arange(m) + 0.5) / m, p, q))
    ages[0] = STUDY_AGE_MIN
    ages[m - 1] = STUDY_AGE_MAX
    key = rng.standard_normal(m) + shift * younger
    out = np.empty(m)
    out[np.argsort(-key, kind="stable")] = ages
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def severity(a: Assumptions, dx: np.ndarray, base_plt: np.ndarray, base_hgb: np.ndarray) -> np.ndarray:
    """How far the baseline count of the affected lineage lies below the reference, in SDs."""
    s_plt = (a.severity_reference_plt - base_plt) / a.baseline_plt_sd
    s_hgb = (a.severity_reference_hgb - base_hgb) / a.baseline_hgb_sd
    return np.where(dx == ITP, s_plt, np.where(dx == AIHA, s_hgb, (s_plt + s_hgb) / 2))


def potential_levels(a: Assumptions, arm: np.ndarray, dx: np.ndarray, sev: np.ndarray, age: np.ndarray,
                     u: np.ndarray) -> np.ndarray:
    """Best response level (0 NR, 1 R/PR, 2 CR) of each patient had they been in `arm`, for their
    severity, age and uniform draw `u`: the same `u` under either arm gives the pair of potential
    outcomes whose difference is the patient's treatment effect."""
    shift = a.severity_log_odds * sev + a.age_log_odds_per_decade * (age - 45.0) / 10.0
    p_cr = _expit(_logit(a.by_arm_dx("p_cr", arm, dx)) + shift)
    p_any = _expit(_logit(a.by_arm_dx("p_cr", arm, dx) + a.by_arm_dx("p_partial", arm, dx)) + shift)
    return np.where(u < p_cr, 2, np.where(u < p_any, 1, 0)).astype(np.int8)


# --------------------------------------------------------------------------------------
# One chunk


@dataclass(frozen=True)
class Chunk:
    tables: dict[str, pd.DataFrame]
    latent: pd.DataFrame


def _choice(rng: np.random.Generator, terms: tuple[tuple[str, float], ...], n: int) -> np.ndarray:
    names = np.array([t for t, _ in terms], dtype=object)
    w = np.array([w for _, w in terms])
    return names[rng.choice(len(names), size=n, p=w / w.sum())]


def _round_to(x: np.ndarray, step: float) -> np.ndarray:
    return np.round(x / step) * step


def generate_chunk(rng: np.random.Generator, first_number: int, m: int, width: int, a: Assumptions = ASSUMPTIONS) -> Chunk:
    """Draw m patients numbered from `first_number`; return their raw tables and latent truth."""
    idx = np.arange(m)
    pid = np.array([f"P{first_number + i:0{width}d}" for i in idx], dtype=object)

    # --- who they are (exact facts for the default size)
    keys = list(STUDY_COUNTS)
    counts = _largest_remainder(m, np.array([STUDY_COUNTS[k] for k in keys], float))
    arm = np.empty(m, dtype=object)
    dx = np.empty(m, dtype=object)
    slots = rng.permutation(m)
    pos = 0
    for (a_, d_), c in zip(keys, counts):
        arm[slots[pos:pos + c]] = a_
        dx[slots[pos:pos + c]] = d_
        pos += c
    n_male = int(round(m * STUDY_MALES / STUDY_PATIENTS))
    sex = np.where(np.isin(np.arange(m), rng.permutation(m)[:n_male]), "M", "F").astype(object)
    tac = arm == ARM_TACROLIMUS
    age = _ages(rng, m, tac, a.age_rank_shift_tacrolimus)
    male = sex == "M"
    weight = np.round(np.clip(np.where(male, rng.normal(70, 10, m), rng.normal(58, 9, m)), 38, 130), 1)
    # Baseline counts given the arm (confounding by indication); written as the day-0 labs below.
    base_plt = np.round(np.clip(a.by_arm("baseline_plt_mean", arm) + a.baseline_plt_sd * rng.standard_normal(m), 1, 29))
    base_hb = np.round(np.clip(a.by_arm("baseline_hgb_mean", arm) + a.baseline_hgb_sd * rng.standard_normal(m), 40, 89))
    sev = severity(a, dx, base_plt, base_hb)
    start = STUDY_START + rng.integers(0, ENROLMENT_DAYS, m).astype("timedelta64[D]")
    lo, hi = a.follow_up_months_range
    fu_months = np.clip(np.exp(np.log(a.follow_up_months_median) + 0.45 * rng.standard_normal(m)), lo, hi)
    fu_day = np.round(fu_months * DAYS_PER_MONTH).astype(np.int64)

    # --- latent response and relapse
    u = rng.random(m)
    level = potential_levels(a, arm, dx, sev, age, u)
    level_if = {arm_code: potential_levels(a, np.full(m, arm_code, dtype=object), dx, sev, age, u)
                for arm_code in (ARM_TACROLIMUS, ARM_CONTROL)}
    med = np.array([dict(a.response_days_median)[d] for d in dx])
    t_resp = np.clip(np.round(med * np.exp(0.45 * rng.standard_normal(m))), 5, 90).astype(np.int64)
    t_resp = np.where(dx == ITP, t_resp, np.maximum(t_resp, 14))
    rate = a.by_arm_dx("relapse_per_month", arm, dx) * np.where(level == 1, 1.3, 1.0) * np.exp(
        a.severity_log_hazard * sev + a.age_log_hazard_per_decade * (age - 45.0) / 10.0)
    t_rel_after = np.maximum(45.0, rng.exponential(1.0, m) / rate * DAYS_PER_MONTH)
    t_rel = t_resp + np.round(t_rel_after).astype(np.int64)
    relapse = (level >= 1) & (t_rel + 2 <= fu_day)
    t_rel = np.where(relapse, t_rel, 10**6)
    t_recover = t_rel + 28 + rng.integers(0, 29, m)
    t_crl = t_resp + np.round(np.maximum(45.0, rng.exponential(1.0, m) / (rate * a.cr_loss_hazard_ratio)
                                         * DAYS_PER_MONTH)).astype(np.int64)
    cr_lost = (level == 2) & (t_crl + 2 <= fu_day) & (t_crl + 2 < t_rel)
    t_crl = np.where(cr_lost, t_crl, 10**6)

    # Lineage levels: ITP → platelets, AIHA → hemoglobin, ES → both (composite = the lower).
    other = rng.integers(0, 3, m)
    plt_first = rng.random(m) < 0.5
    es = dx == ES
    lv_plt = np.where(dx == ITP, level, np.where(es, np.where(plt_first, level, np.maximum(level, other)), -1))
    lv_hgb = np.where(dx == AIHA, level, np.where(es, np.where(plt_first, np.maximum(level, other), level), -1))
    which = rng.integers(0, 3, m)  # ES relapse: 0 platelets, 1 hemoglobin, 2 both
    rel_plt = relapse & ((dx == ITP) | (es & (which != 1)))
    rel_hgb = relapse & ((dx == AIHA) | (es & (which != 0)))

    # --- visits
    n_v = len(VISIT_DAYS)
    jitter = np.where(VISIT_DAYS[None, :] > 14, rng.integers(-2, 3, (m, n_v)), 0)
    vday = VISIT_DAYS[None, :] + jitter
    base_day = -rng.integers(0, 4, m)
    extra = np.stack([
        base_day, fu_day, t_rel, t_rel + 2, t_rel + 9, t_resp + rng.integers(0, 3, m), t_crl, t_crl + 2,
    ], axis=1)
    all_days = np.concatenate([vday, extra], axis=1)
    rows_i = np.repeat(idx, all_days.shape[1])
    rows_t = all_days.ravel()
    keep = (rows_t <= fu_day[rows_i]) & (rows_t >= base_day[rows_i])
    v = pd.DataFrame({"i": rows_i[keep], "t": rows_t[keep]}).drop_duplicates().sort_values(["i", "t"], kind="stable")
    vi = v["i"].to_numpy()
    vt = v["t"].to_numpy()
    nv = len(vi)

    def phase(lineage_level: np.ndarray, lineage_relapse: np.ndarray) -> tuple[np.ndarray, ...]:
        """Visits in response, in relapse, recovered after relapse, and fallen from CR to R."""
        lvl = lineage_level[vi]
        responding = (lvl >= 1) & (vt >= t_resp[vi])
        low = lineage_relapse[vi] & (vt >= t_rel[vi]) & (vt < t_recover[vi])
        recovered = lineage_relapse[vi] & (vt >= t_recover[vi])
        fallen = (lvl == 2) & (vt >= t_crl[vi])
        return responding & ~low & ~recovered, low, recovered, fallen

    labs_parts = []
    # Platelets
    plateau_cr = np.clip(np.exp(np.log(180) + 0.35 * rng.standard_normal(m)), 125, 450)
    r_lo = np.maximum(40.0, 2.5 * base_plt)
    plateau_r = r_lo + rng.random(m) * (85.0 - r_lo)
    on_plt = lv_plt >= 0
    resp, low, rec, fallen = phase(lv_plt, rel_plt)
    pre_val = base_plt[vi] * rng.uniform(0.8, 1.6, nv)
    plateau = np.where((lv_plt[vi] == 2) & ~fallen, plateau_cr[vi], plateau_r[vi])
    val = np.where(resp, plateau * np.exp(0.05 * rng.standard_normal(nv)), pre_val)
    val = np.where(low, rng.uniform(5, 25, nv), val)
    val = np.where(rec, plateau_r[vi] * np.exp(0.05 * rng.standard_normal(nv)), val)
    val = np.where(vt <= 0, base_plt[vi], val)
    bleed = (val < 20) & (rng.random(nv) < np.where(vt <= 0, 0.5, 0.25))
    sel = on_plt[vi]
    labs_parts.append(pd.DataFrame({
        "i": vi[sel], "t": vt[sel], "test": PLT, "value": np.round(val[sel]), "bleeding": bleed[sel], "transfused": False,
    }))

    # Hemoglobin and hemolysis markers
    plateau_hcr = rng.uniform(128, 150, m)
    plateau_hpr = rng.uniform(106, 114, m)
    on_hb = lv_hgb >= 0
    resp, low, rec, fallen = phase(lv_hgb, rel_hgb)
    lvl_h = lv_hgb[vi]
    pre_hb = base_hb[vi] + rng.uniform(-5, 10, nv)
    hb_plateau = np.where((lvl_h == 2) & ~fallen, plateau_hcr[vi], plateau_hpr[vi])
    hb = np.where(resp, hb_plateau + rng.normal(0, 2, nv), pre_hb)
    hb = np.where(low, np.minimum(rng.uniform(70, 92, nv), base_hb[vi] + 12), hb)
    hb = np.where(rec, plateau_hpr[vi] + rng.normal(0, 2, nv), hb)
    hb = np.where(vt <= 0, base_hb[vi], hb)
    transfused = (vt <= 3) & (base_hb[vi] < 60)
    sel = on_hb[vi]
    labs_parts.append(pd.DataFrame({
        "i": vi[sel], "t": vt[sel], "test": HGB, "value": np.round(hb[sel]), "bleeding": False, "transfused": transfused[sel],
    }))
    normal = resp & (lvl_h == 2) & ~fallen
    measured = sel & ((vt <= 0) | (rng.random(nv) < 0.7))
    for test, (n_lo, n_hi), (a_lo, a_hi), digits in (
        (LDH, (140, 230), (320, 900), 0), (TBIL, (6, 18), (26, 70), 1), (RET, (0.5, 2.2), (4.0, 20.0), 1),
    ):
        value = np.where(normal, rng.uniform(n_lo, n_hi, nv), rng.uniform(a_lo, a_hi, nv))
        labs_parts.append(pd.DataFrame({
            "i": vi[measured], "t": vt[measured], "test": test, "value": np.round(value[measured], digits),
            "bleeding": False, "transfused": False,
        }))
    labs = pd.concat(labs_parts, ignore_index=True).sort_values(["i", "t", "test"], kind="stable")

    # --- steroids
    steroid_rows, course_end = _steroids(rng, a, m, arm, dx, weight, level, relapse, t_rel, fu_day)

    # --- tacrolimus
    tac_rows, tac_mg_18m, tac_start, tac_end = _tacrolimus(rng, tac, fu_day)

    # --- cumulative prednisone-equivalent dose in the first 18 months (for AEs and cost)
    sr = steroid_rows
    factor = sr["drug"].map(PREDNISONE_EQUIVALENT).to_numpy(float)
    end18 = np.minimum(sr["e"].to_numpy(), COST_AND_DOSE_WINDOW_DAYS - 1)
    days18 = np.clip(end18 - sr["s"].to_numpy() + 1, 0, None)
    cum18 = np.bincount(sr["i"].to_numpy(), weights=sr["dose"].to_numpy() * factor * days18, minlength=m)

    # --- adverse events
    ae = _adverse_events(rng, a, m, tac, cum18, course_end, tac_start, tac_end, fu_day)

    # --- cost over 18 months
    nonresponse_or_early_relapse = (level == 0) | (relapse & (t_rel < COST_AND_DOSE_WINDOW_DAYS))
    rescue = np.where(nonresponse_or_early_relapse, rng.uniform(*a.rescue_cny_range, m), 0.0)
    supportive = a.supportive_cny_median * np.exp(0.6 * rng.standard_normal(m))
    steroid_ae_any = np.bincount(ae.loc[ae["category"].eq(AE_STEROID), "i"], minlength=m) > 0
    cost = (tac_mg_18m * a.tacrolimus_cny_per_mg + cum18 * a.prednisone_cny_per_mg + supportive + rescue
            + np.where(steroid_ae_any, rng.uniform(500, 3000, m), 0.0))
    cost = np.round(cost, -1)

    # --- write raw tables with dates
    def dates(i: np.ndarray, t: np.ndarray) -> np.ndarray:
        return (start[i] + t.astype("timedelta64[D]")).astype("datetime64[D]")

    patients = pd.DataFrame({
        "patient_id": pid, "arm": arm, "diagnosis": dx, "sex": sex, "age": age,
        "treatment_start": start.astype("datetime64[D]"),
        "last_follow_up": (start + fu_day.astype("timedelta64[D]")).astype("datetime64[D]"),
        "weight_kg": weight, "drug_cost_18m": cost,
    })
    li, lt = labs["i"].to_numpy(), labs["t"].to_numpy()
    labs_out = pd.DataFrame({
        "patient_id": pid[li], "date": dates(li, lt), "test": labs["test"].to_numpy(), "value": labs["value"].to_numpy(float),
        "bleeding": labs["bleeding"].to_numpy(bool), "transfused": labs["transfused"].to_numpy(bool),
    })
    si = sr["i"].to_numpy()
    steroid_out = pd.DataFrame({
        "patient_id": pid[si], "drug": sr["drug"].to_numpy(), "start_date": dates(si, sr["s"].to_numpy()),
        "end_date": dates(si, sr["e"].to_numpy()), "daily_dose_mg": sr["dose"].to_numpy(float),
    })
    ti = tac_rows["i"].to_numpy()
    tac_out = pd.DataFrame({
        "patient_id": pid[ti], "date": dates(ti, tac_rows["t"].to_numpy()),
        "daily_dose_mg": tac_rows["dose"].to_numpy(float), "trough_ng_ml": tac_rows["trough"].to_numpy(float),
    })
    ai = ae["i"].to_numpy()
    ae_out = pd.DataFrame({
        "patient_id": pid[ai], "onset_date": dates(ai, ae["t"].to_numpy()), "term": ae["term"].to_numpy(),
        "category": ae["category"].to_numpy(), "grade": ae["grade"].to_numpy(np.int64), "serious": ae["serious"].to_numpy(bool),
    })
    latent = pd.DataFrame({
        "patient_id": pid, "arm": arm, "diagnosis": dx, "true_level": level,
        "true_best_response": [criteria.LEVEL_CODE[d][int(l)] for d, l in zip(dx, level)],
        "true_level_tacrolimus": level_if[ARM_TACROLIMUS], "true_level_control": level_if[ARM_CONTROL],
        "true_relapse": relapse, "response_day": np.where(level >= 1, t_resp, -1),
        "relapse_day": np.where(relapse, t_rel, -1), "cr_lost_day": np.where(cr_lost, t_crl, -1),
    })
    return Chunk(
        {"patients": patients, "labs": labs_out, "steroid_doses": steroid_out, "tacrolimus": tac_out,
         "adverse_events": ae_out},
        latent,
    )


def _taper(i: np.ndarray, s0: np.ndarray, d0: np.ndarray, full_days: np.ndarray,
           steps: np.ndarray, drug: np.ndarray) -> pd.DataFrame:
    """Full dose for `full_days`, then weekly steps falling geometrically from d0 to 2.5 mg."""
    k_max = int(steps.max()) if len(steps) else 0
    ratio = (2.5 / d0) ** (1.0 / steps)
    k = np.arange(1, k_max + 1)[None, :]
    dose = np.maximum(2.5, _round_to(d0[:, None] * ratio[:, None] ** k, 2.5))
    s = s0[:, None] + full_days[:, None] + (k - 1) * 7
    valid = k <= steps[:, None]
    first = pd.DataFrame({"i": i, "s": s0, "e": s0 + full_days - 1, "dose": d0, "drug": drug})
    rest = pd.DataFrame({
        "i": np.broadcast_to(i[:, None], dose.shape)[valid], "s": s[valid], "e": s[valid] + 6,
        "dose": dose[valid], "drug": np.broadcast_to(drug[:, None], dose.shape)[valid],
    })
    return pd.concat([first, rest], ignore_index=True)


def _steroids(rng, a: Assumptions, m, arm, dx, weight, level, relapse, t_rel, fu_day):
    idx = np.arange(m)
    parts = []
    dxm = (dx == ITP) & (rng.random(m) < a.share_dexamethasone_itp)
    pulse = (dx != ITP) & (rng.random(m) < a.share_methylprednisolone_pulse_aiha)
    pred_drug = np.where(rng.random(m) < a.share_prednisolone, "prednisolone", "prednisone").astype(object)

    # Dexamethasone 40 mg/day × 4 days, repeated after two weeks in half of them.
    i = idx[dxm]
    parts.append(pd.DataFrame({"i": i, "s": 0, "e": 3, "dose": 40.0, "drug": "dexamethasone"}))
    again = i[rng.random(len(i)) < 0.5]
    parts.append(pd.DataFrame({"i": again, "s": 14, "e": 17, "dose": 40.0, "drug": "dexamethasone"}))
    # Methylprednisolone 80 mg/day × 3 days before prednisone in some AIHA/Evans patients.
    i = idx[pulse]
    parts.append(pd.DataFrame({"i": i, "s": 0, "e": 2, "dose": 80.0, "drug": "methylprednisolone"}))

    # Prednisone 1 mg/kg/day (30–80 mg) then taper; dexamethasone patients get a short
    # low-dose prednisone bridge instead.
    pred = ~dxm
    s0 = np.where(pulse, 3, 0)
    d0 = np.clip(_round_to(weight, 5.0), 30, 80)
    full = np.zeros(m, dtype=np.int64)
    steps = np.zeros(m, dtype=np.int64)
    for arm_code, (lo, hi) in a.full_dose_days:
        sel = arm == arm_code
        full[sel] = rng.integers(lo, hi + 1, sel.sum())
        med = dict(a.taper_steps_median)[arm_code]
        steps[sel] = np.clip(np.round(med * np.exp(0.3 * rng.standard_normal(sel.sum()))), 3, 40)
    nr = level == 0
    steps[nr] = np.clip(np.round(a.nonresponder_taper_steps * np.exp(0.3 * rng.standard_normal(nr.sum()))), 3, 40)
    i = idx[pred]
    parts.append(_taper(i, s0[i], d0[i], full[i], steps[i], pred_drug[i]))
    bridge = idx[dxm & (rng.random(m) < 0.5)]
    if len(bridge):
        parts.append(_taper(
            bridge, np.full(len(bridge), 18), np.full(len(bridge), 20.0),
            np.full(len(bridge), 14), np.clip(steps[bridge] // 2, 3, 20), pred_drug[bridge],
        ))
    course = pd.concat(parts, ignore_index=True)

    # Relapse: the running course stops the day before, and prednisone 0.5 mg/kg restarts.
    rel_day = np.where(relapse, t_rel, 10**6)
    r = rel_day[course["i"].to_numpy()]
    before = course["s"].to_numpy() < r
    course = course[before].copy()
    course["e"] = np.minimum(course["e"].to_numpy(), r[before] - 1)
    i = idx[relapse]
    if len(i):
        re_steps = np.clip(np.round(steps[i] * 0.8), 3, 40)
        d1 = np.maximum(20.0, _round_to(weight[i] * 0.5, 5.0))
        parts2 = _taper(i, t_rel[i], d1, np.full(len(i), 14), re_steps, pred_drug[i])
        course = pd.concat([course, parts2], ignore_index=True)
    # Nothing after last follow-up: periods running then are cut at it (still on steroids).
    f = fu_day[course["i"].to_numpy()]
    course = course[course["s"].to_numpy() <= f].copy()
    course["e"] = np.minimum(course["e"].to_numpy(), fu_day[course["i"].to_numpy()])
    course = course.sort_values(["i", "s", "drug"], kind="stable").reset_index(drop=True)
    course_end = np.full(m, 0, dtype=np.int64)
    g = course.groupby("i")["e"].max()
    course_end[g.index.to_numpy()] = g.to_numpy()
    return course, course_end


def _tacrolimus(rng, tac: np.ndarray, fu_day: np.ndarray):
    """1 mg twice daily, adjusted at each visit toward a trough of 5–10 ng/mL, for 6–18 months."""
    m = len(tac)
    idx = np.arange(m)[tac]
    n = len(idx)
    start = rng.integers(0, 8, n)
    duration = rng.integers(183, 548, n)
    stop = np.minimum(start + duration, fu_day[idx])
    offsets = np.array([0, 14, 28, 56, 84] + list(range(114, 600, 30)))
    clearance = np.exp(0.35 * rng.standard_normal(n))  # trough per mg/day varies between patients
    dose = np.full(n, 2.0)
    rows = []
    for off in offsets:
        t = start + off
        alive = t < stop
        trough = np.round(3.4 * dose / clearance * np.exp(0.2 * rng.standard_normal(n)), 1)
        trough = np.where(off == 0, np.nan, trough)  # no trough before the first dose
        rows.append(pd.DataFrame({"i": idx[alive], "t": t[alive], "dose": dose[alive], "trough": trough[alive]}))
        dose = np.where(trough < 5, np.minimum(dose + 1, 4), np.where(trough > 10, np.maximum(dose - 1, 1), dose))
    ended = stop < fu_day[idx]
    rows.append(pd.DataFrame({"i": idx[ended], "t": stop[ended], "dose": 0.0, "trough": np.nan}))
    out = pd.concat(rows, ignore_index=True).sort_values(["i", "t"], kind="stable").drop_duplicates(["i", "t"], keep="last")
    # Milligrams taken in the first 18 months: each dose runs until the next row.
    nxt = out.groupby("i")["t"].shift(-1).fillna(out["i"].map(dict(zip(idx, stop))))
    days = (np.minimum(nxt.to_numpy(), COST_AND_DOSE_WINDOW_DAYS) - out["t"].to_numpy()).clip(0)
    mg = np.bincount(out["i"].to_numpy(), weights=out["dose"].to_numpy() * days, minlength=m)
    start_all = np.full(m, -1)
    stop_all = np.full(m, -1)
    start_all[idx] = start
    stop_all[idx] = stop
    return out.reset_index(drop=True), mg, start_all, stop_all


def _adverse_events(rng, a: Assumptions, m, tac, cum18, course_end, tac_start, tac_end, fu_day) -> pd.DataFrame:
    idx = np.arange(m)
    parts = []
    p_st = np.clip(a.steroid_ae_base + a.steroid_ae_per_gram * cum18 / 1000.0, 0, 0.9)
    has = rng.random(m) < p_st
    n_terms = 1 + rng.binomial(1, 0.25, m)
    for extra in (0, 1):
        sel = has & (n_terms > extra)
        i = idx[sel]
        hi = np.maximum(np.minimum(course_end[i], 180), 15)
        t = np.minimum(rng.integers(7, 10**9, len(i)) % (hi - 6) + 7, fu_day[i])
        parts.append(pd.DataFrame({"i": i, "t": t, "term": _choice(rng, STEROID_AE_TERMS, len(i)), "category": AE_STEROID}))
    has = tac & (rng.random(m) < a.tacrolimus_ae)
    i = idx[has]
    lo = tac_start[i] + 14
    hi = np.maximum(np.minimum(tac_end[i], fu_day[i]), lo + 1)
    t = lo + rng.integers(0, 10**9, len(i)) % (hi - lo)
    parts.append(pd.DataFrame({"i": i, "t": np.minimum(t, fu_day[i]), "term": _choice(rng, TACROLIMUS_AE_TERMS, len(i)),
                               "category": AE_TACROLIMUS}))
    has = rng.random(m) < a.other_ae
    i = idx[has]
    t = rng.integers(1, 10**9, len(i)) % np.maximum(fu_day[i], 2) + 1
    parts.append(pd.DataFrame({"i": i, "t": np.minimum(t, fu_day[i]), "term": _choice(rng, OTHER_AE_TERMS, len(i)),
                               "category": AE_OTHER}))
    ae = pd.concat(parts, ignore_index=True)
    ae = ae.drop_duplicates(["i", "term", "category"]).sort_values(["i", "t", "term"], kind="stable").reset_index(drop=True)
    g = rng.choice([1, 2, 3, 4], size=len(ae), p=[0.55, 0.33, 0.10, 0.02])
    ae["grade"] = g
    ae["serious"] = (g >= 3) & (rng.random(len(ae)) < 0.6) | (ae["term"].eq("infection") & (g >= 3)).to_numpy()
    return ae


# --------------------------------------------------------------------------------------
# Whole cohorts


def chunks(n: int, seed: int, chunk_patients: int = CHUNK_PATIENTS, a: Assumptions = ASSUMPTIONS) -> Iterator[Chunk]:
    """The cohort in chunks of at most `chunk_patients`, each from its own child seed."""
    if n < 1:
        raise ValueError("the cohort needs at least one patient")
    width = max(5, len(str(n)))
    sizes = [min(chunk_patients, n - s) for s in range(0, n, chunk_patients)]
    streams = np.random.SeedSequence(seed).spawn(len(sizes))
    first = 1
    for size, ss in zip(sizes, streams):
        yield generate_chunk(np.random.default_rng(ss), first, size, width, a)
        first += size


def generate(n: int = DEFAULT_PATIENTS, seed: int = DEFAULT_SEED, a: Assumptions = ASSUMPTIONS) -> Chunk:
    """A whole cohort in memory (for tests and small cohorts)."""
    parts = list(chunks(n, seed, a=a))
    tables = {t: pd.concat([p.tables[t] for p in parts], ignore_index=True) for t in WRITTEN_COLUMNS}
    return Chunk(tables, pd.concat([p.latent for p in parts], ignore_index=True))


def metadata(n: int, seed: int) -> dict:
    return {
        "name": f"Synthetic cohort ({n:,} patients, seed {seed})" if (n, seed) != (DEFAULT_PATIENTS, DEFAULT_SEED)
        else "Synthetic cohort calibrated to Zhang et al., Ann Hematol 2022",
        "synthetic": True,
        "patients": n,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "calibrated_to": STUDY_CITATION,
        "note": "Not real patients. Counts, sex and age match the published abstract; effect sizes are assumptions.",
    }


def write(out_dir: str | Path, n: int = DEFAULT_PATIENTS, seed: int = DEFAULT_SEED,
          chunk_patients: int = CHUNK_PATIENTS, a: Assumptions = ASSUMPTIONS) -> Path:
    """Write the cohort as one Parquet file per table, chunk by chunk (bounded memory)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for t in WRITTEN_COLUMNS:
            writers[t] = pq.ParquetWriter(out / f"{t}.parquet", arrow_schema(t), compression="zstd")
        for chunk in chunks(n, seed, chunk_patients, a):
            for t, df in chunk.tables.items():
                table = pa.Table.from_pandas(df[list(WRITTEN_COLUMNS[t])], schema=arrow_schema(t), preserve_index=False)
                writers[t].write_table(table, row_group_size=1_000_000)
    finally:
        for w in writers.values():
            w.close()
    (out / "cohort.json").write_text(json.dumps(metadata(n, seed), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out
