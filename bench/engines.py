"""Which engine for the columnar pipeline (issue 15): the two steps that dominate loading a large
cohort, timed in pandas as the dashboard ran them before, in pandas on dictionary codes (what it
runs now), in Polars and in DuckDB, on the lab table of a synthetic cohort.

1. read the lab table (patient_id, date, test, value) from Parquet into memory;
2. the lowest platelet count per patient and day (the shape of `criteria._daily`, the grouping
   that every response course passes through), on what step 1 read.

Each engine runs in its own process (the peak RSS is its own); best of 3 for the times. Polars
and DuckDB are not requirements of the dashboard: install them to run this (pip install polars
duckdb); an engine that is not installed is skipped.

    python bench/engines.py [--patients 1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from pipeline import cohort_folder

ENGINES = {
    "pandas, text as objects": r"""
import pandas as pd, pyarrow.parquet as pq
def read(f): return pq.read_table(f, columns=COLS).to_pandas(date_as_object=False)
def daily(t):
    p = t[t["test"] == "PLT"]
    return p.groupby(["patient_id", "date"], sort=True)["value"].min()
""",
    "pandas on dictionary codes": r"""
import numpy as np, pandas as pd, pyarrow.parquet as pq
def read(f): return pq.read_table(f, columns=COLS, read_dictionary=["patient_id", "test"]).to_pandas(date_as_object=False)
def daily(t):
    p = t[(t["test"].cat.codes == t["test"].cat.categories.get_loc("PLT")).to_numpy()]
    key = p["patient_id"].cat.codes.to_numpy().astype(np.int64) << 32 | p["date"].to_numpy("datetime64[D]").astype(np.int64)
    return pd.Series(p["value"].to_numpy()).groupby(key, sort=True).min()
""",
    "numpy on codes, run ends": r"""
import numpy as np, pandas as pd, pyarrow.parquet as pq
def read(f): return pq.read_table(f, columns=COLS, read_dictionary=["patient_id", "test"]).to_pandas(date_as_object=False)
def daily(t):
    p = t[(t["test"].cat.codes == t["test"].cat.categories.get_loc("PLT")).to_numpy()]
    key = p["patient_id"].cat.codes.to_numpy().astype(np.int64) << 32 | p["date"].to_numpy("datetime64[D]").astype(np.int64)
    order = np.argsort(key, kind="stable")  # timsort: linear on a table already in patient and date order
    key, value = key[order], p["value"].to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return pd.Series(np.minimum.reduceat(value, starts), index=key[starts])
""",
    "polars": r"""
import polars as pl
def read(f): return pl.read_parquet(f, columns=COLS)
def daily(t):
    return t.filter(pl.col("test") == "PLT").group_by(["patient_id", "date"]).agg(pl.col("value").min()).sort(["patient_id", "date"])
""",
    "duckdb": r"""
import duckdb
con = duckdb.connect()
def read(f): return con.sql(f"select {', '.join(COLS)} from read_parquet('{f}')").fetch_arrow_table()
def daily(t):
    return con.sql("select patient_id, date, min(value) from t where test = 'PLT' group by all order by all").fetch_arrow_table()
""",
}

CHILD = r"""
import json, resource, sys, time
COLS = ["patient_id", "date", "test", "value"]
{engine}
f = sys.argv[1]
def best(fn):
    times = []
    for _ in range(3):
        t0 = time.perf_counter(); out = fn(); times.append(time.perf_counter() - t0)
    return min(times), out
read_s, t = best(lambda: read(f))
daily_s, d = best(lambda: daily(t))
print(json.dumps({{"read": read_s, "daily": daily_s, "rows": len(d),
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=1_000_000)
    args = ap.parse_args()
    labs = cohort_folder(args.patients) / "labs.parquet"
    print(f"lab table of {args.patients:,} patients ({labs.stat().st_size / 1e6:.0f} MB of Parquet)")
    print(f"{'engine':<28} {'read (s)':>9} {'daily min (s)':>14} {'peak (GB)':>10} {'groups':>12}")
    for name, code in ENGINES.items():
        out = subprocess.run([sys.executable, "-c", CHILD.format(engine=code), str(labs)], capture_output=True, text=True)
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["failed"])[-1]
            print(f"{name:<28} skipped: {last[:90]}")
            continue
        m = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:<28} {m['read']:>9.2f} {m['daily']:>14.2f} {m['peak_gb']:>10.2f} {m['rows']:>12,}")
    print("read = the four lab columns from Parquet into memory; daily min = the lowest PLT value per patient "
          "and day, sorted; best of 3 each; peak = the process's maximum RSS.")


if __name__ == "__main__":
    main()
