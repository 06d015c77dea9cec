"""Time of the adjusted comparison (propensity model, weights, balance, weighted rates, weighted
and multivariable Cox for RFS and steroid stop, weighted RFS curves, E-values) for the shipped
cohort and synthetic cohorts. Goal: under 1 s at 318 patients and 10 s at 100,000.

    python bench/adjusted.py [--patients 10000,100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from analysis import synth
from analysis.adjusted import adjusted
from analysis.cohort import DEFAULT_COHORT, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", default="10000,100000")
    args = parser.parse_args()
    sizes = [int(n) for n in args.patients.split(",") if n]
    print(f"{'patients':>10} {'seconds':>8}")
    cohorts = [("shipped 318", lambda: load(DEFAULT_COHORT))]
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            def make(n=n):
                synth.write(Path(tmp) / str(n), n, 11)
                return load(Path(tmp) / str(n))
            cohorts.append((f"{n:,}", make))
        for name, make in cohorts:
            patients = make().endpoints
            t0 = time.perf_counter()
            a = adjusted(patients)
            print(f"{name:>10} {time.perf_counter() - t0:>8.2f}" + (f"   ({a.reason})" if a.reason else ""))


if __name__ == "__main__":
    main()
