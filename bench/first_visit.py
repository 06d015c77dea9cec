"""How long the first person waits: a freshly started server, one Chromium (Debian's, through
Playwright), the time from the page requested to its title and every figure drawn (the Overview
has no figure: its Table 1 drawn).

For each way in — the Overview at / and a deep link to /rfs — a new server is started, and as soon
as its health check says ok a browser opens that page (the fresh visit); then a second browser
context (a new visitor, nothing cached in the browser) opens it again (the warm visit). With
--compare, the same again with DASHBOARD_WARM_UP=0, so the figures of a server that does not
prepare its default view at start are printed beside them.

    python bench/first_visit.py [--compare] [--repeat 3]

Goal (issue 14): the first page drawn in under 3 s on a fresh server, under 1.5 s on a warm one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testkit.browser_support import launch, serving  # noqa: E402

TITLES = {"": "Tacrolimus + steroid vs steroid alone", "rfs": "Relapse-free survival"}
DRAWN = """(title) => {
  const h1 = document.querySelector('h1');
  const state = document.querySelector('[data-test-script-state]');
  if (!h1 || h1.innerText.trim() !== title || !state || state.dataset.testScriptState !== 'notRunning') return false;
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  const tables = document.querySelectorAll('[data-testid="stDataFrame"] canvas');
  return charts.length + tables.length > 0 && charts.every(c => c.querySelector('.main-svg'));
}"""


def visit(browser, url: str, title: str, ctx=None) -> float:
    """Seconds to the page drawn, in a new browser context (a new visitor: nothing cached) or in `ctx`."""
    own = ctx is None
    ctx = ctx or browser.new_context(viewport={"width": 1440, "height": 900})
    page = ctx.new_page()
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(DRAWN, arg=title, timeout=120_000, polling=50)
    seconds = time.perf_counter() - t0
    page.close()
    if own:
        ctx.close()
    return seconds


def one_server(path: str, warm_up: bool) -> tuple[float, float, float, float]:
    """Seconds from start to healthy, the fresh visit, the warm visit of a new visitor and of a
    returning one (the browser has the app's scripts cached) of `path`."""
    from playwright.sync_api import sync_playwright

    env = {} if warm_up else {"DASHBOARD_WARM_UP": "0"}
    with sync_playwright() as p:
        browser = launch(p)
        browser.new_context().close()  # the browser itself started before the clock
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            with serving(Path(tmp) / "server.log", env=env) as served:
                healthy = time.perf_counter() - t0
                fresh = visit(browser, f"{served.url}/{path}", TITLES[path])
                warm = visit(browser, f"{served.url}/{path}", TITLES[path])
                returning = browser.new_context(viewport={"width": 1440, "height": 900})
                visit(browser, f"{served.url}/{path}", TITLES[path], returning)
                again = visit(browser, f"{served.url}/{path}", TITLES[path], returning)
                returning.close()
        browser.close()
    return healthy, fresh, warm, again


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compare", action="store_true", help="also without the warm-up at start (DASHBOARD_WARM_UP=0)")
    ap.add_argument("--repeat", type=int, default=3, help="fresh servers per way in (median printed)")
    args = ap.parse_args()
    modes = [True, False] if args.compare else [True]
    print(f"{'way in':<8} {'warm-up at start':<17} {'start → healthy':>16} {'fresh visit':>12} {'warm visit':>11} "
          f"{'warm, returning':>16}")
    for path in ("", "rfs"):
        for warm_up in modes:
            runs = [one_server(path, warm_up) for _ in range(args.repeat)]
            h, f, w, a = (statistics.median(r[i] for r in runs) for i in range(4))
            print(f"{'/' + path:<8} {'yes' if warm_up else 'no':<17} {h:>14.1f} s {f:>10.2f} s {w:>9.2f} s {a:>14.2f} s")
    print(f"median of {args.repeat} fresh servers each; the clock runs from the page requested to its title and "
          "every figure drawn. Fresh: the server's first visitor. Warm: a new visitor after it (a new browser "
          "profile: the app's 6 MB of scripts downloaded and parsed again). Returning: the same browser again "
          "(scripts from its cache).")


if __name__ == "__main__":
    main()
