"""Speed of one filter change plus the full report, with loading and derivation excluded (the app
caches them), for synthetic cohorts of 1,000, 10,000 and 100,000 patients; and, in the same run,
the survival endpoints in R (survfit, survdiff, coxph on relapse-free survival) for the ratio.
Goal: the whole report under 1 s for the shipped cohort and under 3 s at 100,000 patients.

    python bench/report.py [N ...]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from analysis import synth
from analysis.cohort import DEFAULT_COHORT, from_frames, load
from analysis.filters import Filters
from analysis.relapse import responders
from analysis.report import build

R_SCRIPT = """
suppressMessages(library(survival))
d <- read.csv(commandArgs(TRUE)[1])
t0 <- proc.time()[["elapsed"]]
for (i in 1:3) {
  f <- survfit(Surv(rfs_months, relapsed) ~ tac, data = d, conf.type = "log-log")
  s <- survdiff(Surv(rfs_months, relapsed) ~ tac, data = d)
  m <- coxph(Surv(rfs_months, relapsed) ~ tac, data = d)
}
cat((proc.time()[["elapsed"]] - t0) / 3, "\\n")
"""


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def r_seconds(cohort) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    r = responders(cohort.endpoints).dropna(subset=["rfs_months"])
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "rfs.csv"
        r.assign(tac=(r["arm"] == "tacrolimus").astype(int), relapsed=r["relapsed"].astype(int))[
            ["rfs_months", "relapsed", "tac"]].to_csv(csv, index=False)
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT)
        out = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def python_survival_seconds(cohort) -> float:
    from analysis.survival import compare_arms
    r = responders(cohort.endpoints).dropna(subset=["rfs_months"])
    return best_of(lambda: compare_arms(r, "rfs_months", "relapsed"))


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [1_000, 10_000, 100_000]
    filters = Filters(diagnosis=("ITP", "AIHA"))
    print(f"{'cohort':>18} {'report (s)':>11} {'survival (s)':>13} {'R survival (s)':>15} {'ratio':>6}")
    cohorts = [("shipped (318)", load(DEFAULT_COHORT))]
    cohorts += [(f"{n:,}", from_frames(synth.generate(n, seed=11).tables, name=str(n))) for n in sizes]
    for label, cohort in cohorts:
        report_s = best_of(lambda: build(cohort, filters))
        ours = python_survival_seconds(cohort)
        theirs = r_seconds(cohort)
        ratio = f"{ours / theirs:6.1f}" if theirs else "   n/a"
        print(f"{label:>18} {report_s:>11.3f} {ours:>13.3f} {theirs if theirs is not None else float('nan'):>15.3f} {ratio}")
    print("report = one filter change (ITP + AIHA) and every number of the report; "
          "survival = KM per arm, log-rank and Cox on RFS (R: survfit, survdiff, coxph), best of 3.")


if __name__ == "__main__":
    main()
