"""A large cohort from its Parquet files to the full report, as the app meets it on a first visit:
read + validate + derive + every number of the report (cold, in a fresh process), the process's
peak memory (maximum RSS), and then one filter change + the full report again.

Each measurement runs in its own Python process, so that the peak memory is that cohort's alone.
With --old REV, the same is measured on the code of git revision REV (checked out in a temporary
worktree) in the same run, on the same files, and the ratio old / new is printed; by default the
old code runs at 100,000 patients only (at a million it needs 6.5 minutes and 16.5 GB).

Goals (issue 15): 100,000 patients cold under 6 s, under 1.5 GB, a filter change + report under
0.5 s; 1,000,000 patients under 60 s, under 4 GB, under 3 s.

    python bench/pipeline.py                                  # 100,000 and 1,000,000 patients
    python bench/pipeline.py --patients 100000 --old ed994ea  # beside the code before issue 15
    python bench/pipeline.py --repeat 3 --old 12e1526          # three runs each, medians and ranges
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(tempfile.gettempdir()) / "dashboard-bench"
SEED = 11
GOALS = {100_000: (6.0, 1.5, 0.5), 1_000_000: (60.0, 4.0, 3.0)}  # cold s, peak GiB (maximum RSS), filter change s

# Run in the child process, in the code tree being measured.
CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from analysis.cohort import load
from analysis.filters import Filters
from analysis.report import build
t1 = time.perf_counter()
cohort = load(sys.argv[1])
t2 = time.perf_counter()
build(cohort, Filters())
t3 = time.perf_counter()
build(cohort, Filters(diagnosis=("ITP", "AIHA")))
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "report": t3 - t2, "cold": t3 - t1, "change": t4 - t3,
                  "steps": getattr(cohort, "timings", {}),
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2}))
"""


def cohort_folder(n: int) -> Path:
    """The synthetic cohort of n patients (seed 11), written once by the current code and reused."""
    folder = CACHE / f"cohort-{n}-seed{SEED}"
    if not (folder / "patients.parquet").exists():
        print(f"writing a synthetic cohort of {n:,} patients to {folder} …", flush=True)
        subprocess.run([sys.executable, "-m", "analysis", "synth", "--patients", str(n), "--seed", str(SEED),
                        "--out", str(folder)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return folder


def measure(tree: Path, folder: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder)], cwd=tree, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def old_tree(rev: str, into: Path) -> Path:
    tree = into / "old"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), rev], cwd=ROOT, check=True,
                   capture_output=True)
    return tree


def row(label: str, m: dict, goal: tuple | None) -> str:
    if "error" in m:
        return f"{label:<24} failed: {m['error']}"
    steps = " / ".join(f"{v:.1f}" for v in m["steps"].values()) if m["steps"] else "–"
    text = (f"{label:<24} {m['cold']:>8.1f} s {m['peak_gb']:>6.2f} GiB ({m['peak_gb'] * 2 ** 30 / 1e9:.2f} GB) {m['change']:>7.2f} s"
            f"   (read/check/derive {steps} s; report {m['report']:.2f} s)")
    if goal:
        met = [m["cold"] < goal[0], m["peak_gb"] < goal[1], m["change"] < goal[2]]
        text += "   goals: " + " ".join("met" if ok else "MISSED" for ok in met)
    return text


def median_of(runs: list[dict]) -> dict:
    """Each figure's median over runs (steps and report included), and its range as "lo–hi"."""
    keys = ("cold", "peak_gb", "change", "report")
    out = {k: statistics.median(r[k] for r in runs) for k in keys}
    out["steps"] = {step: statistics.median(r["steps"][step] for r in runs) for step in runs[0]["steps"]}
    out["range"] = {k: (min(r[k] for r in runs), max(r[k] for r in runs)) for k in keys}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--old", help="git revision whose code is measured beside the current code")
    ap.add_argument("--old-up-to", type=int, default=100_000, help="largest cohort the old code is run on")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each code, new and old taking turns to go first (on a shared machine the "
                         "first process of a series is often the slowest); the medians are then printed")
    args = ap.parse_args()
    print(f"{'cohort / code':<24} {'cold':>10} {'peak':>19} {'change':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        old = old_tree(args.old, Path(tmp)) if args.old else None
        try:
            for n in args.patients:
                folder = cohort_folder(n)
                trees = [("new", ROOT)] + ([(f"old ({args.old[:10]})", old)] if old and n <= args.old_up_to else [])
                runs: dict[str, list[dict]] = {label: [] for label, _ in trees}
                for k in range(args.repeat):
                    for label, tree in (trees if k % 2 == 0 else trees[::-1]):
                        m = measure(tree, folder)
                        suffix = f" #{k + 1}" if args.repeat > 1 else ""
                        print(row(f"{n:,} {label}{suffix}", m, GOALS.get(n) if label == "new" else None), flush=True)
                        if "error" not in m:
                            runs[label].append(m)
                if args.repeat > 1:
                    for label, _ in trees:
                        if runs[label]:
                            m = median_of(runs[label])
                            spread = ", ".join(f"{k} {lo:.2f}–{hi:.2f}" for k, (lo, hi) in m["range"].items())
                            print(row(f"{n:,} {label} median", m, GOALS.get(n) if label == "new" else None)
                                  + f"\n{'':<24} range over {len(runs[label])} runs: {spread}", flush=True)
                if len(trees) == 2 and all(runs[label] for label, _ in trees):
                    new, before = (median_of(runs[label]) if args.repeat > 1 else runs[label][0] for label, _ in trees)
                    print(f"{'':<24} ratio old/new: cold {before['cold'] / new['cold']:.1f}×, memory "
                          f"{before['peak_gb'] / new['peak_gb']:.1f}×, change {before['change'] / new['change']:.1f}×",
                          flush=True)
        finally:
            if old:
                subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True)
    print("cold = read + validate + derive + the full report (analysis.report.build) in a fresh process; "
          "change = one filter change (ITP + AIHA) and the full report again; peak = the process's maximum RSS in "
          "GiB (2^30 bytes), decimal GB in brackets; the memory goals are checked in GiB.")


if __name__ == "__main__":
    main()
