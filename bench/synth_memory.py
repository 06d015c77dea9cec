"""Memory of generating large synthetic cohorts: runs `python -m analysis synth` for N patients
in a child process and prints its wall time and peak resident memory. Generation is chunked, so
peak memory should stay flat as N grows (default: 100,000 and 1,000,000 patients).

    python bench/synth_memory.py [N ...]
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(n: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        # A fresh child per size, so ru_maxrss of the children is this run's peak.
        code = (
            "import resource, sys; from analysis.__main__ import main; rc = main(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)"
        )
        r = subprocess.run([sys.executable, "-c", code, "synth", "--patients", str(n), "--out", tmp],
                           cwd=ROOT, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        peak_kib = int(r.stderr.strip().splitlines()[-1])
        size = sum(f.stat().st_size for f in Path(tmp).iterdir())
        del before
    return wall, peak_kib / 1024, size


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    print(f"{'patients':>10} {'seconds':>8} {'peak MiB':>9} {'files MiB':>10}")
    for n in sizes:
        wall, peak, size = run(n)
        print(f"{n:>10,} {wall:>8.1f} {peak:>9.0f} {size / 2**20:>10.1f}")


if __name__ == "__main__":
    main()
