"""How well the cheap fill estimate (``curate.estimate_fill_value``) predicts a full retrain (issue 11.3).

    .venv/bin/python benchmarks/bench_fill_value.py [--seeds 5] [--quick]

Each case holds back most rows of one *thin* class from the old data (4 old rows), gives the new data a
fifth of them, and offers five fills, each scored twice: by the estimate (a logistic-regression head on
the incumbent's frozen features, cross-fitted on old and new, with paired 95% bootstrap intervals) and
by a **full retrain** on old + new (+ the fill), scored on held-out test rows (paired 95% bootstrap
interval of the difference against the same retrain without the fill):

* ``real_thin``: real rows of the thin class (should help the thin class);
* ``mislabelled``: the same rows labelled as another class (should hurt the thin class);
* ``duplicates``: each new thin row three times (parents given: kept out of the folds that score them);
* ``off_target``: copies of new rows of the other classes (parents given; little effect expected);
* ``relabel_old``: copies of the old rows of one class labelled as another (parents ``("old", positions)``,
  as ``tests/curate/test_fill_value.py``'s zeros labelled 6): should make the model *forget* that class.

Compared per fill: gain on all test rows (estimate: all new rows), gain on the thin class, and forgetting
(estimate: all old rows; retrain: the test rows of the other classes, the old data's population), and the
estimate's ``harmful`` flag (``FillValue.harmful(max_forgetting=0.02)``) against a retrain that is clearly
harmful (its interval on all rows below 0, or its forgetting interval above 0.02). Agreement:

* **sign agreement** on the fills whose retrain interval excludes 0 (a clear measured effect);
* **coverage**: the share of fills whose measured difference lies inside the estimate's 95% interval
  (the estimate's interval does not include the retrain's own seed noise, so this is a harsh test);
* **Spearman** rank correlation of estimate and measurement over fills x seeds;
* **wrong**: every (fill, seed, region) where the estimate's interval excludes 0 on the side opposite to
  a clear measured effect, and every harmful flag the retrain contradicts.

Models: logistic regression and a random forest on sklearn digits (64 pixel columns) and breast_cancer;
``curate.models.SmallCNN`` on the digits 8x8 images (the full retrain: the incumbent trained on for 4
epochs on old + new (+ fill)). Writes benchmarks/results/fill_value.json. Real data only; figures differ
across CPUs (the CNN's floats), the seeds fix everything else.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("CURAKIT_PROGRESS", "0")

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curate import estimate_fill_value  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
MAX_FORGETTING = 0.02
REGIONS = ("all", "thin", "forgetting")


def _paired(with_ok: np.ndarray, without_ok: np.ndarray, seed: int, n_bootstrap: int = 1000) -> list[float]:
    """[observed, low, high] of mean(with_ok - without_ok), paired bootstrap 95%."""
    diff = with_ok.astype(np.float64) - without_ok.astype(np.float64)
    rng = np.random.default_rng(seed)
    boot = diff[rng.integers(0, len(diff), size=(n_bootstrap, len(diff)))].mean(1)
    return [float(diff.mean()), float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))]


def _split(y: np.ndarray, thin: int, seed: int) -> dict[str, np.ndarray]:
    """Positions of old (4 thin rows), new (a fifth of the thin rows), the thin pool and the test rows."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))
    th, rest = idx[y[idx] == thin], idx[y[idx] != thin]
    n_th, k = len(th), int(0.6 * len(rest))
    return {"old": np.concatenate([rest[: k // 2], th[:4]]), "new": np.concatenate([rest[k // 2: k], th[4: 4 + n_th // 5]]),
            "pool": th[4 + n_th // 5: 4 + 3 * n_th // 5], "test": np.concatenate([rest[k:], th[4 + 3 * n_th // 5:]]),
            "n_other_new": np.asarray(k - k // 2)}


def _fill_positions(y: np.ndarray, parts: dict[str, np.ndarray], thin: int, wrong: int, seed: int) -> dict:
    """{fill: (rows of the data, labels, parents for the estimate or None)}."""
    new_thin = np.flatnonzero(y[parts["new"]] == thin)
    n_pool = len(parts["pool"])
    off = np.arange(min(n_pool, int(parts["n_other_new"])))  # positions in new of other-class rows
    old_y = y[parts["old"]]
    # an old class relabelled: one neither thin nor the wrong label (binary data: the wrong label's class,
    # labelled thin), at most as many rows as the thin pool
    others = [c for c in np.unique(old_y) if c not in (thin, wrong)]
    victim = others[0] if others else wrong
    target = wrong if victim != wrong else thin
    old_pos = np.flatnonzero(old_y == victim)[:n_pool]
    return {"real_thin": (parts["pool"], y[parts["pool"]], None),
            "mislabelled": (parts["pool"], np.full(n_pool, wrong), None),
            "duplicates": (parts["new"][np.repeat(new_thin, 3)], y[parts["new"][np.repeat(new_thin, 3)]],
                           np.repeat(new_thin, 3)),
            "off_target": (parts["new"][off], y[parts["new"][off]], off),
            "relabel_old": (parts["old"][old_pos], np.full(len(old_pos), target), ("old", old_pos))}


def _estimate_row(est, name: str, thin: int) -> dict[str, list[float]]:
    frame = est.to_frame().set_index(["fill", "slice"])
    old = est.old_frame().set_index(["fill", "slice"]).loc[(name, "all")]
    row = {}
    for region, key in (("all", "all"), ("thin", f"class={thin}")):
        r = frame.loc[(name, key)]
        row[region] = [float(r["gain"]), float(r["low"]), float(r["high"])]
    row["forgetting"] = [-float(old["gain"]), -float(old["high"]), -float(old["low"])]
    return row


def _measured(with_ok: np.ndarray, base_ok: np.ndarray, thin_test: np.ndarray, seed: int) -> dict[str, list[float]]:
    gain_other = _paired(with_ok[~thin_test], base_ok[~thin_test], seed + 2)
    return {"all": _paired(with_ok, base_ok, seed), "thin": _paired(with_ok[thin_test], base_ok[thin_test], seed + 1),
            "forgetting": [-gain_other[0], -gain_other[2], -gain_other[1]]}


def _clearly_harmful(m: dict[str, list[float]]) -> bool:
    return bool(m["all"][2] < 0 or m["forgetting"][1] > MAX_FORGETTING)


def _table_case(X: pd.DataFrame, y: np.ndarray, thin: int, wrong: int, seed: int) -> dict:
    from sklearn.base import clone
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    parts = _split(y, thin, seed)
    fills = _fill_positions(y, parts, thin, wrong, seed)

    def frame(ix, label=None):
        f = X.iloc[ix].reset_index(drop=True)
        f["y"] = y[ix] if label is None else label
        return f

    old, new, test = frame(parts["old"]), frame(parts["new"]), frame(parts["test"])
    cols = [c for c in old.columns if c != "y"]
    thin_test = test["y"].to_numpy() == thin
    models = {"logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)),
              "forest": RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)}
    out = {}
    for mname, model in models.items():
        incumbent = clone(model).fit(old[cols], old["y"])
        t0 = time.perf_counter()
        est = estimate_fill_value(incumbent, old, new, {k: frame(v[0], v[1]) for k, v in fills.items()}, target="y",
                                  parents={k: v[2] for k, v in fills.items() if v[2] is not None}, random_state=seed)
        est_s = time.perf_counter() - t0

        def full(extra=None, model=model):
            tr = pd.concat([old, new, *([extra] if extra is not None else [])], ignore_index=True)
            return clone(model).fit(tr[cols], tr["y"]).predict(test[cols]) == test["y"].to_numpy()

        t0 = time.perf_counter()
        base = full()
        rows = {name: {"estimate": _estimate_row(est, name, thin), "harmful_estimate": est.harmful(name, MAX_FORGETTING),
                       "measured": _measured(full(frame(v[0], v[1])), base, thin_test, seed), "n_fill": len(v[0])}
                for name, v in fills.items()}
        out[mname] = {"fills": rows, "estimate_s": est_s, "retrain_s": time.perf_counter() - t0}
    return out


def _image_case(seed: int, epochs: int = 4) -> dict:
    import torch
    from sklearn.datasets import load_digits

    from curakit.adapters import predict_proba
    from curate._trainer import TrainConfig, fit_torch, reset_parameters
    from curate.models import SmallCNN

    torch.set_num_threads(1)
    d = load_digits()
    images, y = np.round(d.images / 16.0 * 255.0).astype(np.uint8)[..., None], d.target.astype(np.int64)
    parts = _split(y, 3, seed)
    fills = _fill_positions(y, parts, 3, 8, seed)
    cfg = TrainConfig(epochs=epochs, lr=1e-2, batch_size=64)
    incumbent = reset_parameters(SmallCNN(num_classes=10, in_channels=1, width=8), seed)
    fit_torch(incumbent, images[parts["old"]], y[parts["old"]], config=cfg, seed=seed)
    t0 = time.perf_counter()
    est = estimate_fill_value(incumbent, (images[parts["old"]], y[parts["old"]]), (images[parts["new"]], y[parts["new"]]),
                              {k: (images[v[0]], v[1]) for k, v in fills.items()},
                              parents={k: v[2] for k, v in fills.items() if v[2] is not None}, random_state=seed)
    est_s = time.perf_counter() - t0
    test = parts["test"]
    thin_test = y[test] == 3

    def full(extra=None):
        xs = [images[parts["old"]], images[parts["new"]]] + ([images[extra[0]]] if extra else [])
        ys = [y[parts["old"]], y[parts["new"]]] + ([extra[1]] if extra else [])
        model = copy.deepcopy(incumbent)
        fit_torch(model, np.concatenate(xs), np.concatenate(ys), config=cfg, seed=seed)
        return predict_proba(model, images[test]).argmax(1) == y[test]

    t0 = time.perf_counter()
    base = full()
    rows = {name: {"estimate": _estimate_row(est, name, 3), "harmful_estimate": est.harmful(name, MAX_FORGETTING),
                   "measured": _measured(full(v), base, thin_test, seed), "n_fill": len(v[0])}
            for name, v in fills.items()}
    return {"smallcnn": {"fills": rows, "estimate_s": est_s, "retrain_s": time.perf_counter() - t0}}


def _summary(runs: list[dict], mname: str) -> dict:
    """Agreement of estimate and retrain over fills x seeds, per region; the harmful flag; the wrong cases."""
    from scipy.stats import spearmanr

    rows = [(seed, fill, r) for seed, run in enumerate(runs) for fill, r in run[mname]["fills"].items()]
    out: dict = {"n": len(rows), "wrong": []}
    for region in REGIONS:
        est = np.array([r["estimate"][region] for _, _, r in rows])
        mea = np.array([r["measured"][region] for _, _, r in rows])
        clear = (mea[:, 1] > 0) | (mea[:, 2] < 0)
        sign_ok = np.sign(est[:, 0]) == np.sign(mea[:, 0])
        covered = (est[:, 1] <= mea[:, 0]) & (mea[:, 0] <= est[:, 2])
        opposite = clear & (((est[:, 1] > 0) & (mea[:, 2] < 0)) | ((est[:, 2] < 0) & (mea[:, 1] > 0)))
        rho = spearmanr(est[:, 0], mea[:, 0]).statistic if np.ptp(est[:, 0]) and np.ptp(mea[:, 0]) else float("nan")
        out[region] = {"clear_measured": int(clear.sum()),
                       "sign_agreement_clear": float(sign_ok[clear].mean()) if clear.any() else None,
                       "coverage": float(covered.mean()), "spearman": float(rho),
                       "estimate_interval_excludes_0": int(((est[:, 1] > 0) | (est[:, 2] < 0)).sum()),
                       "opposite_clear": int(opposite.sum()),
                       "per_fill": {f: {"estimate_mean": float(np.mean([r["estimate"][region][0] for _, g, r in rows if g == f])),
                                        "measured_mean": float(np.mean([r["measured"][region][0] for _, g, r in rows if g == f]))}
                                    for f in dict.fromkeys(g for _, g, _ in rows)}}
        out["wrong"] += [{"seed": s, "fill": f, "region": region, "estimate": r["estimate"][region],
                          "measured": r["measured"][region]}
                         for (s, f, r), bad in zip(rows, opposite) if bad]
    flag = np.array([r["harmful_estimate"] for _, _, r in rows])
    truth = np.array([_clearly_harmful(r["measured"]) for _, _, r in rows])
    out["harmful"] = {"flagged": int(flag.sum()), "measured_harmful": int(truth.sum()),
                      "true_positive": int((flag & truth).sum()), "false_positive": int((flag & ~truth).sum()),
                      "false_negative": int((~flag & truth).sum())}
    out["wrong"] += [{"seed": s, "fill": f, "region": "harmful flag", "estimate": bool(a), "measured": bool(b)}
                     for (s, f, _), a, b in zip(rows, flag, truth) if a != b]
    out["estimate_s"] = float(np.mean([run[mname]["estimate_s"] for run in runs]))
    out["retrain_s"] = float(np.mean([run[mname]["retrain_s"] for run in runs]))
    return out


def _figure(report: dict, path: Path) -> None:
    """Estimate (x, 95% interval) against the retrain (y, 95% interval) per case x model and region."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [(c, m) for c, v in report["cases"].items() for m in v["summary"]]
    fig, axes = plt.subplots(len(keys), len(REGIONS), figsize=(4 * len(REGIONS), 3.2 * len(keys)), squeeze=False)
    colours = dict(zip(("real_thin", "mislabelled", "duplicates", "off_target", "relabel_old"),
                       ("tab:green", "tab:red", "tab:blue", "tab:grey", "tab:orange")))
    for i, (case, mname) in enumerate(keys):
        for j, region in enumerate(REGIONS):
            ax = axes[i][j]
            for run in report["cases"][case]["per_seed"]:
                for fill, r in run[mname]["fills"].items():
                    e, m = r["estimate"][region], r["measured"][region]
                    ax.errorbar(e[0], m[0], xerr=[[e[0] - e[1]], [e[2] - e[0]]], yerr=[[m[0] - m[1]], [m[2] - m[0]]],
                                fmt="o", ms=3, lw=0.6, color=colours.get(fill, "k"), label=fill)
            lim = ax.get_xlim() + ax.get_ylim()
            lo, hi = min(lim), max(lim)
            ax.plot([lo, hi], [lo, hi], "k:", lw=0.6)
            ax.axhline(0, color="k", lw=0.4)
            ax.axvline(0, color="k", lw=0.4)
            ax.set_title(f"{case.split(' ')[0]} / {mname}: {region}", fontsize=8)
            ax.set_xlabel("estimate", fontsize=7)
            ax.set_ylabel("full retrain", fontsize=7)
            ax.tick_params(labelsize=6)
    handles, labels = axes[0][0].get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    fig.legend(uniq.values(), uniq.keys(), loc="upper center", ncol=len(uniq), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one seed, the table cases only")
    ap.add_argument("--figure", default=None, help="also write a PNG of estimate vs retrain here")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from sklearn.datasets import load_breast_cancer, load_digits

    seeds = 1 if args.quick else args.seeds
    digits, cancer = load_digits(as_frame=True), load_breast_cancer(as_frame=True)
    cases = {"digits (thin: 3, wrong label 8)": lambda s: _table_case(digits.data, digits.target.to_numpy(), 3, 8, s),
             "breast_cancer (thin: malignant)": lambda s: _table_case(cancer.data, cancer.target.to_numpy(), 0, 1, s)}
    if not args.quick:
        cases["digits images (thin: 3, wrong label 8)"] = _image_case
    t0, load0 = time.perf_counter(), os.getloadavg()
    report: dict = {"seeds": seeds, "max_forgetting": MAX_FORGETTING, "cases": {}}
    for cname, fn in cases.items():
        runs = []
        for seed in range(seeds):
            runs.append(fn(seed))
            print(f"{cname} seed {seed} ({time.perf_counter() - t0:.0f} s)", flush=True)
        report["cases"][cname] = {"per_seed": runs, "summary": {m: _summary(runs, m) for m in runs[0]}}
        for mname, s in report["cases"][cname]["summary"].items():
            print(f"  {mname}: " + "; ".join(
                f"{r} sign {s[r]['sign_agreement_clear']} of {s[r]['clear_measured']} clear, coverage "
                f"{s[r]['coverage']:.2f}, rho {s[r]['spearman']:.2f}, opposite {s[r]['opposite_clear']}" for r in REGIONS)
                + f"; harmful {s['harmful']}; estimate {s['estimate_s']:.2f} s vs 6 retrains {s['retrain_s']:.2f} s",
                flush=True)
    report.update(wall_s=time.perf_counter() - t0, loadavg_start=list(load0), loadavg_end=list(os.getloadavg()))
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "fill_value.json").write_text(json.dumps(report, indent=2, sort_keys=True, default=float))
    if args.figure:
        _figure(report, Path(args.figure))
    print(f"wall {report['wall_s']:.0f} s, load {load0} -> {os.getloadavg()}")


if __name__ == "__main__":
    main()
