"""Offline augmentation on a Dask cluster vs a bare albumentations loop in one process (issue 15).

Parents: 400 real 32x32 RGB tiles of scikit-learn's sample photos, written as PNG files.
Pipeline: flip, affine, brightness/contrast. Every row writes one PNG file per new image:

* bare: one process reads the parents once, then ``pipeline(image=...)``, ``cv2.imencode`` and a
  file write per image (no seeds, no parameters, no manifest, no atomic rename);
* ``augment.offline(out_dir=...)`` in one process (``n_jobs=1``);
* ``augment.offline(client=..., out_dir=...)`` on a ``LocalCluster`` of 1 and of 2 worker
  processes (one thread each), shards of 1,000 images: each shard reads its parents, writes
  its PNGs and a manifest part. The cluster's start (worker processes importing
  albumentations) is reported apart, not in the rows. A last row runs 2 workers with Dask's
  statistical profiler off (``distributed.worker.profile.enabled: false``; it samples the task
  thread's stack every 10 ms, a cost for many small Python calls).

The issue asks for 200,000 images; ``--n`` sets the count (the figures in
benchmarks/results/dask_augment.json say which was run). The machine is shared (2 cores), so
two workers cannot exceed the 2-process ceiling measured here. Run:
``.venv/bin/python benchmarks/bench_dask_augment.py --n 20000`` (results in
``dask_augment_<n>.json``; the issue's 200,000 in ``dask_augment.json``). ``os.getloadavg()`` is
recorded after every row: other work on the machine slows every row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import albumentations as A
import cv2
import numpy as np
from sklearn.datasets import load_sample_images

import augment
from curakit.imageio import read_png, write_png


def pipeline() -> A.Compose:
    return A.Compose([A.HorizontalFlip(p=0.5), A.Affine(rotate=(-15, 15), p=0.7), A.RandomBrightnessContrast(p=0.8)])


def parents(folder: Path, size: int = 32, limit: int = 400) -> tuple[list[str], np.ndarray]:
    tiles = []
    for img in load_sample_images().images:
        h, w = img.shape[:2]
        tiles += [img[i : i + size, j : j + size] for i in range(0, h - size + 1, size) for j in range(0, w - size + 1, size)]
    folder.mkdir(parents=True, exist_ok=True)
    paths = [str(write_png(folder / f"p{k:04d}.png", np.ascontiguousarray(t))) for k, t in enumerate(tiles[:limit])]
    return paths, np.arange(len(paths)) % 10


def bare(paths: list[str], n: int, out: Path) -> None:
    pipe = pipeline()
    images = [read_png(p) for p in paths]
    out.mkdir(parents=True)
    for k in range(n):
        img = pipe(image=images[k % len(images)])["image"]
        ok, buf = cv2.imencode(".png", img[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 1])
        (out / f"{k}.png").write_bytes(buf.tobytes())


def _burn(n: int) -> int:
    s = 0
    for i in range(n):
        s += i * i
    return s


def ceiling() -> float:
    import multiprocessing as mp

    times = []
    for workers in (1, 2):
        with mp.get_context("fork").Pool(workers) as pool:
            t = time.perf_counter()
            pool.map(_burn, [5_000_000, 5_000_000])
            times.append(time.perf_counter() - t)
    return times[0] / times[1]


def _worker_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _dask_row(paths, labels, n: int, workers: int, profiler: bool, shard_size: int, out: Path) -> dict:
    """One LocalCluster row: seconds, cluster start, CPU seconds (this process: client, scheduler and
    nannies; plus every worker process, all their threads: task, event loop, profiler)."""
    import dask
    from distributed import Client, LocalCluster

    t = time.perf_counter()
    with dask.config.set({"distributed.worker.profile.enabled": profiler}), LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, memory_limit="3GB",
            dashboard_address=":0") as cluster, Client(cluster) as client:
        client.run(lambda: __import__("albumentations") and None)  # workers import it once
        start = time.perf_counter() - t
        assert all(client.run(lambda: dask.config.get("distributed.worker.profile.enabled")).values()) == profiler
        before, here = client.run(_worker_cpu), time.process_time()
        t = time.perf_counter()
        augment.offline(paths, labels, pipeline(), n=n, client=client, out_dir=out, shard_size=shard_size,
                        progress=False)
        seconds = time.perf_counter() - t
        after, here = client.run(_worker_cpu), time.process_time() - here
    shutil.rmtree(out)
    workers_cpu = sum(after[w] - before[w] for w in before)
    return {"seconds": seconds, "start_s": start, "cpu_s": workers_cpu + here, "cpu_workers_s": workers_cpu,
            "cpu_client_scheduler_nannies_s": here}


def _timed(fn) -> dict:
    t, c = time.perf_counter(), time.process_time()
    fn()
    return {"seconds": time.perf_counter() - t, "cpu_s": time.process_time() - c}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--shard-size", type=int, default=1000)
    ap.add_argument("--extra-shard-sizes", default="",
                    help="comma list: more 2-worker rows (profiler off) with these shard sizes, e.g. 250,4000")
    ap.add_argument("--skip-profiler-row", action="store_true",
                    help="skip the 2-worker row with Dask's statistical profiler off (distributed.worker.profile)")
    ap.add_argument("--tag", default="", help="suffix of the result file name")
    ap.add_argument("--configs", default="",
                    help="instead of the default cluster rows: a comma list of WORKERS:on|off[:SHARD] "
                         "(profiler on/off), run in this order, e.g. 2:on,2:off,2:on,2:off (an A/B, interleaved)")
    args = ap.parse_args()
    cv2.setNumThreads(1)

    tmp = Path(tempfile.mkdtemp(prefix="bench-dask-augment-"))
    rows, loads = {}, {"start": os.getloadavg()}
    configs = [(1, True, args.shard_size), (2, True, args.shard_size)]
    if not args.skip_profiler_row:
        configs += [(1, False, args.shard_size), (2, False, args.shard_size)]
    configs += [(2, False, int(k)) for k in args.extra_shard_sizes.split(",") if k.strip()]
    if args.configs:
        configs = [(int(c.split(":")[0]), c.split(":")[1] == "on", int((c.split(":") + [args.shard_size])[2]))
                   for c in args.configs.split(",")]
    try:
        paths, labels = parents(tmp / "parents")
        rows["bare albumentations + PNG files (1 process)"] = _timed(lambda: bare(paths, args.n, tmp / "bare"))
        loads["after bare"] = os.getloadavg()
        shutil.rmtree(tmp / "bare")
        rows["augment.offline(out_dir) n_jobs=1"] = _timed(lambda: augment.offline(
            paths, labels, pipeline(), n=args.n, out_dir=tmp / "local", progress=False))
        loads["after offline n_jobs=1"] = os.getloadavg()
        shutil.rmtree(tmp / "local")
        for workers, profiler, shard in configs:
            name = (f"augment.offline(client=) {workers} worker(s)" + ("" if profiler else ", Dask's profiler off")
                    + ("" if shard == args.shard_size else f", shards of {shard}"))
            name += f" #{sum(k.startswith(name) for k in rows) + 1}" if args.configs else ""
            rows[name] = _dask_row(paths, labels, args.n, workers, profiler, shard, tmp / "dask")
            loads[f"after {name}"] = os.getloadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _report(args, rows, loads)


def _report(args, rows: dict, loads: dict) -> None:
    base, base_cpu = rows["bare albumentations + PNG files (1 process)"]["seconds"], rows[
        "bare albumentations + PNG files (1 process)"]["cpu_s"]
    ceil = ceiling()
    print(f"{args.n} new 32x32 images; {os.cpu_count()} cores (shared); 2-process ceiling {ceil:.2f}x; "
          f"loadavg now {os.getloadavg()[0]:.1f}")
    print(f"{'run':<78}{'seconds':>9}{'vs bare':>9}{'CPU s':>8}{'CPU vs bare':>12}")
    for name, r in rows.items():
        split = (f"  (workers {r['cpu_workers_s']:.2f} + client/scheduler/nannies "
                 f"{r['cpu_client_scheduler_nannies_s']:.2f})" if "cpu_workers_s" in r else "")
        print(f"{name:<78}{r['seconds']:>9.2f}{base / r['seconds']:>8.2f}x{r['cpu_s']:>8.2f}"
              f"{base_cpu / r['cpu_s']:>11.2f}x{split}")
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other work)",
        "n_images": args.n,
        "issue_asks": 200_000,
        "image_shape": [32, 32, 3],
        "shard_size": args.shard_size,
        "rows": [{"run": k, **v, "images_per_s": args.n / v["seconds"], "throughput_vs_bare": base / v["seconds"],
                  "cpu_vs_bare": base_cpu / v["cpu_s"]} for k, v in rows.items()],
        "cpu_note": "cpu_s: CPU seconds of every process of the row (user + system, all threads); "
                    "cpu_vs_bare = bare CPU / row CPU: what the row costs, whatever else runs on the machine",
        "two_process_ceiling": ceil,
        "loadavg_1_5_15min": loads,
        "when_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }
    name = "dask_augment.json" if args.n == 200_000 else f"dask_augment_{args.n}{args.tag}.json"
    out = Path(__file__).resolve().parent / "results" / name
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
