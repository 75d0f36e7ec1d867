"""Start-up time: ``curakit --help`` and ``import diagnose, augment, curate`` vs an empty
interpreter and vs ``import sklearn`` (issue 13: under 0.5 s each).

Each command runs in a fresh subprocess ``--repeat`` times (default 5, interleaved so load drifts
hit all of them); the median wall time is reported, with the ratio to ``python -c pass`` and to
``python -c "import sklearn"``. Also timed: first use (``diagnose.find_slices`` and
``curate.retrain`` touched, which imports their modules) so what laziness defers is visible.

Run: ``.venv/bin/python benchmarks/bench_startup.py``. Writes benchmarks/results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

PY = sys.executable
COMMANDS = {
    "python -c pass": [PY, "-c", "pass"],
    "import sklearn": [PY, "-c", "import sklearn"],
    "import diagnose, augment, curate": [PY, "-c", "import diagnose, augment, curate"],
    "curakit --help": [PY, "-m", "curakit", "--help"],
    "curakit registry --help": [PY, "-m", "curakit", "registry", "--help"],
    "first use: diagnose.find_slices, curate.retrain": [PY, "-c", "import diagnose, curate; diagnose.find_slices; curate.retrain"],
}


def time_once(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"})
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "startup.json"))
    args = ap.parse_args()
    for cmd in COMMANDS.values():  # warm the OS file cache and .pyc files once
        time_once(cmd)
    runs: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, cmd in COMMANDS.items():
            runs[name].append(time_once(cmd))
    med = {name: statistics.median(ts) for name, ts in runs.items()}
    base, sk = med["python -c pass"], med["import sklearn"]
    rows = {
        name: {"median_s": round(m, 4), "runs_s": [round(t, 4) for t in runs[name]],
               "x_python_pass": round(m / base, 2), "x_import_sklearn": round(m / sk, 3),
               "over_python_pass_s": round(m - base, 4)}
        for name, m in med.items()
    }
    result = {
        "benchmark": "startup", "repeat": args.repeat, "target_s": 0.5,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "rows": rows,
        "meets_target": {k: rows[k]["median_s"] < 0.5 for k in ("import diagnose, augment, curate", "curakit --help")},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    width = max(map(len, rows))
    print(f"{'command':<{width}}  median s  x pass  x sklearn")
    for name, r in rows.items():
        print(f"{name:<{width}}  {r['median_s']:8.3f}  {r['x_python_pass']:6.2f}  {r['x_import_sklearn']:9.3f}")


if __name__ == "__main__":
    main()
