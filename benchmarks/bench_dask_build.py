"""Benchmark: TrainingSetBuilder on Dask (window + alpha + dedup + manifest) against Dask's own
Parquet read + write of the same data, and the pandas engine on the same machine.

    .venv/bin/python benchmarks/bench_dask_build.py --rows 2000000          # what this machine can do
    .venv/bin/python benchmarks/bench_dask_build.py --rows 50000000 --memory-limit 3GB   # the issue's size

Data: 20 columns (18 float64 features, an int64 label, a datetime64 time), 70% of the rows
"old" and 30% "new" (later), 1% exact copies of other rows; each written as a hive-partitioned
Parquet dataset (``month=YYYY-MM/part-k.parquet``, at most ``--rows-per-file`` rows a file).

Cases, each in a fresh subprocess (its own peak memory):

- ``dask_io``: ``dd.read_parquet`` + ``to_parquet`` of old and new on a ``LocalCluster`` of
  ``--workers`` worker processes (1 thread each, ``--memory-limit`` each): the reference;
- ``dask_curakit``: ``TrainingSetBuilder(old_path, new_path, ...).window(last=...).mix(alpha=0.5)
  .dedup().build(random_state=0).save(dir)`` on the same kind of cluster;
- ``pandas_curakit``: the pandas engine (read both datasets with pandas, build, save);
- ``pandas_io``: pandas read + write (the pandas engine's reference).

``--nearest N`` adds ``rehearse(n=N, how="nearest")`` to both engines' chain (results:
benchmarks/results/dask_build_nearest.json): the replay buffer of the N old rows nearest to the
new ones, partition-wise on Dask, with the pandas engine's rows.

Peak memory: a thread samples the RSS of the case's process and of every worker process
(psutil, every 50 ms). The Dask and pandas outputs are compared row id by row id.
Results: benchmarks/results/dask_build.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "dask_build.json"
FEATURES = [f"f{j}" for j in range(18)]


def make_data(n: int, folder: Path, rows_per_file: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n_old = int(n * 0.7)
    out = {"rows": n, "columns": 20, "files": {}}
    for name, lo, hi in (("old", 0, n_old), ("new", n_old, n)):
        m = hi - lo
        frame = pd.DataFrame({c: rng.normal(size=m) for c in FEATURES})
        frame["label"] = rng.integers(0, 5, size=m)
        frame["time"] = pd.Timestamp("2015-01-01") + pd.to_timedelta(np.arange(lo, hi) * 10, unit="s")
        k = m // 100
        src, dst = rng.integers(0, m, size=k), rng.integers(0, m, size=k)
        for c in [*FEATURES, "label"]:
            frame.loc[dst, c] = frame[c].to_numpy()[src]
        out[f"bytes_{name}"] = int(frame.memory_usage(deep=True).sum())
        month = (frame["time"].dt.year * 100 + frame["time"].dt.month).to_numpy()  # YYYYMM, sorted (time grows)
        files = 0
        for mon in np.unique(month):
            rows = np.flatnonzero(month == mon)
            for chunk in np.array_split(rows, max(1, -(-len(rows) // rows_per_file))):
                d = folder / name / f"month={mon // 100}-{mon % 100:02d}"
                d.mkdir(parents=True, exist_ok=True)
                frame.iloc[chunk].to_parquet(d / f"part-{files:05d}.parquet", index=False)
                files += 1
        out["files"][name] = files
        del frame
    out["bytes"] = out["bytes_old"] + out["bytes_new"]
    return out


class Peaks:
    """Peak RSS of this process and of its child processes (the Dask workers), sampled."""

    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.peak: dict[str, int] = {}
        self.run = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while self.run:
            procs = [("client", self.me)] + [(f"pid{c.pid}", c) for c in self.me.children(recursive=True)]
            for key, p in procs:
                try:
                    self.peak[key] = max(self.peak.get(key, 0), p.memory_info().rss)
                except Exception:  # noqa: BLE001 - a process that just ended
                    pass
            time.sleep(0.05)

    def stop(self) -> dict[str, int]:
        self.run = False
        self.thread.join()
        return dict(self.peak)


def _cluster(workers: int, memory_limit: str):
    import distributed

    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       memory_limit=memory_limit, dashboard_address=None)
    return cluster, distributed.Client(cluster)


def case(name: str, folder: Path, window: str, workers: int, memory_limit: str, nearest: int = 0) -> dict:
    """One case in this process (called in a subprocess by :func:`main`)."""
    import curate

    res: dict = {"phases": {}}
    t_case = time.perf_counter()
    if name.startswith("dask"):
        cluster, client = _cluster(workers, memory_limit)
        res["worker_memory_limit_bytes"] = [w["memory_limit"] for w in client.scheduler_info(n_workers=-1)["workers"].values()]
    peaks = Peaks()
    t = time.perf_counter()
    if name == "dask_io":
        import dask
        import dask.dataframe as dd

        writes = [dd.read_parquet(str(folder / s)).to_parquet(str(folder / f"io_{s}"), compute=False, write_index=False)
                  for s in ("old", "new")]
        dask.compute(*writes)
        res["phases"]["read+write"] = time.perf_counter() - t
    elif name == "pandas_io":
        for s in ("old", "new"):
            pd.read_parquet(folder / s).to_parquet(folder / f"io_{s}.parquet", index=False)
        res["phases"]["read+write"] = time.perf_counter() - t
    else:
        if name == "pandas_curakit":
            old, new = pd.read_parquet(folder / "old"), pd.read_parquet(folder / "new")
            res["phases"]["read"] = time.perf_counter() - t
            t = time.perf_counter()
        else:
            old, new = str(folder / "old"), str(folder / "new")
        b = curate.TrainingSetBuilder(old, new, target="label", time="time", features=FEATURES)
        b = b.window(last=window).mix(alpha=0.5)
        b = b.rehearse(n=nearest, how="nearest") if nearest else b
        ts = b.dedup().build(random_state=0)
        res["phases"]["build"] = time.perf_counter() - t
        del old, new, b
        t = time.perf_counter()
        ts.save(folder / f"ts_{name}")
        res["phases"]["save"] = time.perf_counter() - t
        res.update(out_rows=len(ts), dedup_removed=ts.info["dedup"]["removed"], window=ts.info["window"]["span"],
                   rehearse=ts.info["rehearse"])
    res["total_s"] = sum(res["phases"].values())
    peak = peaks.stop()
    res["peak_rss_bytes"] = peak
    if name.startswith("dask"):
        client.close()
        cluster.close()
    res["case_wall_s"] = time.perf_counter() - t_case
    res["load_avg_end"] = os.getloadavg()
    return res


def run_case(name: str, folder: Path, window: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", CURAKIT_PROGRESS="0", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, __file__, "--case", name, "--folder", str(folder), "--window", window,
           "--workers", str(args.workers), "--memory-limit", args.memory_limit, "--nearest", str(args.nearest)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"case {name} failed:\n{out.stderr[-3000:]}")
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def same_rows(folder: Path) -> bool:
    a = pd.read_parquet(folder / "ts_dask_curakit" / "manifest.parquet", columns=["row_id"])["row_id"]
    b = pd.read_parquet(folder / "ts_pandas_curakit" / "manifest.parquet", columns=["row_id"])["row_id"]
    return len(a) == len(b) and bool((a.astype(str).to_numpy() == b.astype(str).to_numpy()).all())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--rows-per-file", type=int, default=250_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="3GB")
    ap.add_argument("--skip-pandas", action="store_true", help="do not run the pandas engine (data too big)")
    ap.add_argument("--out", default=str(RESULTS), help="results JSON (default benchmarks/results/dask_build.json)")
    ap.add_argument("--nearest", type=int, default=0, help="add rehearse(n=N, how='nearest') to the chain")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--window", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        res = case(args.case, Path(args.folder), args.window, args.workers, args.memory_limit, args.nearest)
        print("RESULT " + json.dumps(res, default=str))
        return
    n = args.rows
    load_start = os.getloadavg()
    window = f"{int(n * 10 * 0.8)}s"  # the new rows and the latest ~70% of the old ones
    tmp = Path(tempfile.mkdtemp(dir=ROOT / "benchmarks", prefix=".bench_dask_build-"))
    try:
        t = time.perf_counter()
        data = make_data(n, tmp, args.rows_per_file)
        print(f"data: {n:,} rows x 20 columns, {data['bytes'] / 2**20:,.0f} MiB in memory, "
              f"{data['files']} files (generated in {time.perf_counter() - t:.1f} s)", flush=True)
        names = ["dask_io", "dask_curakit"] + ([] if args.skip_pandas else ["pandas_io", "pandas_curakit"])
        results = {}
        for name in names:
            results[name] = run_case(name, tmp, window, args)
            r = results[name]
            print(f"{name:<15} {r['total_s']:8.1f} s  phases {json.dumps({k: round(v, 1) for k, v in r['phases'].items()})}"
                  f"  peak RSS MiB {json.dumps({k: v // 2**20 for k, v in r['peak_rss_bytes'].items()})}", flush=True)
        check = None if args.skip_pandas else same_rows(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratios = {"dask_curakit_vs_dask_io": results["dask_curakit"]["total_s"] / results["dask_io"]["total_s"]}
    if not args.skip_pandas:
        ratios["pandas_curakit_vs_pandas_io"] = results["pandas_curakit"]["total_s"] / results["pandas_io"]["total_s"]
        ratios["dask_curakit_vs_pandas_curakit"] = results["dask_curakit"]["total_s"] / results["pandas_curakit"]["total_s"]
    limit = min(results["dask_curakit"]["worker_memory_limit_bytes"])
    worker_peaks = [v for k, v in results["dask_curakit"]["peak_rss_bytes"].items() if k != "client"]
    ratios["max_worker_peak_vs_limit"] = max(worker_peaks) / limit if worker_peaks else None
    print(f"dask curakit / dask read+write: {ratios['dask_curakit_vs_dask_io']:.2f}x (issue goal <= 2x); "
          f"largest process peak / worker limit: {ratios['max_worker_peak_vs_limit']:.2f}; same rows as pandas: {check}")
    out = Path(args.out if args.out != str(RESULTS) or not args.nearest else RESULTS.with_name("dask_build_nearest.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"data": data, "args": {"rows": n, "workers": args.workers, "memory_limit": args.memory_limit,
                                      "rows_per_file": args.rows_per_file, "window": window,
                                      "nearest": args.nearest},
               "results": results, "ratios": ratios, "same_rows_as_pandas": check,
               "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
                           "load_avg_at_start": load_start, "note": "2 cores shared with other jobs"}}
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
