"""What the container tests share: the image's names, podman with runc, and a shell helper."""

from __future__ import annotations

import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASE = "localhost/debian-python:bookworm"
IMAGE = "localhost/tacrolimus-dashboard:test"
RUNC = ["--runtime", shutil.which("runc") or "/usr/sbin/runc"]
# runc in this sandbox cannot raise limits above the session's: give the container explicit ones.
ULIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
READ_ONLY = ("--read-only", "--tmpfs", "/tmp")  # as the README runs it


def sh(*args: str, timeout: int = 900, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=True, capture_output=True, text=True, timeout=timeout, **kw)


def build_image(tag: str) -> str:
    """The project's Dockerfile built as `tag` on the local Debian base (made with debootstrap the
    first time: registries are out of reach)."""
    import tempfile

    if subprocess.run(["podman", "image", "exists", BASE]).returncode != 0:
        with tempfile.TemporaryDirectory() as rootfs:
            sh("debootstrap", "--variant=minbase", "--include=python3,python3-venv,python3-pip,ca-certificates",
               "bookworm", rootfs, timeout=1200)
            tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
            subprocess.run(["podman", "import", "-", BASE], stdin=tar.stdout, check=True, capture_output=True)
            tar.wait()
    certs = "/etc/ssl/certs/ca-certificates.crt"
    volume = ["-v", f"{certs}:{certs}:ro"] if Path(certs).exists() else []
    sh("podman", "build", "--format", "docker", "--isolation", "chroot", "--build-arg", f"BASE_IMAGE={BASE}",
       *volume, "-t", tag, str(ROOT), timeout=1800)
    return tag


HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
REPLICA_COOKIE = "dashboard_replica"


@dataclass
class Balanced:
    url: str  # the balancer
    replicas: list[str]  # container names
    log: Path  # HAProxy's log


@contextmanager
def balanced(image: str, replicas: int, log: Path, wait: float = 240):
    """`replicas` containers of `image` on a podman network of their own, all answering to the
    name `dashboard` in its DNS (as compose's service name does), and Debian's HAProxy on this
    machine with deploy/haproxy.cfg in front of them, asking that network's DNS server. Yields
    once every replica serves through the balancer; removes everything after."""
    import os
    import random
    import time

    from testkit.browser_support import free_port
    from testkit.st_client import cookies

    if not Path(HAPROXY).exists():
        raise RuntimeError("haproxy is missing: apt-get install haproxy")
    tag = f"{os.getpid()}-{random.randrange(10**6)}"
    net = f"dashboard-scale-{tag}"
    names = [f"dashboard-{tag}-{i}" for i in range(1, replicas + 1)]
    sh("podman", "network", "create", net)
    proc = None
    try:
        for name in names:
            sh("podman", *RUNC, "run", "-d", "--name", name, "--network", net, "--network-alias", "dashboard",
               *ULIMITS, *READ_ONLY, image)
        gateway = sh("podman", "network", "inspect", net, "--format", "{{range .Subnets}}{{.Gateway}}{{end}}").stdout.strip()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {"PATH": "/usr/sbin:/usr/bin:/bin", "DASHBOARD_DNS": f"{gateway}:53", "DASHBOARD_BIND": f"127.0.0.1:{port}",
               "DASHBOARD_ORIGIN": url, "DASHBOARD_COOKIE_KEY": f"scale-{tag}"}
        with log.open("w") as out:
            proc = subprocess.Popen([HAPROXY, "-db", "-f", str(ROOT / "deploy" / "haproxy.cfg")], env=env,
                                    stdout=out, stderr=subprocess.STDOUT)
        # Every replica serving through the balancer: as many different replica cookies handed out.
        seen: set[str] = set()
        deadline = time.time() + wait
        while len(seen) < replicas and time.time() < deadline:
            try:
                value = cookies(url).get(REPLICA_COOKIE)  # HAProxy sets it on a request without one
                if value:
                    seen.add(value)
            except OSError:
                pass
            time.sleep(0.5)
        if len(seen) < replicas:
            raise RuntimeError(f"{len(seen)} of {replicas} replicas answered through the balancer in {wait:.0f} s:\n"
                               f"{log.read_text()[-3000:]}")
        yield Balanced(url, names, log)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
        for name in names:
            subprocess.run(["podman", *RUNC, "rm", "-f", name], capture_output=True)
        subprocess.run(["podman", "network", "rm", "-f", net], capture_output=True)
