"""Uploads through a running server, as the browser sends them (testkit/st_client.py): the time
from the file's PUT to the page drawn on the uploaded cohort, and the server's peak memory (its
process and the upload reader's), for department-sized cohorts and for every hostile file of
testkit/hostile.py.

    python bench/upload.py                          # this checkout (server.py)
    python bench/upload.py --baseline /tmp/old      # … beside an earlier checkout (its app.py)
    python bench/upload.py --hostile                # also every hostile file

With --baseline, the same uploads go to an earlier checkout of the project served the way that
checkout served itself (`streamlit run app.py`), in the same run, and the ratio is printed:
make a baseline with `git worktree add /tmp/old <commit>` (it needs the same .venv).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

import pandas as pd

from analysis import synth
from testkit.browser_support import PeakMemory, serving
from testkit.files import shipped_subset, xlsx_bytes
from testkit.st_client import Session

RUNS = 5


def cohorts(tmp: Path) -> list[tuple[str, str, bytes, int]]:
    """(what, file name, bytes, patients)."""
    out = [("120 patients, .xlsx", "department.xlsx", xlsx_bytes(shipped_subset(120)), 120),
           ("318 patients, .xlsx", "cohort.xlsx", xlsx_bytes(shipped_subset(318)), 318)]
    for n, kind in ((2000, "csv"), (10000, "parquet")):
        folder = tmp / f"synth{n}"
        synth.write(folder, n, 5)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(folder.glob("*.parquet")):
                if kind == "csv":
                    zf.writestr(f.stem + ".csv", pd.read_parquet(f).to_csv(index=False))
                else:
                    zf.write(f, f.name)
        out.append((f"{n:,} patients, .zip of {kind.upper() if kind == 'csv' else 'Parquet'}", f"cohort-{n}.zip",
                    buf.getvalue(), n))
    return out


async def _times(url: str, filename: str, data: bytes, patients: int, runs: int) -> list[float]:
    tab = await Session.open(url)
    await tab.run()
    await tab.run(page="data")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run = await tab.upload("Cohort file", filename, data, timeout=300)
        times.append(time.perf_counter() - start)
        text = run.plain
        if f"n = {patients} of {patients} patients" not in text:
            raise SystemExit(f"{filename}: the page did not show the uploaded cohort:\n{text[:600]}")
    await tab.close()
    return times


def measure(app_dir: Path, script: str, files, log: Path) -> dict[str, tuple[float, float]]:
    """Median upload time (s) and peak memory (MB) per file."""
    out = {}
    with serving(log, cwd=app_dir, script=script) as app:
        asyncio.run(_times(app.url, files[0][1], files[0][2], files[0][3], 1))  # warm-up
        for what, name, data, n in files:
            times = asyncio.run(_times(app.url, name, data, n, RUNS))
            # Memory on one more upload: sampling /proc every 20 ms takes a core's share, so not
            # while the times are taken.
            with PeakMemory(app.pid) as memory:
                asyncio.run(_times(app.url, name, data, n, 1))
            out[what] = (statistics.median(times), memory.peak)
    return out


async def _hostile(url: str, case, data: bytes) -> tuple[float, str]:
    tab = await Session.open(url)
    await tab.run()
    await tab.run(page="data")
    start = time.perf_counter()
    run = await tab.upload("Cohort file", case.file, data, timeout=120)
    seconds = time.perf_counter() - start
    await tab.close()
    said = run.plain
    ok = (case.told in said) if not case.loads else ("was not loaded" not in said)
    return seconds, "as expected" if ok else "UNEXPECTED"


def hostile_figures(tmp: Path) -> None:
    from testkit import hostile

    folder = tmp / "hostile"
    folder.mkdir()
    print(f"\nhostile files through the upload path ({len(hostile.CASES)}): answer time and peak memory of the "
          "server with its upload reader")
    print(f"{'file':<34} {'bytes':>11} {'answer s':>9} {'peak MB':>8}  outcome")
    with serving(tmp / "hostile.log") as app:
        worst = 0.0
        for case in hostile.CASES:
            data = hostile.build(case, folder).read_bytes()
            with PeakMemory(app.pid) as memory:
                seconds, outcome = asyncio.run(_hostile(app.url, case, data))
            worst = max(worst, memory.peak)
            print(f"{case.file:<34} {len(data):>11,} {seconds:>9.2f} {memory.peak:>8.0f}  {outcome}")
        print(f"largest peak: {worst:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="an earlier checkout, served with `streamlit run app.py`")
    parser.add_argument("--hostile", action="store_true", help="also upload every hostile file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        files = cohorts(tmp)
        print(f"uploads through the Data page: median of {RUNS} (PUT → page drawn on the uploaded cohort); "
              "peak memory of the server and its upload reader")
        new = measure(ROOT, "server.py", files, tmp / "new.log")
        old = measure(args.baseline, "app.py", files, tmp / "old.log") if args.baseline else {}
        head = f"{'cohort':<30} {'bytes':>11} {'now s':>7} {'peak MB':>8}"
        if old:
            head += f" {'before s':>9} {'peak MB':>8} {'now/before':>11}"
        print(head)
        for what, name, data, n in files:
            line = f"{what:<30} {len(data):>11,} {new[what][0]:>7.2f} {new[what][1]:>8.0f}"
            if old:
                line += f" {old[what][0]:>9.2f} {old[what][1]:>8.0f} {new[what][0] / old[what][0]:>11.2f}"
            print(line)
        if args.hostile:
            hostile_figures(tmp)


if __name__ == "__main__":
    main()
