"""Server-side time to re-render each page after a filter change, on the shipped cohort (or the one
COHORT_PATH names, as the app reads it).

Runs the app in-process with Streamlit's AppTest (the script run a browser triggers, without the
network), changes the diagnosis filter through five different selections on each page and prints
the median and the slowest run per page. A first change computes the statistics for that filter
(then cached); the numbers below include that. Goal: under 300 ms per page.

Then the RFS page with "Split by diagnosis" on: five filter changes, and five reruns that change
nothing the statistics depend on (the confidence-band toggle), where every number is cached.

    python bench/page_times.py
    COHORT_PATH=/tmp/dashboard-bench/cohort-100000-seed11 python bench/page_times.py   # a large cohort
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from views import VIEWS, view

ROOT = Path(__file__).resolve().parent.parent
SELECTIONS = (["ITP"], ["AIHA", "ES"], ["ITP", "AIHA"], ["ES"], ["AIHA"])


def timed(at: AppTest) -> float:
    t0 = time.perf_counter()
    at.run()
    assert not at.exception, at.exception
    return 1000 * (time.perf_counter() - t0)


def opened(name: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page(str(view(name).path)).run()
    return at


def main() -> None:
    print(f"{'page':>22} {'median ms':>10} {'max ms':>8}   (5 filter changes each, statistics not yet cached)")
    for i, v in enumerate(VIEWS):
        at = opened(v.name)
        # Age windows differ per page so every page pays for fresh statistics, not another page's cache.
        at.slider(key="age").set_range(14 + i, 90).run()
        times = []
        for dx in SELECTIONS:
            at.multiselect(key="dx").set_value(dx)
            times.append(timed(at))
        print(f"{v.name:>22} {statistics.median(times):>10.0f} {max(times):>8.0f}")

    at = opened("rfs")
    at.slider(key="age").set_range(14 + len(VIEWS), 90).run()
    at.toggle(key="rfs_split").set_value(True).run()
    changes = []
    for dx in SELECTIONS:
        at.multiselect(key="dx").set_value(dx)
        changes.append(timed(at))
    print(f"{'rfs split, filter':>22} {statistics.median(changes):>10.0f} {max(changes):>8.0f}")
    reruns = []
    for k in range(5):
        at.toggle(key="rfs_ci").set_value(k % 2 == 0)
        reruns.append(timed(at))
    print(f"{'rfs split, same filter':>22} {statistics.median(reruns):>10.0f} {max(reruns):>8.0f}   (5 reruns, CI toggle)")


if __name__ == "__main__":
    main()
