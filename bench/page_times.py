"""Server-side time to re-render each page after a filter change, on the shipped cohort.

Runs the app in-process with Streamlit's AppTest (the script run a browser triggers, without the
network), changes the diagnosis filter through five different selections on each page and prints
the median and the slowest run per page. A first change computes the statistics for that filter
(then cached); the numbers below include that. Goal: under 300 ms per page.

    python bench/page_times.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

PAGES = ("overview", "response", "rfs", "steroids", "safety", "data")
SELECTIONS = (["ITP"], ["AIHA", "ES"], ["ITP", "AIHA"], ["ES"], ["AIHA"])


def main() -> None:
    print(f"{'page':>10} {'median ms':>10} {'max ms':>8}   (5 filter changes each, statistics not yet cached)")
    for i, name in enumerate(PAGES):
        at = AppTest.from_string((ROOT / "app.py").read_text(encoding="utf-8"), default_timeout=120).run()
        at.switch_page(str(ROOT / "pages" / "views" / f"{name}.py")).run()
        times = []
        # Age windows differ per page so every page pays for fresh statistics, not another page's cache.
        at.slider(key="age").set_range(14 + i, 90).run()
        for dx in SELECTIONS:
            at.multiselect(key="dx").set_value(dx)
            t0 = time.perf_counter()
            at.run()
            times.append(1000 * (time.perf_counter() - t0))
            assert not at.exception, at.exception
        print(f"{name:>10} {statistics.median(times):>10.0f} {max(times):>8.0f}")


if __name__ == "__main__":
    main()
