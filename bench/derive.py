"""Derivation speed: a synthetic cohort of N patients (default 100,000) is written to a temporary
folder, then read, validated and derived; prints each step's wall time. Goal: derive 100,000
patients in under a minute on a 2-core machine.

    python bench/derive.py [--patients N] [--seed S]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from analysis import synth
from analysis.derive import derive
from analysis.io import read_cohort
from analysis.schema import validate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        synth.write(tmp, args.patients, args.seed)
        t1 = time.perf_counter()
        raw = read_cohort(tmp)
        t2 = time.perf_counter()
        tables, report = validate(raw.tables)
        t3 = time.perf_counter()
        if tables is None:
            sys.exit(report.to_text())
        derived = derive(tables)
        t4 = time.perf_counter()
    rows = {name: len(tables.get(name)) for name in ("labs", "steroid_doses", "tacrolimus", "adverse_events")}
    print(f"patients: {args.patients:,}; rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    print(f"generate + write: {t1 - t0:6.2f} s")
    print(f"read:             {t2 - t1:6.2f} s")
    print(f"validate:         {t3 - t2:6.2f} s")
    print(f"derive:           {t4 - t3:6.2f} s   (goal: < 60 s at 100,000 patients)")
    print(f"read+validate+derive: {t4 - t1:6.2f} s; derived rows: {len(derived.patients):,}")


if __name__ == "__main__":
    main()
