"""Time to build the talk in each format: the slide structure (figures included), the PowerPoint
file (figures drawn by kaleido's Chromium) and the offline HTML deck, for the shipped cohort and
for a synthetic cohort of 10,000 patients. The first PowerPoint export of a process is "cold"
(Chromium starts); the others reuse nothing between decks either, so cold and warm differ only by
the operating system's file cache. Goals on the shipped cohort: PowerPoint under 10 s, HTML under 3 s.

    python bench/slides.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from analysis import synth
from analysis.cohort import DEFAULT_COHORT, load
from analysis.filters import Filters
from analysis.results import compute
from analysis.slides import deck, to_html, to_pptx


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        synth.write(Path(tmp) / "big", 10_000, 7)
        cohorts = {"shipped (318)": load(DEFAULT_COHORT), "synthetic 10,000": load(Path(tmp) / "big")}
        print(f"{'cohort':>18} {'step':>12} {'first s':>8} {'median s':>9} {'size':>9}")
        for name, cohort in cohorts.items():
            results = compute(cohort, Filters())
            rows = {"statistics": [], "slides": [], "pptx": [], "html": []}
            sizes = {}
            for k in range(args.runs):
                r = compute(cohort, Filters()) if k else results  # the first run computes every number
                t, _ = timed(lambda: (r.table1, r.response, r.rfs, r.rfs_subgroups, r.steroids, r.dose_curve, r.safety))
                rows["statistics"].append(t)
                t, d = timed(lambda: deck(cohort, Filters(), r))
                rows["slides"].append(t)
                t, pptx = timed(lambda: to_pptx(deck(cohort, Filters(), r)))
                rows["pptx"].append(t)
                sizes["pptx"] = len(pptx)
                t, page = timed(lambda: to_html(deck(cohort, Filters(), r)))
                rows["html"].append(t)
                sizes["html"] = len(page.encode())
            for step, times in rows.items():
                size = f"{sizes[step] / 2**20:.1f} MB" if step in sizes else ""
                print(f"{name:>18} {step:>12} {times[0]:>8.2f} {statistics.median(times):>9.2f} {size:>9}")
        print("pptx and html include building the slides (the 'slides' row) each time.")


if __name__ == "__main__":
    main()
