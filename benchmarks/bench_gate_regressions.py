"""Regression search on planted harm (issue 11): how often the gate refuses a candidate retrained with one
sub-population's labels shuffled, the Jaccard of the top reported slice with the harmed eval rows, and how
often it wrongly refuses a harmless candidate (retrained on a bootstrap resample of the same data).

Real data: sklearn digits (sub-population: digit 0 rows) and breast_cancer (sub-population: the rows
with 'mean radius' above its 70th percentile). Models: scikit-learn LogisticRegression. Raw peer: a plain
paired-bootstrap gate on the whole eval set (the gate before issue 11), which never looks at regions.

    .venv/bin/python benchmarks/bench_gate_regressions.py  ->  benchmarks/results/gate_regressions.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import curate
from curate._retrain import EvalPredictions


def _data(name):
    if name == "digits":
        d = load_digits()
        return d.data, d.target, d.target == 0
    d = load_breast_cancer()
    return d.data, d.target, d.data[:, 0] > np.quantile(d.data[:, 0], 0.7)


def _fit(X, y, seed):
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=seed)).fit(X, y)


def _preds(model, X, y):
    return EvalPredictions(y_true=y, y_pred=model.predict(X), proba=None, classes=np.unique(y))


def run(seeds=range(5)) -> dict:
    out = {}
    for name in ("digits", "breast_cancer"):
        X, y, sub = _data(name)
        stats = {"refused_harmful": [], "jaccard": [], "refused_harmless": [], "plain_gate_refused_harmful": []}
        for seed in seeds:
            Xtr, Xte, ytr, yte, str_, ste = train_test_split(X, y, sub, test_size=0.4, random_state=seed, stratify=y)
            champ = _fit(Xtr, ytr, seed)
            rng = np.random.default_rng(seed)
            bad = ytr.copy()
            bad[str_] = rng.permutation(np.unique(ytr))[rng.integers(0, len(np.unique(ytr)), str_.sum())] \
                if name == "digits" else 1 - bad[str_]
            boot = rng.integers(0, len(ytr), len(ytr))
            harmful, harmless = _fit(Xtr, bad, seed), _fit(Xtr[boot], ytr[boot], seed)
            hp = _preds(champ, Xte, yte)
            gate = curate.Gate(max_drop_old=1.0, min_gain_new=-1.0, random_state=seed)
            for label, cand in (("harmful", harmful), ("harmless", harmless)):
                cp = _preds(cand, Xte, yte)
                dec = gate.evaluate({"new": cp, "old": cp}, {"new": hp, "old": hp}, features={"new": Xte})
                stats[f"refused_{label}"].append(bool(dec.regressions))
                if label == "harmful":
                    plain = curate.Gate(max_drop_old=0.01, min_gain_new=-1.0, max_slice_drop=None, random_state=seed)
                    stats["plain_gate_refused_harmful"].append(not plain.evaluate({"new": cp, "old": cp},
                                                                                  {"new": hp, "old": hp}).passed)
                    truth = set(np.flatnonzero(ste).tolist())
                    got = set(dec.regressions[0].indices.tolist()) if dec.regressions else set()
                    stats["jaccard"].append(len(got & truth) / len(got | truth) if got else 0.0)
        out[name] = {"seeds": len(list(seeds)), **{k: float(np.mean(v)) for k, v in stats.items()}}
    return out


if __name__ == "__main__":
    res = run()
    path = Path(__file__).parent / "results" / "gate_regressions.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
