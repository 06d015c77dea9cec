"""Many people through the balancer: N replicas of the real image (podman, as tests/container
builds it) behind Debian's HAProxy with deploy/haproxy.cfg, and bench/load.py's sessions (the
Streamlit protocol, each acting with a pause) through it.

Prints, per run: replicas, sessions and pause, page loads per second, p50/p95/max time to a
rendered page, errors, and each replica's peak resident memory (VmHWM of its server process) and
the sessions it held (by the replica cookie each session got).

    python bench/scale.py --replicas 1,2 --sessions 50 --think 1 --seconds 60
    python bench/scale.py --replicas 2 --sessions 100 --think 5 --seconds 60

Everything runs on this machine: the replicas, HAProxy and the load client share its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "container"))

import load as loadbench  # noqa: E402  (bench/load.py)
from analysis.cohort import DEFAULT_COHORT  # noqa: E402
from analysis.cohort import load as load_cohort  # noqa: E402
from container_support import RUNC, balanced, build_image, sh  # noqa: E402

IMAGE = "localhost/tacrolimus-dashboard:bench"


def peak_mib(name: str) -> float | None:
    pid = sh("podman", *RUNC, "inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
    return loadbench.peak_rss_mib(int(pid)) if pid.isdigit() else None


def one_run(replicas: int, sessions: int, seconds: float, think: float, ramp: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, balanced(IMAGE, replicas, Path(tmp) / "haproxy.log") as cluster:
        url, names = cluster.url, cluster.replicas
        endpoints = load_cohort(DEFAULT_COHORT).endpoints
        held = collections.Counter()
        original_cookies = loadbench.Session.open

        async def counting_open(u, *args, **kw):  # which replica each session landed on
            s = await original_cookies(u, *args, **kw)
            held[s.jar.get("dashboard_replica", "?")] += 1
            return s

        loadbench.Session.open = counting_open
        t0 = time.monotonic()
        tally = asyncio.run(loadbench.main_async(url, sessions, seconds, ramp, think, endpoints))
        wall = time.monotonic() - t0
        loadbench.Session.open = original_cookies
        t = tally.times
        print(f"replicas {replicas} · sessions {sessions} · pause {think:g} s (±50%) · {seconds:g} s after a "
              f"{ramp:g} s ramp · wall {wall:.0f} s")
        print(f"  page loads {len(t)} ({len(t) / wall:.1f}/s) · errors {len(tally.errors)} · "
              f"time to rendered page: {loadbench.summary(t)}")
        print("  replicas: " + "; ".join(f"{name.rsplit('-', 1)[1]}: peak {peak_mib(name) or 0:.0f} MiB"
                                          for name in names)
              + f" · sessions per replica {sorted(held.values(), reverse=True)}")
        for e in tally.errors[:5]:
            print("  error:", e)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replicas", default="1,2")
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--think", type=float, default=1.0)
    ap.add_argument("--ramp", type=float, default=5)
    ap.add_argument("--no-build", action="store_true", help=f"use {IMAGE} as it is")
    args = ap.parse_args()
    if not args.no_build:
        build_image(IMAGE)
    print(f"machine: {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} "
          "GiB; replicas, HAProxy and this load client on it together")
    for n in (int(x) for x in args.replicas.split(",")):
        one_run(n, args.sessions, args.seconds, args.think, args.ramp)


if __name__ == "__main__":
    main()
