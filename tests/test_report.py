"""The report: the paper's claims on the shipped cohort, the same directions on a cohort ten
times larger, the JSON contract, and small or empty groups that never raise."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis import synth
from analysis.cohort import from_frames
from analysis.filters import Filters
from analysis.report import ENDPOINT_COLUMNS, build, endpoints_table, markdown
from analysis.results import compute

ROOT = Path(__file__).resolve().parent.parent
T, C = "tacrolimus", "control"


@pytest.fixture(scope="module")
def report(shipped):
    return build(shipped, Filters())


def rfs_logrank_p(cohort, diagnosis: str) -> float:
    return build(cohort, Filters(diagnosis=(diagnosis,)))["relapse"]["rfs"]["logrank_p"]


def test_shipped_cohort_reproduces_every_claim_of_the_abstract(shipped, report):
    r = report
    # Optimal ORR comparable; optimal CRR higher with tacrolimus.
    assert r["response"]["orr"]["p_value"] >= 0.05
    crr = r["response"]["crr"]
    assert crr[T]["rate"] > crr[C]["rate"] and crr["p_value"] < 0.05
    # Relapse among responders lower; RFS longer in the whole cohort, in ITP and in AIHA.
    rel = r["relapse"]["rate"]
    assert rel[T]["rate"] < rel[C]["rate"] and r["relapse"]["p_value"] < 0.05
    rfs = r["relapse"]["rfs"]
    assert rfs["logrank_p"] < 0.05 and rfs["hazard_ratio"] < 1 and rfs["hazard_ratio_ci"][1] < 1
    assert rfs_logrank_p(shipped, "ITP") < 0.05
    assert rfs_logrank_p(shipped, "AIHA") < 0.05
    # Lower cumulative steroid dose, earlier discontinuation.
    cum = r["steroids"]["cumulative_mg"]
    assert cum[T]["median"] < cum[C]["median"] and cum["p_value"] < 0.05
    disc = r["steroids"]["discontinuation"]
    assert disc["median_months"][T] < disc["median_months"][C] and disc["logrank_p"] < 0.05
    # Fewer steroid-related AEs; total AEs similar; drug expenses similar.
    sae = r["safety"]["steroid_related"]
    assert sae[T]["rate"] < sae[C]["rate"] and sae["p_value"] < 0.05
    assert r["safety"]["any_ae"]["p_value"] >= 0.05
    assert r["cost"]["drug_cost_18m"]["p_value"] >= 0.05


def test_the_directions_hold_in_a_cohort_ten_times_larger():
    """3,180 patients from the same model, another seed: effects go the same way (p < 0.05), and
    what the paper calls comparable stays close (a significance test would find any difference at
    this size, so closeness is judged by the size of the difference)."""
    big = from_frames(synth.generate(10 * synth.DEFAULT_PATIENTS, seed=4242).tables, name="10x")
    r = build(big, Filters())
    crr, orr = r["response"]["crr"], r["response"]["orr"]
    assert crr["difference"] > 0.10 and crr["p_value"] < 0.05
    assert abs(orr["difference"]) < 0.10
    assert r["relapse"]["rate"]["difference"] < -0.10 and r["relapse"]["p_value"] < 0.05
    for dx in ("ITP", "AIHA"):
        sub = build(big, Filters(diagnosis=(dx,)))["relapse"]["rfs"]
        assert sub["hazard_ratio"] < 1 and sub["logrank_p"] < 0.05, dx
    cum = r["steroids"]["cumulative_mg"]
    assert cum[T]["median"] < 0.8 * cum[C]["median"] and cum["p_value"] < 0.05
    disc = r["steroids"]["discontinuation"]
    assert disc["median_months"][T] < disc["median_months"][C] and disc["logrank_p"] < 0.05
    assert r["safety"]["steroid_related"]["difference"] < -0.05 and r["safety"]["steroid_related"]["p_value"] < 0.05
    assert abs(r["safety"]["any_ae"]["difference"]) < 0.10
    cost = r["cost"]["drug_cost_18m"]
    assert abs(cost[T]["median"] / cost[C]["median"] - 1) < 0.15


def test_json_contract_keys(report):
    json.dumps(report, allow_nan=False)  # missing values are null, never NaN
    assert set(report["cohort"]) >= {"name", "synthetic", "sha256", "patients_total"}
    assert set(report["filters"]) == {"diagnosis", "sex", "age_min", "age_max"}
    assert report["n"] == {T: 144, C: 174}
    b = report["baseline"]
    assert b["male"][T] + b["male"][C] == 87 and (b["age_median"], b["age_min"], b["age_max"]) == (45, 14, 90)
    assert b["diagnosis"][T] == {"ITP": 120, "AIHA": 19, "ES": 5}
    for key in ("orr", "crr"):
        r = report["response"][key]
        assert set(r) >= {T, C, "difference", "difference_ci", "p_value", "test"}
        assert set(r[T]) >= {"responders", "n", "rate", "ci"}
    rel = report["relapse"]
    assert set(rel) >= {"responders", "relapsed", "p_value", "rfs"}
    assert set(rel["rfs"]) >= {"logrank_p", "hazard_ratio", "hazard_ratio_ci", "median_months", "at_12_months"}
    st = report["steroids"]
    assert set(st["cumulative_mg"][T]) >= {"median", "q1", "q3"} and "p_value" in st["cumulative_mg"]
    assert set(st["discontinuation"]) >= {"logrank_p", "median_months"}
    for key in ("any_ae", "steroid_related", "tacrolimus_related"):
        assert set(report["safety"][key][T]) >= {"events", "n", "rate"} and "p_value" in report["safety"][key]
    assert set(report["cost"]["drug_cost_18m"][T]) >= {"median", "q1", "q3"}


def test_report_numbers_match_the_endpoint_table(shipped, report):
    e = endpoints_table(shipped)
    t = e[e["arm"] == T]
    assert report["response"]["crr"][T]["responders"] == int(t["complete_response"].sum())
    assert report["relapse"]["relapsed"][T] == int(t["relapsed"].fillna(False).sum())
    assert report["steroids"]["cumulative_mg"][T]["median"] == pytest.approx(t["steroid_cum_mg"].median())


def test_documented_json_keys_and_columns(report):
    doc = (ROOT / "docs" / "report.md").read_text(encoding="utf-8")
    for column in ENDPOINT_COLUMNS:
        assert f"`{column}`" in doc, f"docs/report.md does not describe the endpoints column {column}"
    for key in report:
        assert f"`{key}`" in doc, f"docs/report.md does not describe the report key {key}"


@pytest.mark.parametrize("filters", [
    Filters(diagnosis=("ES",), sex=("M",), age_min=80),              # nobody
    Filters(diagnosis=("ES",), age_min=60),                          # a handful, maybe one arm
    Filters(diagnosis=("AIHA",), sex=("M",)),                        # tiny arms
    Filters(age_min=89, age_max=90),                                 # one or two patients
])
def test_small_and_empty_groups_never_raise(shipped, filters):
    r = build(shipped, filters)
    json.dumps(r, allow_nan=False)
    markdown(r)
    if min(r["n"].values()) == 0:
        assert r["response"]["orr"]["reason"] and r["relapse"]["rfs"]["hazard_ratio"] is None
        assert r["relapse"]["rfs"]["hazard_ratio_reason"]


def test_an_arm_without_events_gets_a_reason_not_a_number(shipped):
    res = compute(shipped, Filters(diagnosis=("ES",)))
    sub = res.rfs_subgroups
    for _, row in sub.iterrows():
        if row["events_tacrolimus"] == 0 or row["events_control"] == 0:
            assert math.isnan(row["hazard_ratio"]) and row["reason"]


def test_markdown_report_reads_as_a_table(report):
    md = markdown(report)
    assert "Synthetic data — not real patients" in md
    assert "| Best CRR |" in md and "| Relapse among responders |" in md and "## Table 1" in md


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=ROOT, capture_output=True, text=True, timeout=180)


def test_cli_report_json_with_filters(shipped):
    r = run_cli("report", "--diagnosis", "ITP,AIHA", "--sex", "F", "--age-min", "30", "--age-max", "60")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["filters"] == {"diagnosis": ["ITP", "AIHA"], "sex": ["F"], "age_min": 30.0, "age_max": 60.0}
    direct = build(shipped, Filters(diagnosis=("ITP", "AIHA"), sex=("F",), age_min=30.0, age_max=60.0))
    assert rep["response"] == direct["response"] and rep["relapse"] == direct["relapse"]


def test_cli_report_markdown_and_bad_filter():
    assert "| Best ORR |" in run_cli("report", "--format", "markdown").stdout
    bad = run_cli("report", "--diagnosis", "TTP")
    assert bad.returncode == 2 and "'TTP'" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_endpoints_csv_and_parquet(tmp_path):
    r = run_cli("endpoints", "--diagnosis", "AIHA", "--out", str(tmp_path / "e.csv"))
    assert r.returncode == 0, r.stderr
    csv = pd.read_csv(tmp_path / "e.csv", dtype=str, keep_default_na=False)
    assert list(csv.columns) == list(ENDPOINT_COLUMNS) and len(csv) == 44
    assert set(csv["responded"]) <= {"true", "false"}
    assert (csv.loc[csv["responded"] == "false", "rfs_months"] == "").all()
    assert run_cli("endpoints", "--out", str(tmp_path / "e.parquet")).returncode == 0
    assert len(pd.read_parquet(tmp_path / "e.parquet")) == 318
    assert run_cli("endpoints", "--out", str(tmp_path / "e.txt")).returncode == 2


def test_rfs_by_diagnosis_is_rfs_of_each_diagnosis_alone(shipped):
    """The split figure's panels (one cached entry) equal the RFS of each diagnosis filtered alone."""
    split = compute(shipped, Filters(sex=("F",))).rfs_by_diagnosis
    assert list(split) == ["ITP", "AIHA", "ES"]
    for dx, panel in split.items():
        alone = compute(shipped, Filters(diagnosis=(dx,), sex=("F",))).rfs
        assert panel.n == alone.n
        assert panel.logrank.p_value == pytest.approx(alone.logrank.p_value, nan_ok=True)
        pd.testing.assert_frame_equal(panel.landmarks, alone.landmarks)
    assert list(compute(shipped, Filters(diagnosis=("ES",))).rfs_by_diagnosis) == ["ES"]


def test_none_means_any_and_an_empty_tuple_means_none(shipped):
    everyone, nobody = Filters(), Filters(diagnosis=())
    assert len(everyone.apply(shipped.endpoints)) == len(shipped.endpoints)
    assert len(nobody.apply(shipped.endpoints)) == 0 and nobody.nothing_selected and not everyone.nothing_selected
    assert Filters(sex=()).describe() == "no sex" and everyone.describe() == "all patients"
    assert nobody.as_dict()["diagnosis"] == [] and everyone.as_dict()["diagnosis"] is None
    rep = build(shipped, nobody)  # the report of nobody: zeros and reasons, no error
    assert rep["n"] == {"tacrolimus": 0, "control": 0} and rep["response"]["orr"]["reason"]


def test_steroid_page_samples_come_from_the_results(shipped):
    r = compute(shipped, Filters(diagnosis=("AIHA",)))
    courses, troughs = r.steroid_courses, r.troughs
    assert courses.groupby("arm")["patient_id"].nunique().le(25).all()
    assert set(courses["patient_id"]) <= set(r.patients["patient_id"].astype(str))
    assert set(troughs["patient_id"]) <= set(r.patients["patient_id"].astype(str))
    assert len(troughs) == r.steroids.troughs.measurements
    assert r.steroid_courses is courses  # computed once, then kept
