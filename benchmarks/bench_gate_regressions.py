"""Regression search on planted harm (issue 11), side by side with the plain gate.

A champion is trained on a small share of the training rows; two candidates are retrained on all of
them, so both are better overall: the *harmless* one on the true labels, the *harmful* one with one
sub-population's labels corrupted (better elsewhere, worse on those rows: the case the plain gate
misses). Reported over 15 seeds (0-4: those the gate was developed on, 5-14: held out, also reported apart): how often each gate refuses each candidate, and the Jaccard of the
reported regression slice (the top one, and the best-matching one) with the harmed eval rows.

Peer (raw): the plain paired-bootstrap gate, ``Gate(max_slice_drop=None)``: the gain on new and the
drop on old only (the gate before issue 11). curakit: the default ``Gate()`` (max_slice_drop=0.05)
with the regression features computed by ``curate._gate.regression_features`` (tables: the feature
columns; images: ``diagnose.embed`` of the champion). Both gates use min_gain_new=0, max_drop_old=0.01.

Real data: sklearn digits as a table (harmed: digit 0) and as 8x8 images with a small CNN (harmed:
digit 3), and breast_cancer (harmed: 'mean radius' above its 85th percentile, labels flipped). The
champion sees 5 % (tables) / 15 % (images) of the training rows.

    .venv/bin/python benchmarks/bench_gate_regressions.py  ->  benchmarks/results/gate_regressions.json
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import curate
from curate._gate import regression_features
from curate._retrain import EvalPredictions

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _preds(y, pred):
    return EvalPredictions(y_true=np.asarray(y), y_pred=np.asarray(pred), proba=None, classes=np.unique(y))


def _corrupt(y, mask, rng, flip):
    bad = y.copy()
    bad[mask] = 1 - bad[mask] if flip else rng.integers(0, int(y.max()) + 1, int(mask.sum()))
    return bad


def _tabular(name, seed):
    if name == "digits":
        d = load_digits()
        X, y, sub = d.data, d.target, d.target == 0
    else:
        d = load_breast_cancer()
        X, y, sub = d.data, d.target, d.data[:, 0] > np.quantile(d.data[:, 0], 0.85)
    Xtr, Xte, ytr, yte, s_tr, s_te = train_test_split(X, y, sub, test_size=0.4, random_state=seed, stratify=y)
    rng = np.random.default_rng(seed)
    small = rng.random(len(ytr)) < 0.05

    def fit(Xa, ya):
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=seed)).fit(Xa, ya)

    champ = fit(Xtr[small], ytr[small])
    harmful = fit(Xtr, _corrupt(ytr, s_tr, rng, flip=name != "digits"))
    harmless = fit(Xtr, ytr)
    return (_preds(yte, champ.predict(Xte)), _preds(yte, harmful.predict(Xte)), _preds(yte, harmless.predict(Xte)),
            Xte, s_te)


def _images(seed):
    import torch

    from curate._trainer import TrainConfig, fit_torch, reset_parameters
    from curate.models import SmallCNN
    from diagnose import predict_proba

    torch.set_num_threads(1)
    d = load_digits()
    images = np.round(d.images / 16.0 * 255.0).astype(np.uint8)[..., None]
    y = d.target.astype(np.int64)
    tr, te = train_test_split(np.arange(len(y)), test_size=0.4, random_state=seed, stratify=y)
    rng = np.random.default_rng(seed)
    small = tr[rng.random(len(tr)) < 0.15]

    def fit(model, idx, labels, epochs):
        fit_torch(model, images[idx], labels, config=TrainConfig(epochs=epochs, lr=1e-2, batch_size=64), seed=seed)
        return model

    champ = fit(reset_parameters(SmallCNN(num_classes=10, in_channels=1, width=8), seed), small, y[small], 6)
    import copy

    harmful = fit(copy.deepcopy(champ), tr, _corrupt(y[tr], y[tr] == 3, rng, flip=False), 4)
    harmless = fit(copy.deepcopy(champ), tr, y[tr], 4)
    pred = {k: predict_proba(m, images[te]).argmax(1) for k, m in (("c", champ), ("h", harmful), ("n", harmless))}
    feats = regression_features(champ, {"new": (images[te], y[te])})["new"]
    return _preds(y[te], pred["c"]), _preds(y[te], pred["h"]), _preds(y[te], pred["n"]), feats, y[te] == 3


def _judge(champ, cand, X, seed):
    sets_c, sets_h = {"new": cand, "old": cand}, {"new": champ, "old": champ}
    ours = curate.Gate(random_state=seed).evaluate(sets_c, sets_h, features={"new": X})
    plain = curate.Gate(max_slice_drop=None, random_state=seed).evaluate(sets_c, sets_h)
    return ours, plain


def run(seeds=range(5), groups=None) -> dict:
    """Rates over ``seeds``; ``groups`` ({name: seeds}) adds the same rates over subsets of them."""
    out = {}
    for name in ("digits", "breast_cancer", "digits_images"):
        keys = ("curakit_refused_harmful", "plain_refused_harmful", "curakit_refused_harmless",
                "plain_refused_harmless", "regressions_flag_harmful", "regressions_flag_harmless",
                "jaccard_top", "jaccard_best", "harmful_gain", "harmless_gain")
        stats: dict[str, list] = {k: [] for k in keys}
        for seed in seeds:
            champ, harmful, harmless, X, harmed = _images(seed) if name == "digits_images" else _tabular(name, seed)
            for label, cand in (("harmful", harmful), ("harmless", harmless)):
                ours, plain = _judge(champ, cand, X, seed)
                stats[f"curakit_refused_{label}"].append(not ours.passed)
                stats[f"plain_refused_{label}"].append(not plain.passed)
                stats[f"{label}_gain"].append(ours.checks["new_gain"]["observed"])
                stats[f"regressions_flag_{label}"].append(bool(ours.regressions))
                if label == "harmful":
                    truth = set(np.flatnonzero(harmed).tolist())
                    jac = [len(set(s.indices.tolist()) & truth) / len(set(s.indices.tolist()) | truth)
                           for s in ours.regressions]
                    stats["jaccard_top"].append(jac[0] if jac else 0.0)
                    stats["jaccard_best"].append(max(jac) if jac else 0.0)
        seeds = list(seeds)
        out[name] = {"seeds": len(seeds), **{k: round(float(np.mean(v)), 4) for k, v in stats.items()}}
        for group, members in (groups or {}).items():
            pick = [i for i, s in enumerate(seeds) if s in set(members)]
            out[name][group] = {"seeds": len(pick), **{k: round(float(np.mean([v[i] for i in pick])), 4)
                                                       for k, v in stats.items()}}
    return out


if __name__ == "__main__":
    # seeds 0-4: the seeds the gate was developed on; 5-14: held out (not used while the gate was developed)
    res = run(range(15), groups={"dev_seeds_0_4": range(5), "heldout_seeds_5_14": range(5, 15)})
    path = Path(__file__).parent / "results" / "gate_regressions.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
