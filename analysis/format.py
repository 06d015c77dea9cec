"""Text made from numbers: p-values, percents, confidence intervals, medians, and a dash where a
number is missing. The only place where the dashboard turns a number into words, so that a page,
the Markdown report and a slide write 0.0004 the same way and never show "nan".

>>> p_value(0.0004), p_value(0.0312), p_value(float("nan"))
('p < 0.001', 'p = 0.031', 'p not computable')
>>> percent(0.4567), percent(None)
('45.7%', '–')
"""

from __future__ import annotations

import math
from typing import Callable

import pandas as pd

from .schema import ARM_LABELS, ARMS, SEX_LABELS, TACROLIMUS_TROUGH_TARGET

DASH = "–"


def missing(x: object) -> bool:
    """True for None, NaN, ±inf and pandas' NA/NaT: a value there is no number to show for.

    >>> [missing(v) for v in (None, float("nan"), float("inf"), pd.NA, 0.0, 3)]
    [True, True, True, True, False, False]
    """
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    try:
        return not math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def p_number(p: float | None, none: str = DASH) -> str:
    """A p-value as a number: three decimals, "< 0.001" below that, `none` when there is none.

    >>> p_number(0.04567), p_number(0.00001), p_number(None, none="")
    ('0.046', '< 0.001', '')
    """
    if missing(p):
        return none
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_value(p: float | None) -> str:
    """A p-value as a phrase: "p = 0.046", "p < 0.001" or "p not computable"."""
    if missing(p):
        return "p not computable"
    return f"p {p_number(p)}" if p < 0.001 else f"p = {p_number(p)}"


def percent(x: float | None, digits: int = 1) -> str:
    """A share (0.25) as a percent ("25.0%"), a dash when missing."""
    return DASH if missing(x) else f"{100 * x:.{digits}f}%"


def number(x: float | None, digits: int = 1) -> str:
    """A number with thousands separators ("12,345.6"), a dash when missing."""
    return DASH if missing(x) else f"{x:,.{digits}f}"


def interval(ci, fmt: Callable[[float], str] = percent) -> str:
    """A confidence interval as "low to high", a dash when either end is missing.

    >>> interval((0.1, 0.25)), interval((0.81, 1.52), lambda v: f"{v:.2f}"), interval((None, None))
    ('10.0% to 25.0%', '0.81 to 1.52', '–')
    """
    if not ci or missing(ci[0]) or missing(ci[1]):
        return DASH
    return f"{fmt(ci[0])} to {fmt(ci[1])}"


def months(x: float | None, digits: int = 1, unit: str = "mo") -> str:
    """A median time in months ("7.4 mo"); "not reached" when missing (the curve never fell to half).

    >>> months(7.43), months(0.915, 2, "months"), months(float("nan"))
    ('7.4 mo', '0.92 months', 'not reached')
    """
    return "not reached" if missing(x) else f"{x:.{digits}f} {unit}"


def events(p) -> str:
    """A `Proportion` as "events/n (rate)", e.g. "12/40 (30.0%)"."""
    return f"{p.events:,}/{p.n:,} ({percent(p.rate)})"


def difference(c) -> str:
    """The difference of a `Comparison` in percentage points with its 95% CI; a dash with the reason
    when there is none."""
    if missing(c.difference):
        return f"{DASH} ({c.reason})" if c.reason else DASH
    lo, hi = c.difference_ci
    return f"{100 * c.difference:+.1f} points ({100 * lo:+.1f} to {100 * hi:+.1f})"


def rate_comparison(name: str, c) -> str:
    """A `Comparison` as one sentence of a talk: "CRR 53.5% vs 39.1%, difference +14.4 points
    (95% CI +3.4 to +24.9), p = 0.014", or the reason it cannot be compared."""
    if missing(c.difference):
        return f"{name}: {c.reason or 'not computable'}"
    lo, hi = c.difference_ci
    return (f"{name} {percent(c.a.rate)} vs {percent(c.b.rate)}, difference {100 * c.difference:+.1f} points "
            f"(95% CI {100 * lo:+.1f} to {100 * hi:+.1f}), {p_value(c.p_value)}")


def odds_ratio(c) -> str:
    """The odds ratio of a `Comparison` with its 95% CI ("2.10 (1.20–3.70)"), a dash when missing."""
    if c.odds_ratio == float("inf"):
        return f"∞ ({c.odds_ratio_ci[0]:.2f}–∞; {c.odds_ratio_reason or 'infinite'})"
    if missing(c.odds_ratio):
        return f"{DASH} ({c.odds_ratio_reason})" if c.odds_ratio_reason else DASH
    hi = "∞" if c.odds_ratio_ci[1] == float("inf") else f"{c.odds_ratio_ci[1]:.2f}"
    return f"{c.odds_ratio:.2f} ({c.odds_ratio_ci[0]:.2f}–{hi})"


def target_range(target: tuple[float, float] = TACROLIMUS_TROUGH_TARGET) -> str:
    """The tacrolimus trough target as text: "5–10 ng/mL"."""
    return f"{target[0]:g}–{target[1]:g} ng/mL"


def share_with_ci(value: float, low: float, high: float) -> str:
    """A share with its 95% CI: "86.7% (78.9–91.8)"; without a CI, the share; a dash when missing."""
    if missing(value):
        return DASH
    if missing(low) or missing(high):
        return percent(value)
    return f"{100 * value:.1f}% ({100 * low:.1f}–{100 * high:.1f})"


def landmark_table(landmarks: pd.DataFrame, value: str, header: str) -> pd.DataFrame:
    """Arms × months table of a share with its 95% CI as text, from landmark rows (arm, months,
    <value>, ci_low, ci_high). `header` is formatted with the month.

    >>> lm = pd.DataFrame({"arm": ["tacrolimus", "control"], "months": [12.0, 12.0],
    ...                    "survival": [0.867, float("nan")], "ci_low": [0.789, float("nan")],
    ...                    "ci_high": [0.918, float("nan")]})
    >>> landmark_table(lm, "survival", "RFS at {months} months").to_dict()
    {'RFS at 12 months': {'Tacrolimus + steroid': '86.7% (78.9–91.8)', 'Steroid alone': '–'}}
    """
    text = [share_with_ci(v, lo, hi) for v, lo, hi in zip(landmarks[value], landmarks["ci_low"], landmarks["ci_high"])]
    table = landmarks.assign(text=text).pivot(index="arm", columns="months", values="text")
    table = table.reindex([a for a in ARMS if a in table.index])
    table.index = [ARM_LABELS[a] for a in table.index]
    table.columns = [header.format(months=f"{m:g}") for m in table.columns]
    return table


def median_with_ci(median: float, ci: tuple[float, float], digits: int = 1) -> str:
    """A Kaplan–Meier median with its 95% CI in months: "20.1 (15.3–NR)", NR where a limit (or the
    median itself) is not reached.

    >>> median_with_ci(20.13, (15.3, float("nan"))), median_with_ci(float("nan"), (9.0, float("nan")))
    ('20.1 (15.3–NR)', 'not reached')
    """
    if missing(median):
        return "not reached"
    lo, hi = ("NR" if missing(v) else f"{v:.{digits}f}" for v in ci)
    return f"{median:.{digits}f} ({lo}–{hi})"


def km_summary(comparison, header: str, cumulative: bool = False) -> pd.DataFrame:
    """The table under a Kaplan–Meier figure, a row per arm: patients, events, median (95% CI) and
    the landmarks (`header` formatted with the month), as text. `cumulative`: the landmarks are
    1 − S (e.g. the share off steroids), with the CI flipped."""
    lm = comparison.landmarks
    if cumulative:
        lm = lm.assign(survival=1 - lm["survival"], ci_low=1 - lm["ci_high"], ci_high=1 - lm["ci_low"])
    marks = landmark_table(lm, "survival", header)
    rows = []
    for arm in ARMS:
        c = comparison.curves[arm]
        rows.append({"": ARM_LABELS[arm], "Patients": f"{c.n:,}", "Events": f"{c.events:,}",
                     "Median, months (95% CI)": median_with_ci(c.median, c.median_ci) if c.n else DASH,
                     **(marks.loc[ARM_LABELS[arm]].to_dict() if ARM_LABELS[arm] in marks.index else {})})
    return pd.DataFrame(rows).fillna(DASH).set_index("")


def hazard_ratio(hr: float, low: float, high: float, reason: str = "") -> str:
    """A hazard ratio with its 95% CI ("0.31 (0.19–0.50)"); the reason when it cannot be estimated.

    >>> hazard_ratio(0.312, 0.19, 0.5), hazard_ratio(float("nan"), float("nan"), float("nan"), "no events")
    ('0.31 (0.19–0.50)', 'not estimable: no events')
    """
    if missing(hr):
        return f"not estimable: {reason}" if reason else "not estimable"
    return f"{hr:.2f} ({low:.2f}–{high:.2f})"


def subgroup_table(subgroups: pd.DataFrame) -> pd.DataFrame:
    """The rows of a forest plot as text, in its order: subgroup, events/n per arm, HR (95% CI),
    p. Subgroups the filters leave empty are left out. Columns: Subgroup, one per arm, "HR (95% CI)",
    p; the index is the subgroup's position in `subgroups`."""
    kept = subgroups[(subgroups["n_tacrolimus"] + subgroups["n_control"]) > 0]
    rows = {}
    for i, r in kept.iterrows():
        level = SEX_LABELS.get(r["level"], r["level"]) if r["group"] == "Sex" else r["level"]
        name = "All patients" if r["group"] == "All patients" else f"{r['group']}: {level}"
        rows[i] = {"Subgroup": name,
                   ARM_LABELS["tacrolimus"]: f"{r['events_tacrolimus']:,}/{r['n_tacrolimus']:,}",
                   ARM_LABELS["control"]: f"{r['events_control']:,}/{r['n_control']:,}",
                   "HR (95% CI)": hazard_ratio(r["hazard_ratio"], r["ci_low"], r["ci_high"], r["reason"]),
                   "p": p_number(r["p_value"])}
    return pd.DataFrame.from_dict(rows, orient="index",
                                  columns=["Subgroup", *ARM_LABELS.values(), "HR (95% CI)", "p"])


def e_value_sentence(what: str, estimate: str, values: tuple[float, float]) -> str:
    """What an E-value means, in a sentence a clinician can read aloud."""
    point, limit = values
    if missing(point):
        return f"{what}: no E-value (no estimate)."
    bound = ("its confidence interval already includes 1" if limit == 1.0 else
             f"to move its 95% CI to include 1, a risk ratio of {limit:.2f} each")
    return (f"{what} ({estimate}): an unmeasured confounder would need a risk ratio of {point:.2f} with both "
            f"tacrolimus and the outcome, beyond the measured covariates, to explain it away; {bound}.")


def table1_display(t: pd.DataFrame) -> pd.DataFrame:
    """Table 1 (`baseline.table1`) as text for a page or a slide: p with 3 decimals (< 0.001), SMD
    with 2, blanks where a row has none."""
    out = t.rename(columns={"variable": "Characteristic", "level": "", "tacrolimus": "Tacrolimus + steroid",
                            "control": "Steroid alone", "p_value": "p", "test": "Test", "smd": "SMD"}).copy()
    out["p"] = [p_number(p, none="") for p in t["p_value"]]
    out["SMD"] = ["" if missing(v) else f"{v:.2f}" for v in t["smd"]]
    return out


def file_stem(*parts: str, limit: int = 200) -> str:
    """A file name (without extension) from words: letters, digits, - and _ only.

    >>> file_stem("endpoints", "ITP; relapse = loss of CR")
    'endpoints_ITP_relapse_loss_of_CR'
    """
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in "_".join(parts)).strip("_")
    while "__" in safe:
        safe = safe.replace("__", "_")
    return safe[:limit]
