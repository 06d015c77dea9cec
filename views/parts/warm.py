"""The default view prepared when the server starts, so that no visitor pays for it.

`server.py` runs `warm_up()` in its start-up, before Starlette serves anything: until it returns,
`/_stcore/health` does not answer, so a load balancer or Kubernetes sends no one to a server that
is still reading its cohort. It reads and derives the configured cohort, computes every section
of its results for the default filters (the same memo entries a page reads), and builds one
figure of each kind once, which is what a fresh Python process spends its first seconds on
(plotly's and lifelines' first calls). A cohort that cannot be read is left for the page to
explain; the server starts all the same. DASHBOARD_WARM_UP=0 switches it off (bench/first_visit.py
--compare measures the difference).
"""

from __future__ import annotations

import logging
import os
import time

from analysis import plots
from analysis.filters import Filters
from views.parts import cohort

LOG = logging.getLogger(__name__)

# Every section of analysis.results.Results a page reads.
SECTIONS = ("table1", "response", "relapse_rate", "rfs", "rfs_subgroups", "rfs_by_diagnosis", "steroids", "dose_curve",
            "steroid_courses", "troughs", "adjusted", "safety")


def enabled() -> bool:
    return os.environ.get("DASHBOARD_WARM_UP", "1").strip().lower() not in ("0", "false", "no", "off")


def warm_up() -> float:
    """Prepare the configured cohort's default view; the seconds it took (0 when switched off)."""
    if not enabled():
        return 0.0
    t0 = time.perf_counter()
    try:
        c = cohort.prepared(cohort.configured_path())
        r = cohort.shared_results(c, Filters())
        for section in SECTIONS:
            getattr(r, section)
        # One figure of each kind, serialised as the page serialises it: the first go.Figure and
        # the first JSON encoding of a process import and validate far more than later ones.
        for fig in (plots.km(r.rfs, "warm-up", "%"), plots.rates({"ORR": r.response.orr}, "warm-up"),
                    plots.forest(r.rfs_subgroups, "warm-up"), plots.dose_curve(r.dose_curve, "warm-up")):
            plots.stamp(fig, "warm-up", "warm-up", "warm-up")
            fig.to_json()
    except Exception:  # noqa: BLE001  the page says what is wrong with the cohort; the server starts
        LOG.warning("warm-up stopped: the first page will say why", exc_info=True)
    seconds = time.perf_counter() - t0
    LOG.info("default view prepared in %.1f s", seconds)
    return seconds
