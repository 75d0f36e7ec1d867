"""Benchmark: TrainingSetBuilder (window + alpha + dedup + manifest) against plain pandas Parquet I/O.

    .venv/bin/python benchmarks/bench_build.py            # 10M rows x 20 columns
    .venv/bin/python benchmarks/bench_build.py --quick    # 1M rows

Data: 20 columns (18 float64 features, an int64 label, a datetime64 time), 70% of the rows
"old" and 30% "new" (later), 1% of the rows exact copies of other rows, written as two
Parquet files. Each case runs in a fresh subprocess so its peak RSS (ru_maxrss) is its own:

- ``pandas_io``: read both files with ``pd.read_parquet`` and write them back with ``to_parquet``
  (the reference: what any pipeline touching this data pays);
- ``curakit``: read both files, ``TrainingSetBuilder(...).window(last=...).mix(alpha=0.5).dedup()
  .build()`` (manifest with row ids, origins and reasons for every row), drop the inputs, then
  ``ts.save(dir)`` (data + manifest Parquet, fingerprint, atomic).

Goals: curakit total time <= 3x pandas_io; peak RSS <= 2.5x the in-memory size of the data
(``memory_usage(deep=True)`` of old + new). Peak RSS is reported for the whole process
(``ru_maxrss``; in both cases it is set while ``pd.read_parquet`` reads) and per phase (a thread
samples /proc/self/statm every 2 ms). Wall and CPU seconds per phase: the machine is shared, so
CPU seconds are the steadier ratio. Results: benchmarks/results/build.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "build.json"


def make_data(n: int, folder: Path, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n_old = int(n * 0.7)
    parts = {}
    for name, lo, hi, off in (("old", 0, n_old, 0), ("new", n_old, n, n_old)):
        m = hi - lo
        cols = {f"f{j}": rng.normal(size=m) for j in range(18)}
        cols["label"] = rng.integers(0, 5, size=m)
        cols["time"] = pd.Timestamp("2015-01-01") + pd.to_timedelta(np.arange(off, off + m) * 10, unit="s")
        frame = pd.DataFrame(cols)
        k = m // 100  # 1% exact duplicates of earlier rows (features and label)
        src = rng.integers(0, m, size=k)
        dst = rng.integers(0, m, size=k)
        for c in [f"f{j}" for j in range(18)] + ["label"]:
            frame.loc[dst, c] = frame[c].to_numpy()[src]
        frame.to_parquet(folder / f"{name}.parquet", index=False)
        parts[name] = int(frame.memory_usage(deep=True).sum())
        del frame, cols
    return {"rows": n, "columns": 20, "bytes_old": parts["old"], "bytes_new": parts["new"],
            "bytes": parts["old"] + parts["new"]}


CASES = {
    "pandas_io": """
old = pd.read_parquet(F / "old.parquet"); new = pd.read_parquet(F / "new.parquet")
mark("read")
old.to_parquet(F / "out_old.parquet", index=False); new.to_parquet(F / "out_new.parquet", index=False)
mark("write")
""",
    "curakit": """
import curate
old = pd.read_parquet(F / "old.parquet"); new = pd.read_parquet(F / "new.parquet")
mark("read")
b = curate.TrainingSetBuilder(old, new, target="label", time="time").window(last=WINDOW).mix(alpha=0.5).dedup()
ts = b.build(random_state=0)
mark("build")
del b, old, new
ts.save(F / "ts")
mark("save")
R.update(out_rows=len(ts), dedup_removed=ts.info["dedup"]["removed"], window=ts.info["window"]["span"],
         by_origin=ts.info["counts"]["by_origin"])
""",
}

# Each case: wall and CPU seconds per phase, and the peak RSS per phase from a thread sampling
# /proc/self/statm every 2 ms (ru_maxrss gives the whole process' peak).
RUNNER = """
import json, os, resource, sys, threading, time
from pathlib import Path
import pandas as pd, pyarrow.parquet, curate  # same imports in every case: the base RSS is comparable
F = Path(sys.argv[1]); WINDOW = sys.argv[2]; R = {"phases": {}}
PAGE = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE
R["base_rss_bytes"] = rss()
state = {"peak": rss(), "run": True}
def sample():
    while state["run"]:
        state["peak"] = max(state["peak"], rss())
        time.sleep(0.002)
threading.Thread(target=sample, daemon=True).start()
last = [time.perf_counter(), time.process_time()]
def mark(name):
    now, cpu = time.perf_counter(), time.process_time()
    state["peak"] = max(state["peak"], rss())
    R["phases"][name] = {"wall_s": now - last[0], "cpu_s": cpu - last[1], "peak_rss_bytes": state["peak"]}
    state["peak"] = rss()
    last[:] = [time.perf_counter(), time.process_time()]
exec(sys.argv[3])
state["run"] = False
R["total_s"] = sum(p["wall_s"] for p in R["phases"].values())
R["total_cpu_s"] = sum(p["cpu_s"] for p in R["phases"].values())
R["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("RESULT " + json.dumps(R))
"""


def run_case(name: str, folder: Path, window: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", CURAKIT_PROGRESS="0", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", RUNNER, str(folder), window, CASES[name]], capture_output=True,
                         text=True, env=env, cwd=ROOT, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"case {name} failed:\n{out.stderr[-3000:]}")
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1M rows instead of 10M")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=1, help="runs per case (the fastest is kept)")
    args = ap.parse_args()
    n = args.rows or (1_000_000 if args.quick else 10_000_000)
    # the window covers the new rows and the latest ~70% of the old ones
    span_s = n * 10
    window = f"{int(span_s * 0.8)}s"
    with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        data = make_data(n, folder)
        print(f"data: {n:,} rows x 20 columns, {data['bytes'] / 2**20:,.0f} MiB in memory "
              f"(generated in {time.perf_counter() - t:.1f} s)")
        results = {}
        for name in CASES:
            runs = [run_case(name, folder, window) for _ in range(args.repeat)]
            results[name] = min(runs, key=lambda r: r["total_s"])
    io, ck = results["pandas_io"], results["curakit"]
    ck_p = ck["phases"]
    after_read = max(ck_p["build"]["peak_rss_bytes"], ck_p["save"]["peak_rss_bytes"])
    ratios = {
        "time_total_vs_pandas_io": ck["total_s"] / io["total_s"],
        "cpu_total_vs_pandas_io": ck["total_cpu_s"] / io["total_cpu_s"],
        "time_build_only_vs_pandas_io": ck_p["build"]["wall_s"] / io["total_s"],
        "peak_rss_vs_data": ck["peak_rss_bytes"] / data["bytes"],
        "pandas_io_peak_rss_vs_data": io["peak_rss_bytes"] / data["bytes"],
        "build_and_save_peak_rss_vs_data": after_read / data["bytes"],
        "read_peak_rss_vs_data": ck_p["read"]["peak_rss_bytes"] / data["bytes"],
        "build_and_save_peak_rss_above_imports_vs_data": (after_read - ck["base_rss_bytes"]) / data["bytes"],
        "pandas_io_peak_rss_above_imports_vs_data": (io["peak_rss_bytes"] - io["base_rss_bytes"]) / data["bytes"],
    }
    mib = 2**20
    print()
    print(f"{'case':<11}{'phase':<7}{'wall s':>8}{'cpu s':>8}{'peak RSS MiB':>14}{'peak/data':>11}"
          f"{'(peak-imports)/data':>21}")
    for name, r in results.items():
        for ph, v in r["phases"].items():
            print(f"{name:<11}{ph:<7}{v['wall_s']:>8.2f}{v['cpu_s']:>8.2f}{v['peak_rss_bytes'] / mib:>14,.0f}"
                  f"{v['peak_rss_bytes'] / data['bytes']:>11.2f}"
                  f"{(v['peak_rss_bytes'] - r['base_rss_bytes']) / data['bytes']:>21.2f}")
        print(f"{name:<11}{'total':<7}{r['total_s']:>8.2f}{r['total_cpu_s']:>8.2f}{r['peak_rss_bytes'] / mib:>14,.0f}"
              f"{r['peak_rss_bytes'] / data['bytes']:>11.2f}{(r['peak_rss_bytes'] - r['base_rss_bytes']) / data['bytes']:>21.2f}")
    print()
    print(f"time: curakit read+build+save / pandas read+write = {ratios['time_total_vs_pandas_io']:.2f}x wall, "
          f"{ratios['cpu_total_vs_pandas_io']:.2f}x CPU (goal <= 3x); build alone {ratios['time_build_only_vs_pandas_io']:.2f}x")
    print(f"memory: whole-process peak RSS / data = {ratios['peak_rss_vs_data']:.2f}x (pandas read+write: "
          f"{ratios['pandas_io_peak_rss_vs_data']:.2f}x; both peak while pandas reads Parquet); "
          f"build+save phases {ratios['build_and_save_peak_rss_vs_data']:.2f}x, "
          f"{ratios['build_and_save_peak_rss_above_imports_vs_data']:.2f}x above the imports (goal <= 2.5x); "
          f"imports alone {ck['base_rss_bytes'] / mib:,.0f} MiB")
    print(f"output: {ck['out_rows']:,} rows {ck['by_origin']}, dedup removed {ck['dedup_removed']:,}, window {ck['window']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {"data": data, "results": results, "ratios": ratios, "quick": n < 10_000_000,
               "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "load_avg": os.getloadavg()}, "pandas": pd.__version__}
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
