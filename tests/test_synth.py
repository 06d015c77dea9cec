"""The synthetic cohort: the abstract's exact facts, a clean validation, determinism, chunks."""

from __future__ import annotations

from analysis import cohort as cohort_mod
from analysis import synth
from analysis.schema import ARM_CONTROL, ARM_TACROLIMUS


def test_shipped_cohort_matches_the_abstract(shipped):
    e = shipped.endpoints
    counts = e.groupby(["arm", "diagnosis"]).size().to_dict()
    assert counts == {
        (ARM_TACROLIMUS, "ITP"): 120, (ARM_TACROLIMUS, "AIHA"): 19, (ARM_TACROLIMUS, "ES"): 5,
        (ARM_CONTROL, "ITP"): 141, (ARM_CONTROL, "AIHA"): 25, (ARM_CONTROL, "ES"): 8,
    }
    assert len(e) == 318 and int(e["sex"].eq("M").sum()) == 87
    assert (e["age"].median(), e["age"].min(), e["age"].max()) == (45, 14, 90)


def test_shipped_cohort_validates_clean():
    report = cohort_mod.check(cohort_mod.DEFAULT_COHORT)
    assert report.problems == (), report.to_text()


def test_shipped_cohort_says_it_is_synthetic(shipped):
    assert shipped.synthetic
    assert "not real patients" in (cohort_mod.DEFAULT_COHORT / "README.md").read_text().lower()


def test_shipped_files_are_what_the_generator_writes(tmp_path):
    synth.write(tmp_path, synth.DEFAULT_PATIENTS, synth.DEFAULT_SEED)
    for f in sorted(cohort_mod.DEFAULT_COHORT.glob("*.parquet")) + [cohort_mod.DEFAULT_COHORT / "cohort.json"]:
        assert (tmp_path / f.name).read_bytes() == f.read_bytes(), f"{f.name} differs from a fresh generation"


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a, b, c = (synth.write(tmp_path / n, 200, s) for n, s in (("a", 5), ("b", 5), ("c", 6)))
    for name in ("patients.parquet", "labs.parquet", "steroid_doses.parquet"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
        assert (a / name).read_bytes() != (c / name).read_bytes()


def test_chunked_generation_makes_one_valid_cohort(tmp_path):
    synth.write(tmp_path, 50, 3, chunk_patients=20)  # three chunks: 20 + 20 + 10
    c = cohort_mod.load(tmp_path)
    assert len(c.endpoints) == 50 and c.endpoints["patient_id"].is_unique
    assert c.report.ok
    assert set(c.endpoints["diagnosis"]) >= {"ITP", "AIHA"}


def test_raw_tables_look_like_hospital_data(shipped):
    labs = shipped.tables.get("labs")
    per_patient = labs[labs["test"].isin(["PLT", "HGB"])].groupby("patient_id", observed=True)["date"].nunique()
    assert per_patient.min() >= 8  # visits over follow-up, not one number per patient
    doses = shipped.tables.get("steroid_doses")
    assert set(doses["drug"]) >= {"prednisone", "dexamethasone", "methylprednisolone"}
    tac = shipped.tables.tacrolimus
    assert set(tac["patient_id"]) <= set(shipped.endpoints.loc[shipped.endpoints.arm.eq(ARM_TACROLIMUS), "patient_id"])
    troughs = tac["trough_ng_ml"].dropna()
    assert troughs.between(0.5, 40).all() and troughs.between(5, 10).mean() > 0.5
    # Re-escalation after relapse: relapsed patients have steroid periods starting after the relapse.
    e = shipped.endpoints.set_index("patient_id")
    relapsed = e.index[e["relapsed"].fillna(False).astype(bool)]
    after = doses.merge(e["relapse_date"].rename("rel"), left_on="patient_id", right_index=True)
    restarted = after[after["start_date"] >= after["rel"]]["patient_id"].nunique()
    assert restarted >= 0.9 * len(relapsed)


def test_metadata_names_the_study(shipped):
    assert "Zhang" in shipped.metadata["calibrated_to"] and shipped.metadata["seed"] == synth.DEFAULT_SEED
