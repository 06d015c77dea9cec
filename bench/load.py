"""Many people using the dashboard at once: N concurrent sessions over Streamlit's own WebSocket
protocol (testkit/st_client.py; the messages a browser sends and receives, without a browser's
rendering), each one loading the app and then, for a bounded time, changing the filters or
switching pages with a human pause between actions.

Prints sessions, page loads, errors, p50/p95/max time to a rendered page (request sent → every
element of the page received and the script run finished) and the server's peak memory (VmHWM of
the server process, which this script starts unless --url is given).

With --browser, one Chromium tab (Debian's, through Playwright) also switches pages while the
sessions run, and its time from click to every figure drawn is printed apart: what a person at
the screen waits for, browser rendering included.

Every answer is checked: the run finished, no exception element, the page asked for was served,
and the sidebar's "n = X of N patients" equals the count for that session's own filters computed
here from the cohort. A session shown another session's selection counts as an error.

    python bench/load.py --sessions 10 --seconds 60
    python bench/load.py --sessions 50 --seconds 60
    python bench/load.py --sessions 50 --seconds 60 --think 5 --browser
    python bench/load.py --url http://host:8501 --sessions 20     # a server already running

Aim (issue 5): 50 sessions, no errors, p95 under 3 s for the shipped cohort on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from analysis.cohort import DEFAULT_COHORT, load
from analysis.filters import Filters
from analysis.schema import DIAGNOSES, SEX_LABELS, SEXES
from testkit.browser_support import serving
from testkit.st_client import Session

PAGES = ("", "response", "rfs", "steroids", "safety", "data")  # URL paths; "" is the Overview
COUNT = re.compile(r"n = ([\d,]+) of ([\d,]+) patients")
LABEL_DX, LABEL_AGE, LABEL_SEX = "Diagnosis", "Age at treatment start (years)", "Sex"


# Sidebar link → the page's title (h1).
NAV = {"Overview": "Tacrolimus + steroid vs steroid alone", "Response": "Response",
       "Relapse-free survival": "Relapse-free survival", "Steroid taper": "Steroid taper",
       "Safety & cost": "Safety & cost", "Data": "Data"}
DRAWN = """(title) => {
  const h1 = document.querySelector('h1');
  const state = document.querySelector('[data-test-script-state]');
  if (!h1 || h1.innerText.trim() !== title || !state || state.dataset.testScriptState !== 'notRunning') return false;
  return [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => c.querySelector('.main-svg'));
}"""


@dataclass
class Tally:
    times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def random_filters(rng: random.Random, lo: int, hi: int) -> tuple[list[str], list[str], tuple[int, int]]:
    dx = rng.sample(DIAGNOSES, rng.randint(1, len(DIAGNOSES)))
    sex = rng.sample(SEXES, rng.randint(1, len(SEXES)))
    a, b = sorted(rng.sample(range(lo, hi + 1), 2)) if rng.random() < 0.5 else (lo, hi)
    return dx, sex, (a, b)


async def one_session(i: int, url: str, deadline: float, think: float, endpoints, tally: Tally) -> None:
    rng = random.Random(1000 + i)
    lo, hi = int(endpoints["age"].min()), int(endpoints["age"].max())
    expected = len(endpoints)
    page = ""
    try:
        s = await Session.open(url)
    except Exception as err:  # connection refused or handshake failed
        tally.errors.append(f"session {i}: could not connect ({type(err).__name__}: {err})")
        return
    try:
        action = "first load"
        while True:
            try:
                run = await s.run(page=None if action == "first load" else page)
            except Exception as err:
                tally.errors.append(f"session {i}, {action}: {type(err).__name__} {err}")
                return
            tally.times.append(run.seconds)
            problem = check(run, page, expected, s)
            if problem:
                tally.errors.append(f"session {i}, {action}: {problem}")
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))
            if rng.random() < 0.5:
                page = rng.choice([p for p in PAGES if p != page])
                action = f"open /{page}"
            else:
                dx, sex, age = random_filters(rng, lo, hi)
                s.set(LABEL_DX, dx)
                s.set(LABEL_SEX, [SEX_LABELS[x] for x in sex])
                s.set(LABEL_AGE, age)
                f = Filters(diagnosis=tuple(dx), sex=tuple(sex), age_min=float(age[0]), age_max=float(age[1]))
                expected = len(f.apply(endpoints))
                action = f"filters {'+'.join(dx)}/{'+'.join(sex)}/{age[0]}-{age[1]} on /{page}"
    finally:
        await s.close()


def check(run, page: str, expected: int, s: Session) -> str:
    if run.status != "FINISHED_SUCCESSFULLY":
        return f"script run ended {run.status}"
    if run.exceptions:
        return f"exception shown: {run.exceptions[0].type}"
    if run.page_not_found:
        return "page not found"
    if s.page_hash != s.pages.get(page):
        return f"served another page than /{page}"
    m = COUNT.search(run.text)
    if not m:
        return "no patient count in the sidebar"
    if int(m.group(1).replace(",", "")) != expected:
        return f"sidebar shows n = {m.group(1)}, this session's filters select {expected}"
    return ""


def browser_tab(url: str, deadline: float, think: float, tally: Tally) -> None:
    """One real tab: open the app, then click sidebar links until the deadline; time each click
    to the new page's title with the script finished and every Plotly figure drawn."""
    from playwright.sync_api import sync_playwright

    from testkit.browser_support import launch

    rng = random.Random(7)
    try:
        with sync_playwright() as p:
            b = launch(p)
            pg = b.new_page(viewport={"width": 1440, "height": 1000})
            start = time.monotonic()
            pg.goto(url)
            pg.wait_for_function(DRAWN, arg=NAV["Overview"], timeout=120000)
            tally.times.append(time.monotonic() - start)
            current = "Overview"
            while time.monotonic() < deadline:
                time.sleep(think * rng.uniform(0.5, 1.5))
                current = rng.choice([t for t in NAV if t != current])
                start = time.monotonic()
                pg.get_by_test_id("stSidebarNavLink").filter(has_text=current).first.click()
                pg.wait_for_function(DRAWN, arg=NAV[current], timeout=120000)
                tally.times.append(time.monotonic() - start)
                if pg.get_by_test_id("stException").count():
                    tally.errors.append(f"browser tab, {current}: exception shown")
            b.close()
    except Exception as err:
        tally.errors.append(f"browser tab: {type(err).__name__}: {str(err).splitlines()[0]}")


def summary(times: list[float]) -> str:
    t = sorted(times)
    if not t:
        return "no page loads"
    q = statistics.quantiles(t, n=100, method="inclusive") if len(t) > 1 else t * 99
    return f"p50 {1000 * q[49]:.0f} ms · p95 {1000 * q[94]:.0f} ms · max {1000 * t[-1]:.0f} ms"


def peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def main_async(url: str, sessions: int, seconds: float, ramp: float, think: float, endpoints) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + ramp + seconds

    async def delayed(i: int) -> None:
        await asyncio.sleep(ramp * i / sessions)
        await one_session(i, url, deadline, think, endpoints, tally)

    await asyncio.gather(*(delayed(i) for i in range(sessions)))
    return tally


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60, help="how long each session keeps acting after the ramp")
    ap.add_argument("--ramp", type=float, default=5, help="sessions arrive evenly over this many seconds")
    ap.add_argument("--think", type=float, default=1.0, help="mean pause between a session's actions (s)")
    ap.add_argument("--url", help="a running server (default: start one here on the shipped cohort)")
    ap.add_argument("--browser", action="store_true", help="also time page switches in one Chromium tab")
    args = ap.parse_args()

    endpoints = load(DEFAULT_COHORT).endpoints
    with contextlib.ExitStack() as stack:
        url, pid = args.url, None
        if url is None:
            log = Path(tempfile.mkdtemp(prefix="load-")) / "server.log"
            app = stack.enter_context(serving(log, "--server.address", "127.0.0.1"))
            url, pid = app.url, app.pid
            # One session first, as after any restart, so the cohort is loaded before the crowd comes.
            asyncio.run(main_async(url, 1, 0, 0, args.think, endpoints))
        tab = Tally()
        t0 = time.monotonic()
        tab_thread = None
        if args.browser:
            tab_thread = threading.Thread(target=browser_tab, daemon=True,
                                          args=(url, t0 + args.ramp + args.seconds, args.think, tab))
            tab_thread.start()
        tally = asyncio.run(main_async(url, args.sessions, args.seconds, args.ramp, args.think, endpoints))
        if tab_thread:
            tab_thread.join(timeout=180)
        wall = time.monotonic() - t0
        peak = peak_rss_mib(pid) if pid else None
        client_cpu = time.process_time()

    t = tally.times
    print(f"machine: {os.cpu_count()} cores · server: {url} · shipped cohort ({len(endpoints)} patients)")
    print(f"sessions {args.sessions} · {args.seconds:g} s each after a {args.ramp:g} s ramp · pause "
          f"{args.think:g} s (±50%) · wall {wall:.1f} s")
    print(f"page loads {len(t)} ({len(t) / wall:.1f}/s) · errors {len(tally.errors) + len(tab.errors)}")
    print(f"time to rendered page: {summary(t)}")
    if args.browser:
        print(f"browser tab: {len(tab.times)} page switches · click to every figure drawn: {summary(tab.times)}")
    print(f"server peak memory: {peak:.0f} MiB" if peak else "server peak memory: not measured (--url)")
    print(f"this script (the browser tab apart) used {client_cpu:.0f} s of CPU on the same machine "
          f"({100 * client_cpu / wall:.0f}% of one core)")
    for e in (tab.errors + tally.errors)[:10]:
        print("  error:", e)


if __name__ == "__main__":
    main()
