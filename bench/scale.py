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
import random
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "container"))

import load as loadbench  # noqa: E402  (bench/load.py)
from analysis.cohort import DEFAULT_COHORT  # noqa: E402
from analysis.cohort import load as load_cohort  # noqa: E402
from container_support import BASE, READ_ONLY, RUNC, ULIMITS, sh  # noqa: E402
from testkit.browser_support import free_port  # noqa: E402

IMAGE = "localhost/tacrolimus-dashboard:bench"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def build() -> None:
    if subprocess.run(["podman", "image", "exists", BASE]).returncode != 0:
        sys.exit(f"{BASE} is missing: run `make container-test` once, which makes it")
    certs = "/etc/ssl/certs/ca-certificates.crt"
    volume = ["-v", f"{certs}:{certs}:ro"] if Path(certs).exists() else []
    sh("podman", "build", "--format", "docker", "--isolation", "chroot", "--build-arg", f"BASE_IMAGE={BASE}",
       *volume, "-t", IMAGE, str(ROOT), timeout=1800)


def replica_cookie(url: str) -> str | None:
    with urllib.request.urlopen(url + "/_stcore/health", timeout=10) as resp:
        for header in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            if name.strip() == "dashboard_replica":
                return rest.split(";", 1)[0]
    return None


def peak_mib(name: str) -> float | None:
    pid = sh("podman", *RUNC, "inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
    return loadbench.peak_rss_mib(int(pid)) if pid.isdigit() else None


def one_run(replicas: int, sessions: int, seconds: float, think: float, ramp: float) -> None:
    tag = f"{os.getpid()}-{random.randrange(10**6)}"
    net = f"dashboard-bench-{tag}"
    names = [f"dashboard-bench-{tag}-{i}" for i in range(1, replicas + 1)]
    proc = None
    sh("podman", "network", "create", net)
    try:
        for name in names:
            sh("podman", *RUNC, "run", "-d", "--name", name, "--network", net, "--network-alias", "dashboard",
               *ULIMITS, *READ_ONLY, IMAGE)
        gateway = sh("podman", "network", "inspect", net, "--format", "{{range .Subnets}}{{.Gateway}}{{end}}").stdout.strip()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {"PATH": "/usr/sbin:/usr/bin:/bin", "DASHBOARD_DNS": f"{gateway}:53", "DASHBOARD_BIND": f"127.0.0.1:{port}",
               "DASHBOARD_ORIGIN": url, "DASHBOARD_COOKIE_KEY": f"bench-{tag}"}
        proc = subprocess.Popen([HAPROXY, "-db", "-f", str(ROOT / "deploy" / "haproxy.cfg")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seen: set[str] = set()
        deadline = time.time() + 240
        while len(seen) < replicas and time.time() < deadline:
            try:
                value = replica_cookie(url)
                if value:
                    seen.add(value)
            except OSError:
                pass
            time.sleep(0.5)
        if len(seen) < replicas:
            sys.exit(f"only {len(seen)} of {replicas} replicas answered through the balancer in 240 s")
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
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        for name in names:
            subprocess.run(["podman", *RUNC, "rm", "-f", name], capture_output=True)
        subprocess.run(["podman", "network", "rm", "-f", net], capture_output=True)


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
        build()
    print(f"machine: {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} "
          "GiB; replicas, HAProxy and this load client on it together")
    for n in (int(x) for x in args.replicas.split(",")):
        one_run(n, args.sessions, args.seconds, args.think, args.ramp)


if __name__ == "__main__":
    main()
