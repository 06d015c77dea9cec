"""Our statistics against the reference implementations clinicians trust: R's survival
(survfit, survdiff, coxph), fisher.test, chisq.test, wilcox.test, prop.test and mantelhaen.test.

Options are matched to ours: survfit(conf.type = "log-log") — lifelines' exponential Greenwood
interval; coxph's default Efron ties — lifelines' too; chisq.test(correct = TRUE) and
mantelhaen.test(correct = TRUE) — our continuity-corrected χ² and CMH; wilcox.test's defaults —
our Mann–Whitney follows them; prop.test(correct = FALSE)$conf.int — the Wilson interval.
Agreement is to 1e-6 relative where the methods are the same.

R is installed in CI (.ci/run); elsewhere these tests skip when Rscript is missing."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.continuous import mann_whitney_p
from analysis.proportions import CHI2, FISHER, cochran_mantel_haenszel, compare, proportion, table_p_value
from analysis.relapse import responders
from analysis.survival import compare_arms, cox_hazard_ratio, kaplan_meier, logrank

RTOL = 1e-6

if shutil.which("Rscript") is None:
    if os.environ.get("CI"):
        pytest.fail("Rscript is missing in CI: .ci/run must install r-base-core and r-cran-survival", pytrace=False)
    pytest.skip("Rscript is not installed (apt-get install r-base-core r-cran-survival); R comparisons skipped",
                allow_module_level=True)


def run_r(script: str, tmp_path: Path, data: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """Run an R script; it reports values with out(name, x). `data.csv` holds `data`, if given."""
    if data is not None:
        data.to_csv(tmp_path / "data.csv", index=False)
    prelude = (
        "suppressMessages(library(survival))\n"
        "out <- function(name, x) cat(name, paste(sprintf('%.17g', as.numeric(x)), collapse=','), '\\n', sep='\\t')\n"
    )
    (tmp_path / "script.R").write_text(prelude + script)
    r = subprocess.run(["Rscript", "script.R"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    values = {}
    for line in r.stdout.splitlines():
        if "\t" in line:
            name, text = line.split("\t", 1)
            values[name] = np.array([float(v) if v.strip() not in ("NA", "NaN") else np.nan for v in text.strip().split(",")])
    return values


@pytest.fixture(scope="module")
def lung(tmp_path_factory) -> pd.DataFrame:
    tmp = tmp_path_factory.mktemp("lung")
    run_r("write.csv(lung[, c('time', 'status', 'sex')], 'lung.csv', row.names = FALSE)\n", tmp)
    df = pd.read_csv(tmp / "lung.csv")
    return df.assign(event=df["status"] == 2)


def close(ours, theirs, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(ours, float), np.asarray(theirs, float), rtol=rtol, atol=1e-12, equal_nan=True)


KM_R = """
d <- read.csv('data.csv')
fit <- survfit(Surv(time, event) ~ 1, data = d, conf.type = 'log-log')
s <- summary(fit)
out('time', s$time); out('surv', s$surv); out('lower', s$lower); out('upper', s$upper); out('n.risk', s$n.risk)
out('median', summary(fit)$table[c('median', '0.95LCL', '0.95UCL')])
"""


def km_against_r(durations, events, tmp_path):
    r = run_r(KM_R, tmp_path, pd.DataFrame({"time": durations, "event": events.astype(int)}))
    curve = kaplan_meier(pd.Series(durations), pd.Series(events))
    tab = curve.table.set_index("time").loc[r["time"]]
    close(tab["survival"], r["surv"])
    close(tab["at_risk"], r["n.risk"])
    defined = (r["surv"] < 1) & (r["surv"] > 0)
    close(tab["ci_low"][defined], r["lower"][defined])
    close(tab["ci_high"][defined], r["upper"][defined])
    close([curve.median, *curve.median_ci], r["median"])


def test_km_lung_every_event_time(lung, tmp_path):
    km_against_r(lung["time"].to_numpy(float), lung["event"].to_numpy(), tmp_path)


def test_km_lung_by_sex(lung, tmp_path):
    for sex in (1, 2):
        sub = lung[lung["sex"] == sex]
        km_against_r(sub["time"].to_numpy(float), sub["event"].to_numpy(), tmp_path)


def test_median_rule_when_the_curve_sits_at_one_half(tmp_path):
    # 4 patients, 2 events: the curve is exactly 0.5 between t=2 and t=4 (R: midpoint 3).
    km_against_r(np.array([1.0, 2.0, 3.0, 4.0]), np.array([False, True, False, True]), tmp_path)
    km_against_r(np.array([1.0, 2.0, 4.0, 6.0, 8.0, 9.0]), np.array([True, True, True, False, True, False]), tmp_path)


LOGRANK_COX_R = """
d <- read.csv('data.csv')
sd <- survdiff(Surv(time, event) ~ group, data = d)
out('chisq', sd$chisq); out('p', pchisq(sd$chisq, 1, lower.tail = FALSE))
cx <- summary(coxph(Surv(time, event) ~ group, data = d))
out('hr', cx$conf.int[1, c('exp(coef)', 'lower .95', 'upper .95')]); out('hr.p', cx$coefficients[1, 'Pr(>|z|)'])
"""


def logrank_cox_against_r(time, event, group, tmp_path):
    """group: True for the arm whose hazard ratio is reported (R codes it 1 against 0)."""
    r = run_r(LOGRANK_COX_R, tmp_path, pd.DataFrame({"time": time, "event": event.astype(int), "group": group.astype(int)}))
    g = group.astype(bool)
    lr = logrank(time[g], event[g], time[~g], event[~g])
    close([lr.statistic, lr.p_value], [r["chisq"][0], r["p"][0]])
    hr = cox_hazard_ratio(time, event, g)
    close([hr.hazard_ratio, *hr.ci], r["hr"])
    close([hr.p_value], r["hr.p"])


def test_logrank_and_cox_on_lung(lung, tmp_path):
    logrank_cox_against_r(lung["time"].to_numpy(float), lung["event"].to_numpy(), (lung["sex"] == 2).to_numpy(), tmp_path)


def test_shipped_cohort_rfs_against_r(shipped, tmp_path):
    r = responders(shipped.endpoints).dropna(subset=["rfs_months"])
    time = r["rfs_months"].to_numpy(float)
    event = r["relapsed"].to_numpy(bool)
    tac = (r["arm"] == "tacrolimus").to_numpy()
    logrank_cox_against_r(time, event, tac, tmp_path)
    for arm in (tac, ~tac):
        km_against_r(time[arm], event[arm], tmp_path)
    # The landmarks the report shows are the step values of the same curve.
    cmp = compare_arms(r, "rfs_months", "relapsed")
    s12 = cmp.landmarks.set_index(["arm", "months"]).loc[("tacrolimus", 12.0), "survival"]
    curve = kaplan_meier(pd.Series(time[tac]), pd.Series(event[tac]))
    assert s12 == curve.table[curve.table["time"] <= 12]["survival"].iloc[-1]


def test_shipped_cohort_steroid_discontinuation_against_r(shipped, tmp_path):
    e = shipped.endpoints
    logrank_cox_against_r(e["steroid_stop_months"].to_numpy(float), e["steroid_stopped"].to_numpy(bool),
                          (e["arm"] == "tacrolimus").to_numpy(), tmp_path)


TESTS_2X2_R = """
d <- read.csv('data.csv')
m <- matrix(d$count, nrow = 2, byrow = TRUE)
f <- fisher.test(m)
out('fisher.p', f$p.value); out('fisher.or', c(f$estimate, f$conf.int))
out('chisq.p', chisq.test(m, correct = TRUE)$p.value)
w <- if (any(m == 0)) m + 0.5 else m
lor <- log(w[1, 1] * w[2, 2] / (w[1, 2] * w[2, 1])); se <- sqrt(sum(1 / w))
out('woolf.or', exp(c(lor, lor - qnorm(0.975) * se, lor + qnorm(0.975) * se)))
out('wilson.a', prop.test(m[1, 1], sum(m[1, ]), correct = FALSE)$conf.int)
out('wilson.b', prop.test(m[2, 1], sum(m[2, ]), correct = FALSE)$conf.int)
"""


@pytest.mark.parametrize("column,diagnosis", [
    ("complete_response", None), ("responded", None), ("steroid_ae", None), ("any_ae", None),
    ("tacrolimus_ae", None),  # a zero cell: Haldane-corrected Woolf
    ("complete_response", "ES"), ("responded", "AIHA"),  # small tables: Fisher
])
def test_two_by_two_tests_on_shipped_cohort(shipped, tmp_path, column, diagnosis):
    e = shipped.endpoints
    if diagnosis:
        e = e[e["diagnosis"] == diagnosis]
    a = e.loc[e["arm"] == "tacrolimus", column].astype(bool)
    b = e.loc[e["arm"] == "control", column].astype(bool)
    table = np.array([[a.sum(), (~a).sum()], [b.sum(), (~b).sum()]])
    r = run_r(TESTS_2X2_R, tmp_path, pd.DataFrame({"count": table.ravel()}))
    close([table_p_value(table, FISHER)], r["fisher.p"])
    close([table_p_value(table, CHI2)], r["chisq.p"])
    c = compare(int(a.sum()), len(a), int(b.sum()), len(b))
    if c.test == FISHER:
        # The conditional MLE and its exact CI are roots found numerically; R's fisher.test calls
        # uniroot with its default tolerance (.Machine$double.eps^0.25 ≈ 1.2e-4, absolute), so R
        # itself is only good to a few 1e-4 here (3e-4 relative seen on the Evans table).
        close([c.odds_ratio, *c.odds_ratio_ci], r["fisher.or"], rtol=1e-3)
    else:
        close([c.odds_ratio, *c.odds_ratio_ci], r["woolf.or"])
    close(proportion(int(a.sum()), len(a)).ci, r["wilson.a"])
    close(proportion(int(b.sum()), len(b)).ci, r["wilson.b"])


WILCOX_R = """
d <- read.csv('data.csv')
out('p', wilcox.test(d$x[d$g == 1], d$x[d$g == 0])$p.value)
"""


@pytest.mark.parametrize("column", ["steroid_cum_mg", "drug_cost_18m", "age"])
def test_mann_whitney_on_shipped_cohort(shipped, tmp_path, column):
    e = shipped.endpoints
    g = (e["arm"] == "tacrolimus").astype(int)
    r = run_r(WILCOX_R, tmp_path, pd.DataFrame({"x": e[column], "g": g}))
    close([mann_whitney_p(e.loc[g == 1, column], e.loc[g == 0, column])[0]], r["p"])


def test_mann_whitney_exact_for_small_groups_without_ties(tmp_path):
    x = pd.Series([1.5, 3.2, 4.8, 7.1, 9.9])
    y = pd.Series([2.2, 5.5, 6.1, 8.4, 10.3, 11.7])
    r = run_r(WILCOX_R, tmp_path, pd.DataFrame({"x": pd.concat([x, y]), "g": [1] * 5 + [0] * 6}))
    close([mann_whitney_p(x, y)[0]], r["p"])


CMH_R = """
d <- read.csv('data.csv')
a <- array(d$count, dim = c(2, 2, nrow(d) / 4))
m <- mantelhaen.test(a, correct = TRUE)
out('stat', m$statistic); out('p', m$p.value); out('or', c(m$estimate, m$conf.int))
"""


def test_cmh_by_diagnosis_on_shipped_cohort(shipped, tmp_path):
    e = shipped.endpoints
    tables, counts = {}, []
    for dx in ("ITP", "AIHA", "ES"):
        s = e[e["diagnosis"] == dx]
        a = s.loc[s["arm"] == "tacrolimus", "complete_response"].astype(bool)
        b = s.loc[s["arm"] == "control", "complete_response"].astype(bool)
        t = np.array([[a.sum(), (~a).sum()], [b.sum(), (~b).sum()]])
        tables[dx] = t
        counts += list(t.ravel(order="F"))  # R fills arrays column-first
    r = run_r(CMH_R, tmp_path, pd.DataFrame({"count": counts}))
    res = cochran_mantel_haenszel(tables)
    close([res.statistic, res.p_value], [r["stat"][0], r["p"][0]])
    close([res.pooled_odds_ratio, *res.pooled_odds_ratio_ci], r["or"])


@pytest.mark.parametrize("tables", [
    {"ITP": [[1, 1], [1, 1]], "AIHA": [[2, 3], [2, 3]]},  # Σ(a − E[a]) = 0: no correction in R
    {"ITP": [[3, 1], [2, 2]], "AIHA": [[1, 2], [2, 1]]},  # |Σ(a − E[a])| = 0.25 < 0.5
    {"ITP": [[5, 1], [1, 5]], "AIHA": [[4, 2], [2, 4]]},  # a clear difference: corrected
], ids=["no-difference", "small-difference", "clear-difference"])
def test_cmh_continuity_correction_as_r_applies_it(tables, tmp_path):
    counts = [v for t in tables.values() for v in np.asarray(t).ravel(order="F")]
    r = run_r(CMH_R, tmp_path, pd.DataFrame({"count": counts}))
    res = cochran_mantel_haenszel(tables)
    close([res.statistic, res.p_value], [r["stat"][0], r["p"][0]])


RISK_R = """
d <- read.csv('data.csv')
ticks <- as.numeric(strsplit(readLines('ticks.txt'), ',')[[1]])
fit <- survfit(Surv(time, event) ~ 1, data = d)
out('n.risk', summary(fit, times = ticks, extend = TRUE)$n.risk)
"""


@pytest.mark.parametrize("which", ["time_to_response", "rfs", "lung"])
def test_number_at_risk_under_each_figure_equals_r(which, shipped, lung, tmp_path):
    """The at-risk row of a Kaplan–Meier figure, at the ticks the figure shows, against R's
    summary(survfit, times = ticks, extend = TRUE)$n.risk, arm by arm."""
    from analysis.filters import Filters
    from analysis.results import compute
    from analysis.survival import kaplan_meier, time_ticks

    if which == "lung":
        curves = {s: (g["time"], g["event"]) for s, g in lung.groupby("sex")}
    else:
        r = compute(shipped, Filters())
        comparison = r.response.time_to_response if which == "time_to_response" else r.rfs
        p = r.patients
        if which == "time_to_response":
            p = p[p["responded"].notna()]
            p = p.assign(t=p["time_to_response_months"].where(p["responded"].astype(bool), p["follow_up_months"]),
                         e=p["responded"].astype(bool))
            p = p[~(p["e"] & p["time_to_response_months"].isna())]
        else:
            p = p[p["responded"].astype("boolean").fillna(False).astype(bool)].dropna(subset=["rfs_months"])
            p = p.assign(t=p["rfs_months"], e=p["relapsed"].astype("boolean").fillna(False).astype(bool))
        curves = {arm: (g["t"], g["e"]) for arm, g in p.groupby("arm", observed=True)}
        assert {a: c.n for a, c in comparison.curves.items()} == {a: len(t) for a, (t, _) in curves.items()}
    kms = {k: kaplan_meier(t, e) for k, (t, e) in curves.items()}
    ticks = time_ticks(list(kms.values()))
    (tmp_path / "ticks.txt").write_text(",".join(f"{t:g}" for t in ticks))
    for k, (t, e) in curves.items():
        r = run_r(RISK_R, tmp_path, pd.DataFrame({"time": t.to_numpy(float), "event": e.astype(int).to_numpy()}))
        close(kms[k].at_risk_at(ticks), r["n.risk"])


EDGES_R = """
out('cmh.p', mantelhaen.test(array(c(20,1,1,20, 25,1,1,25, 30,1,1,30), dim = c(2, 2, 3)))$p.value)
out('wilson0', prop.test(0, 7, correct = FALSE)$conf.int); out('wilson7', prop.test(7, 7, correct = FALSE)$conf.int)
out('mw.tied', suppressWarnings(wilcox.test(c(1, 1, 1), c(1, 1))$p.value))
f <- fisher.test(matrix(c(5, 1, 0, 9), 2)); out('or.inf', c(f$estimate, f$conf.int))
"""


def test_statistics_at_their_edges_equal_r(tmp_path):
    """Values at the edges, where libraries round or overflow differently: a CMH p far below
    1e-16 (statsmodels' 1 − cdf gave 0.0), Wilson limits at 0/n and n/n (exactly 0 and 1), a
    Mann–Whitney test with every value tied (R: NaN, scipy: 1) and an infinite conditional odds ratio."""
    from analysis.continuous import mann_whitney_p

    r = run_r(EDGES_R, tmp_path)
    cmh = cochran_mantel_haenszel({"a": [[20, 1], [1, 20]], "b": [[25, 1], [1, 25]], "c": [[30, 1], [1, 30]]})
    close([cmh.p_value], r["cmh.p"])
    assert cmh.p_value > 0
    zero, all_ = proportion(0, 7), proportion(7, 7)
    assert (zero.ci_low, all_.ci_high) == (0.0, 1.0)
    close([zero.ci_low, zero.ci_high], r["wilson0"])
    close([all_.ci_low, all_.ci_high], r["wilson7"])
    p, reason = mann_whitney_p(pd.Series([1.0, 1, 1]), pd.Series([1.0, 1]))
    assert np.isnan(r["mw.tied"][0]) and np.isnan(p) and reason
    c = compare(5, 5, 1, 10)  # [[5, 0], [1, 9]]: no tacrolimus patient without the event
    assert c.odds_ratio == np.inf and r["or.inf"][0] == np.inf
    close([c.odds_ratio_ci[0]], [r["or.inf"][1]], rtol=1e-4)  # R finds the limit with uniroot, tol ≈ 1.2e-4
    assert c.odds_ratio_ci[1] == np.inf and "tacrolimus arm has no patients without" in c.odds_ratio_reason


ADJUSTED_R = """
suppressMessages(library(survey))
d <- read.csv('data.csv')
cov <- strsplit(readLines('covariates.txt'), ',')[[1]]
ps <- glm(reformulate(cov, 'tac'), family = binomial, data = d)
out('ps', fitted(ps))
des <- svydesign(ids = ~1, weights = ~w, data = d)
lin <- svyglm(responded ~ tac, design = des)
out('rd', c(coef(lin)[2], sqrt(vcov(lin)[2, 2])))
lg <- svyglm(responded ~ tac, design = des, family = quasibinomial())
out('or', c(coef(lg)[2], sqrt(vcov(lg)[2, 2])))
r <- d[d$responded == 1 & !is.na(d$rfs), ]
wc <- coxph(Surv(rfs, relapsed) ~ tac, data = r, weights = w, robust = TRUE, ties = 'efron')
out('wcox', summary(wc)$conf.int[1, c('exp(coef)', 'lower .95', 'upper .95')])
mv <- coxph(reformulate(c('tac', cov), 'Surv(rfs, relapsed)'), data = r, ties = 'efron')
out('mcox', summary(mv)$conf.int[1, c('exp(coef)', 'lower .95', 'upper .95')])
wm <- function(x, w) sum(w * x) / sum(w)
wv <- function(x, w) sum(w * (x - wm(x, w))^2) / sum(w)
smd <- function(x, t, w) (wm(x[t == 1], w[t == 1]) - wm(x[t == 0], w[t == 0])) /
  sqrt((wv(x[t == 1], w[t == 1]) + wv(x[t == 0], w[t == 0])) / 2)
out('smd', sapply(cov, function(c) smd(d[[c]], d$tac, d$w)))
for (a in 0:1) {
  km <- survfit(Surv(rfs, relapsed) ~ 1, data = r[r$tac == a, ], weights = w)
  out(paste0('wkm', a, '.time'), km$time); out(paste0('wkm', a, '.surv'), km$surv)
}
"""


def test_adjusted_comparison_equals_r(shipped, tmp_path):
    """Propensity score (glm), weighted risk difference and odds ratio with design-based SE
    (survey::svyglm), IPTW-weighted Cox with robust SE and the multivariable Cox (coxph), and the
    weighted SMDs by the documented formula, on the shipped cohort."""
    from analysis.adjusted import (balance, covariates, iptw, multivariable_cox, propensity, weighted_cox, weighted_km,
                                   weighted_rates)

    p = shipped.endpoints
    p = p[p["responded"].notna()]
    model = propensity(p)
    assert not model.reason
    weights = iptw(model.scores, p["arm"] == "tacrolimus").weights
    x = covariates(p)[list(model.used)]
    data = x.assign(tac=(p["arm"] == "tacrolimus").astype(int), w=weights, responded=p["responded"].astype(int),
                    rfs=p["rfs_months"], relapsed=p["relapsed"].astype("boolean").fillna(False).astype(int))
    (tmp_path / "covariates.txt").write_text(",".join(model.used))
    r = run_r(ADJUSTED_R, tmp_path, data.reset_index(drop=True))
    close(model.scores.to_numpy(), r["ps"])
    rates = weighted_rates(p["responded"].astype(float), p["arm"] == "tacrolimus", weights)
    z = 1.959963984540054
    close([rates.difference, (rates.difference_ci[1] - rates.difference) / z], r["rd"])
    close([np.log(rates.odds_ratio), np.log(rates.odds_ratio_ci[1] / rates.odds_ratio) / z], r["or"])
    responders = p[p["responded"].astype(bool)]
    wc = weighted_cox(responders, "rfs_months", "relapsed", weights)
    close([wc.hazard_ratio, *wc.ci], r["wcox"])  # analysis/cox.py: R's robust variance, to 1e-6
    mv = multivariable_cox(responders, "rfs_months", "relapsed")
    close([mv.hazard_ratio, *mv.ci], r["mcox"], rtol=1e-5)
    table = balance(p, weights).set_index("covariate")
    close(table.loc[list(model.used), "smd_after"].to_numpy(), r["smd"])
    for tac, rows in responders.dropna(subset=["rfs_months"]).groupby(responders["arm"] == "tacrolimus"):
        curve = weighted_km(rows["rfs_months"], rows["relapsed"].astype("boolean").fillna(False), weights[rows.index])
        curve = curve.set_index("time").loc[r[f"wkm{int(tac)}.time"], "survival"]
        close(curve, r[f"wkm{int(tac)}.surv"])


WEIGHTED_KM_R = """
d <- read.csv('data.csv')
km <- survfit(Surv(time, event) ~ 1, data = d, weights = w)
out('time', km$time); out('surv', km$surv); out('n.risk', km$n.risk)
"""


def test_weighted_kaplan_meier_equals_r_where_everyone_left_has_the_event(tmp_path):
    """Non-integer weights, ties, and a last time at which everyone still at risk has the event:
    R's curve ends at 0, and so does ours (lifelines' stops above 0 when the weights' rounding
    leaves a trace at risk)."""
    from analysis.adjusted import weighted_km
    from analysis.survival import km_steps

    rng = np.random.default_rng(9)
    for n in (47, 300):
        time = np.round(rng.exponential(10, n), 0)
        time[np.argmax(time)] = time.max() + 1  # one patient last, with the event
        event = rng.random(n) < 0.6
        event[np.argmax(time)] = True
        w = rng.gamma(2, 1, n)
        r = run_r(WEIGHTED_KM_R, tmp_path, pd.DataFrame({"time": time, "event": event.astype(int), "w": w}))
        curve = weighted_km(pd.Series(time), pd.Series(event), pd.Series(w)).set_index("time")
        close(curve.loc[r["time"], "survival"], r["surv"])
        assert curve["survival"].iloc[-1] == 0.0
        steps = km_steps(time, event, w)
        close(steps.at_risk[1:] if steps.time[0] == 0 and 0 not in time else steps.at_risk, r["n.risk"])


def test_the_r_lines_of_the_report_docs_rerun_the_adjusted_comparison(shipped, tmp_path):
    """docs/report.md shows how to re-run the adjusted comparison in R from the endpoints CSV and
    its propensity_score and weight columns: those lines, run as written, give the page's numbers."""
    from analysis.report import endpoints_csv, endpoints_table
    from analysis.results import compute

    (tmp_path / "endpoints.csv").write_bytes(endpoints_csv(endpoints_table(shipped)))
    block = (Path(__file__).resolve().parent.parent / "docs" / "report.md").read_text().split("```r")[-1].split("```")[0]
    lines = block.strip().splitlines()
    script = "\n".join(lines[:-3]) + "\n" + (
        "fit <- " + lines[-3] + "\n" + "out('or', coef(fit)[2])\n" + lines[-2] + "\n"
        + "cx <- " + lines[-1] + "\n" + "out('hr', exp(coef(cx)))\n")
    r = run_r(script, tmp_path)
    a = compute(shipped).adjusted
    close([np.log(a.orr.odds_ratio)], r["or"])
    close([a.rfs.hazard_ratio], r["hr"])


COX_TIES_R = """
d <- read.csv('data.csv')
for (w in c('none', 'w')) {
  f <- if (w == 'none') coxph(Surv(t, e) ~ x + z, data = d, robust = TRUE, ties = 'efron') else
       coxph(Surv(t, e) ~ x + z, data = d, weights = w, robust = TRUE, ties = 'efron')
  out(paste0('coef.', w), coef(f))
  out(paste0('robust.', w), sqrt(diag(vcov(f))))
  out(paste0('naive.', w), sqrt(diag(f$naive.var)))
  out(paste0('loglik.', w), f$loglik[2])
  a <- if (w == 'none') coxph(Surv(t, e) ~ x, data = d, robust = TRUE, ties = 'efron') else
       coxph(Surv(t, e) ~ x, data = d, weights = w, robust = TRUE, ties = 'efron')
  out(paste0('arm.', w), c(coef(a), sqrt(diag(vcov(a))), sqrt(diag(a$naive.var)), a$loglik[2]))
}
"""


def test_weighted_cox_with_heavy_ties_equals_r(tmp_path):
    """analysis/cox.py on data with many tied times, censoring at event times and non-integer
    weights (where lifelines' robust variance and R's part): coefficients, naive and robust SEs and
    the log partial likelihood against coxph, weighted and not."""
    from analysis import cox

    rng = np.random.default_rng(1)
    n = 500
    x = rng.integers(0, 2, n).astype(float)
    z = rng.normal(size=n)
    t = np.round(rng.exponential(1 / np.exp(0.5 * x + 0.3 * z)) * 10) + 1
    e = (rng.random(n) < 0.7).astype(float)
    w = rng.uniform(0.5, 2.0, n)
    r = run_r(COX_TIES_R, tmp_path, pd.DataFrame({"t": t, "e": e, "x": x, "z": z, "w": w}))
    assert len(np.unique(t[e == 1])) < 60  # heavily tied: about 350 events on fewer than 60 times
    for name, weights in (("none", None), ("w", w)):
        robust = cox.fit(t, e, np.c_[x, z], weights, robust=True)
        naive = cox.fit(t, e, np.c_[x, z], weights)
        close(robust.coefficients, r[f"coef.{name}"])
        close(np.sqrt(np.diag(robust.variance)), r[f"robust.{name}"])
        close(np.sqrt(np.diag(naive.variance)), r[f"naive.{name}"])
        close([robust.log_likelihood], r[f"loglik.{name}"])
        # One 0/1 covariate alone (the IPTW model of the arm): fitted on groups of patients.
        arm, arm_naive = cox.fit(t, e, x, weights, robust=True), cox.fit(t, e, x, weights)
        close([arm.coefficients[0], math.sqrt(arm.variance[0, 0]), math.sqrt(arm_naive.variance[0, 0]),
               arm.log_likelihood], r[f"arm.{name}"])
