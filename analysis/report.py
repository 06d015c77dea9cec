"""The report: every number of the dashboard for one cohort and one Filters value, written as a
JSON-ready dict (the stable contract documented in docs/report.md) or as Markdown, and the
per-patient endpoints table as CSV. Nothing is computed here: the numbers come from
`analysis.results`, the text of numbers from `analysis.format`. Missing values are None (null)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import __version__
from .adjusted import COVARIATE_LABELS, COVARIATES, Adjusted, AdjustedHazard, WeightedRates, iptw, propensity
from .cohort import Cohort
from .continuous import TwoGroups
from .filters import Filters
from .format import hazard_ratio, interval, missing, number, p_number, percent
from .proportions import Comparison, Proportion, StratifiedComparison
from .results import Results, compute
from .schema import ARM_CONTROL, ARM_TACROLIMUS, ARMS, CURRENCY, DIAGNOSES, TACROLIMUS_TROUGH_TARGET, by_arm
from .spreadsheet import neutralise
from .survival import ArmComparison

SCHEMA_VERSION = 1

# Columns of `python -m analysis endpoints` (docs/report.md describes each).
ENDPOINT_COLUMNS = (
    "patient_id", "arm", "diagnosis", "sex", "age", "treatment_start", "last_follow_up", "follow_up_months",
    "baseline_plt", "baseline_hgb", "endpoint_source", "best_response", "responded", "complete_response",
    "response_date", "best_response_date", "time_to_response_months", "relapsed", "relapse_date", "rfs_months",
    "steroid_source", "steroid_cum_mg", "steroid_cum_mg_18m", "steroid_stop_date", "steroid_stop_months",
    "steroid_stopped", "any_ae", "steroid_ae", "tacrolimus_ae", "grade3_ae", "serious_ae", "ae_count",
    "tacrolimus_median_trough", "tacrolimus_trough_in_range", "drug_cost_18m", "steroid_dependent",
    "propensity_score", "weight",
)


def clean(value):
    """JSON-ready: NaN → None, numpy scalars → Python, tuples → lists, recursively."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if missing(value) else float(value)
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _records(df: pd.DataFrame) -> list[dict]:
    return [clean(r) for r in df.to_dict(orient="records")]


def _prop(p: Proportion, events_key: str) -> dict:
    return {events_key: p.events, "n": p.n, "rate": p.rate, "ci": [p.ci_low, p.ci_high]}


def _comparison(c: Comparison, events_key: str = "events") -> dict:
    return {
        ARM_TACROLIMUS: _prop(c.a, events_key), ARM_CONTROL: _prop(c.b, events_key),
        "difference": c.difference, "difference_ci": list(c.difference_ci),
        "p_value": c.p_value, "test": c.test or None,
        "odds_ratio": c.odds_ratio, "odds_ratio_ci": list(c.odds_ratio_ci),
        "odds_ratio_method": c.odds_ratio_method or None, "odds_ratio_reason": c.odds_ratio_reason or None,
        "reason": c.reason or None,
    }


def _cmh(s: StratifiedComparison) -> dict:
    return {"strata": list(s.strata), "odds_ratio": s.pooled_odds_ratio, "odds_ratio_ci": list(s.pooled_odds_ratio_ci),
            "statistic": s.statistic, "p_value": s.p_value, "test": s.test, "reason": s.reason or None,
            "odds_ratio_reason": s.odds_ratio_reason or None}


def _two(t: TwoGroups, unit: str = "") -> dict:
    out = {arm: {"n": s.n, "median": s.median, "q1": s.q1, "q3": s.q3, "min": s.minimum, "max": s.maximum}
           for arm, s in ((ARM_TACROLIMUS, t.a), (ARM_CONTROL, t.b))}
    out.update({"p_value": t.p_value, "test": t.test, "reason": t.reason or None})
    if unit:
        out["unit"] = unit
    return out


def _time_to_event(c: ArmComparison) -> dict:
    lm = c.landmarks
    out = {
        "n": {arm: c.n.get(arm, 0) for arm in ARMS},
        "events": {arm: c.curves[arm].events for arm in ARMS},
        "median_months": {arm: c.curves[arm].median for arm in ARMS},
        "median_ci": {arm: list(c.curves[arm].median_ci) for arm in ARMS},
        "logrank_p": c.logrank.p_value, "logrank_chisq": c.logrank.statistic,
        "logrank_reason": c.logrank.reason or None,
        "hazard_ratio": c.hazard.hazard_ratio, "hazard_ratio_ci": list(c.hazard.ci),
        "hazard_ratio_p": c.hazard.p_value, "hazard_ratio_reason": c.hazard.reason or None,
        "landmarks": _records(lm),
        "at_risk": {"months": [float(m) for m in c.at_risk.columns],
                    **{arm: [int(v) for v in c.at_risk.loc[arm]] for arm in ARMS}},
    }
    for m in sorted(set(lm["months"])):
        key = f"at_{m:g}_months"
        sub = lm[lm["months"] == m].set_index("arm")
        out[key] = {arm: sub.loc[arm, "survival"] for arm in ARMS}
    return out


# Report keys of the adverse-event flags of the endpoint table.
_SAFETY_KEYS = {"any_ae": "any_ae", "steroid_ae": "steroid_related", "tacrolimus_ae": "tacrolimus_related",
                "grade3_ae": "grade3", "serious_ae": "serious"}


def _weighted(w: WeightedRates | None) -> dict | None:
    if w is None:
        return None
    return {ARM_TACROLIMUS: {"rate": w.rate_a}, ARM_CONTROL: {"rate": w.rate_b}, "difference": w.difference,
            "difference_ci": list(w.difference_ci), "odds_ratio": w.odds_ratio, "odds_ratio_ci": list(w.odds_ratio_ci),
            "p_value": w.p_value, "reason": w.reason or None}


def _hazard(h: AdjustedHazard | None) -> dict | None:
    if h is None:
        return None
    return {"hazard_ratio": h.hazard_ratio, "ci": list(h.ci), "p_value": h.p_value, "method": h.method,
            "reason": h.reason or None}


def _adjusted(a: Adjusted) -> dict:
    """The `adjusted` section (docs/report.md): the propensity model, the weights, balance and the
    adjusted estimates of one estimand."""
    w = a.weights
    weights = None
    if w is not None:
        v = w.weights
        weights = {"min": v.min(), "median": v.median(), "max": v.max(), "sum": v.sum(),
                   "truncated_at": list(w.truncated) if w.truncated else None,
                   "effective_n": {arm: w.effective_n.get(arm) for arm in ARMS}}
    return {
        "estimand": a.estimand,
        "covariates": list(COVARIATES),
        "covariates_used": list(a.model.used),
        "coefficients": {k: float(v) for k, v in a.model.coefficients.items()},
        "weights": weights,
        "balance": _records(a.balance),
        "orr": _weighted(a.orr), "crr": _weighted(a.crr),
        "rfs": _hazard(a.rfs), "rfs_multivariable": _hazard(a.rfs_multivariable),
        "steroid_stop": _hazard(a.steroid_stop), "steroid_stop_multivariable": _hazard(a.steroid_stop_multivariable),
        "e_values": {k: {"estimate": v[0], "ci_limit": v[1]} for k, v in a.e_values.items()},
        "reason": a.reason or None,
    }


def build(cohort: Cohort, filters: Filters = Filters(), results: Results | None = None) -> dict:
    r = results or compute(cohort, filters)
    p = r.patients
    arms = dict(zip(ARMS, by_arm(p[["arm", "sex", "diagnosis"]])))
    rel = r.relapse_rate
    report = {
        "schema_version": SCHEMA_VERSION,
        "app_version": __version__,
        "cohort": {"name": cohort.name, "synthetic": cohort.synthetic, "sha256": cohort.sha256,
                   "patients_total": int(len(cohort.endpoints))},
        "filters": filters.as_dict(),
        "definitions": {**filters.definitions.as_dict(), "in_force": filters.definitions.sentences()},
        "n": {arm: int(len(arms[arm])) for arm in ARMS},
        "baseline": {
            "male": {arm: int(arms[arm]["sex"].eq("M").sum()) for arm in ARMS},
            "age_median": float(p["age"].median()) if len(p) else None,
            "age_min": float(p["age"].min()) if len(p) else None,
            "age_max": float(p["age"].max()) if len(p) else None,
            "diagnosis": {arm: {d: int(arms[arm]["diagnosis"].eq(d).sum()) for d in DIAGNOSES} for arm in ARMS},
            "table": _records(r.table1),
        },
        "response": {
            "orr": _comparison(r.response.orr, "responders"),
            "crr": _comparison(r.response.crr, "responders"),
            "by_diagnosis": _records(r.response.by_diagnosis),
            "cmh": {k: _cmh(v) for k, v in r.response.cmh.items()},
            "distribution": _records(r.response.distribution),
            "time_to_response": _time_to_event(r.response.time_to_response),
            "not_assessable": r.response.not_assessable,
        },
        "relapse": {
            "responders": {ARM_TACROLIMUS: rel.a.n, ARM_CONTROL: rel.b.n},
            "relapsed": {ARM_TACROLIMUS: rel.a.events, ARM_CONTROL: rel.b.events},
            "rate": _comparison(rel, "relapsed"),
            "p_value": rel.p_value, "test": rel.test or None, "reason": rel.reason or None,
            "rfs": {**_time_to_event(r.rfs), "subgroups": _records(r.rfs_subgroups)},
        },
        "steroids": {
            "cumulative_mg": _two(r.steroids.cumulative, "mg prednisone-equivalent"),
            "cumulative_18m_mg": _two(r.steroids.cumulative_18m, "mg prednisone-equivalent"),
            "discontinuation": _time_to_event(r.steroids.discontinuation),
            "steroid_free": _records(r.steroids.steroid_free),
            "troughs": clean({
                "patients": r.steroids.troughs.patients, "measurements": r.steroids.troughs.measurements,
                "median": r.steroids.troughs.values.median, "q1": r.steroids.troughs.values.q1,
                "q3": r.steroids.troughs.values.q3, "in_range": r.steroids.troughs.in_range,
                "below": r.steroids.troughs.below, "above": r.steroids.troughs.above,
                "target_ng_ml": list(TACROLIMUS_TROUGH_TARGET), "reason": r.steroids.troughs.reason or None,
            }),
        },
        "safety": {
            **{_SAFETY_KEYS[flag]: _comparison(c) for flag, c in r.safety.incidence.items()},
            "by_term": _records(r.safety.by_term),
        },
        "cost": {"drug_cost_18m": {**_two(r.safety.cost), "currency": CURRENCY}},
        "adjusted": _adjusted(r.adjusted),
    }
    return clean(report)


def endpoints_table(cohort: Cohort, filters: Filters = Filters()) -> pd.DataFrame:
    """The per-patient table the statistics run on (booleans true/false, dates ISO), with each
    patient's propensity score and stabilised IPTW weight (ATE) in the filtered selection, so that
    the adjusted comparison can be re-run elsewhere (empty when no model can be fitted)."""
    patients = filters.apply(cohort.endpoints_under(filters.definitions))
    model = propensity(patients)
    weights = (iptw(model.scores, patients["arm"] == ARM_TACROLIMUS).weights if not model.reason
               else pd.Series(float("nan"), index=patients.index))
    df = patients.assign(propensity_score=model.scores, weight=weights)[list(ENDPOINT_COLUMNS)].copy()
    for c in ("responded", "complete_response", "relapsed", "steroid_stopped"):
        df[c] = df[c].astype("boolean")
    return df.reset_index(drop=True)


def endpoints_csv(table: pd.DataFrame) -> bytes:
    """The endpoints table as CSV text: booleans true/false, dates YYYY-MM-DD, missing empty; text
    that a spreadsheet would run as a formula starts with an apostrophe."""
    csv = neutralise(table)  # no text cell may run as a formula in Excel (analysis/spreadsheet.py)
    for c in csv.columns:
        if str(csv[c].dtype) in ("boolean", "bool"):
            csv[c] = csv[c].map({True: "true", False: "false"}).astype(object)
    return csv.to_csv(index=False, date_format="%Y-%m-%d").encode("utf-8")


# ----------------------------------------------------------------------------------------
# Markdown


def _adjusted_markdown(a: dict) -> list[str]:
    """The adjusted comparison as a short table: IPTW and multivariable estimates beside each other."""
    lines = ["", f"## Adjusted comparison ({a['estimand']}, propensity-score weighting)", ""]
    if a["reason"]:
        return lines + [f"Not computed for this selection: {a['reason']}."]

    def ratio(block: dict | None, key: str, ci: str) -> str:
        if block is None:
            return "–"
        low, high = block[ci]
        return hazard_ratio(*(float("nan") if v is None else v for v in (block[key], low, high)), block["reason"] or "")

    eff = a["weights"]["effective_n"]
    lines += [
        "| Endpoint | IPTW | Multivariable | E-value (estimate; CI limit) |",
        "|---|---|---|---|",
    ]
    for name, key in (("Best ORR, odds ratio", "orr"), ("Best CRR, odds ratio", "crr")):
        lines.append(f"| {name} | {ratio(a[key], 'odds_ratio', 'odds_ratio_ci')} | – | {_e_value(a['e_values'].get(key))} |")
    for name, key in (("Relapse, hazard ratio", "rfs"), ("Steroid stop, hazard ratio", "steroid_stop")):
        lines.append(f"| {name} | {ratio(a[key], 'hazard_ratio', 'ci')} | {ratio(a[key + '_multivariable'], 'hazard_ratio', 'ci')} "
                     f"| {_e_value(a['e_values'].get(key))} |")
    worst = max((abs(r["smd_after"]) for r in a["balance"] if r["smd_after"] is not None), default=None)
    lines += ["", f"Covariates: {', '.join(COVARIATE_LABELS[c] for c in a['covariates_used'])}. Effective sample size: tacrolimus "
                  f"{number(eff[ARM_TACROLIMUS], 0)}, control {number(eff[ARM_CONTROL], 0)}. Largest |SMD| after "
                  f"weighting: {number(worst, 2)}."]
    return lines


def _e_value(v: dict | None) -> str:
    return "–" if v is None else f"{number(v['estimate'], 2)}; {number(v['ci_limit'], 2)}"


def markdown(rep: dict) -> str:
    t, c = ARM_TACROLIMUS, ARM_CONTROL
    co = rep["cohort"]
    lines = [
        f"# Tacrolimus + steroid vs steroid alone — {co['name']}",
        "",
        ("**Synthetic data — not real patients.** " if co["synthetic"] else "")
        + f"Cohort hash {co['sha256'][:12]}; {co['patients_total']} patients in the cohort.",
        f"Filters: {', '.join(f'{k} = {v}' for k, v in rep['filters'].items() if v is not None) or 'none'}.",
        *([f"Reviewer's definitions in force: {' '.join(rep['definitions']['in_force'])}"]
          if rep["definitions"]["in_force"] else []),
        "",
        "| | Tacrolimus + steroid | Steroid alone | p | test |",
        "|---|---|---|---|---|",
        f"| Patients | {rep['n'][t]:,} | {rep['n'][c]:,} | | |",
    ]
    for key, label in (("orr", "Best ORR"), ("crr", "Best CRR")):
        r = rep["response"][key]
        lines.append(f"| {label} | {r[t]['responders']:,}/{r[t]['n']:,} ({percent(r[t]['rate'])}) | "
                     f"{r[c]['responders']:,}/{r[c]['n']:,} ({percent(r[c]['rate'])}) | {p_number(r['p_value'])} | {r['test'] or r['reason']} |")
    rl = rep["relapse"]
    lines.append(f"| Relapse among responders | {rl['relapsed'][t]:,}/{rl['responders'][t]:,} | {rl['relapsed'][c]:,}/{rl['responders'][c]:,} | "
                 f"{p_number(rl['p_value'])} | {rl['test'] or rl['reason']} |")
    rfs = rl["rfs"]
    lines.append(f"| RFS at 12 months | {percent(rfs['at_12_months'][t])} | {percent(rfs['at_12_months'][c])} | {p_number(rfs['logrank_p'])} | log-rank |")
    def median(block: dict, arm: str) -> str:
        """A median in months; "not reached" only where the arm has patients to follow."""
        m = block["median_months"][arm]
        return number(m) if m is not None else "not reached" if block["n"][arm] else "–"

    lines.append(f"| Median RFS, months | {median(rfs, t)} | {median(rfs, c)} | | |")
    st = rep["steroids"]
    cm = st["cumulative_mg"]
    lines.append(f"| Cumulative steroid, mg (median [IQR]) | {number(cm[t]['median'], 0)} [{number(cm[t]['q1'], 0)}–{number(cm[t]['q3'], 0)}] | "
                 f"{number(cm[c]['median'], 0)} [{number(cm[c]['q1'], 0)}–{number(cm[c]['q3'], 0)}] | {p_number(cm['p_value'])} | Mann–Whitney U |")
    d = st["discontinuation"]
    lines.append(f"| Median time to steroid stop, months | {median(d, t)} | {median(d, c)} | "
                 f"{p_number(d['logrank_p'])} | log-rank |")
    for key, label in (("any_ae", "Any adverse event"), ("steroid_related", "Steroid-related AE"),
                       ("tacrolimus_related", "Tacrolimus-related AE"), ("grade3", "Grade ≥ 3 AE"), ("serious", "Serious AE")):
        s = rep["safety"][key]
        lines.append(f"| {label} | {s[t]['events']:,}/{s[t]['n']:,} ({percent(s[t]['rate'])}) | {s[c]['events']:,}/{s[c]['n']:,} "
                     f"({percent(s[c]['rate'])}) | {p_number(s['p_value'])} | {s['test'] or s['reason']} |")
    cost = rep["cost"]["drug_cost_18m"]
    lines.append(f"| Drug expenses at 18 months, {cost['currency']} (median) | {number(cost[t]['median'], 0)} | "
                 f"{number(cost[c]['median'], 0)} | {p_number(cost['p_value'])} | Mann–Whitney U |")
    hr = rfs["hazard_ratio"]
    lines += [
        "",
        f"Relapse-free survival: hazard ratio (tacrolimus vs control) {number(hr, 2)} "
        f"(95% CI {interval(rfs['hazard_ratio_ci'], lambda v: f'{v:.2f}')}), Cox model."
        + (f" {rfs['hazard_ratio_reason']}." if rfs["hazard_ratio_reason"] else ""),
        *_adjusted_markdown(rep["adjusted"]),
        "",
        "## Table 1",
        "",
        "| Variable | Level | Tacrolimus + steroid | Steroid alone | p | SMD |",
        "|---|---|---|---|---|---|",
    ]
    for row in rep["baseline"]["table"]:
        lines.append(f"| {row['variable']} | {row['level']} | {row['tacrolimus']} | {row['control']} | "
                     f"{p_number(row['p_value'], none='')} | {'' if missing(row['smd']) else number(row['smd'], 2)} |")
    lines += ["", f"Generated by the tacrolimus outcomes dashboard {rep['app_version']} (report schema {rep['schema_version']})."]
    return "\n".join(lines) + "\n"

