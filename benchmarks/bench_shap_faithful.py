"""Faithfulness of diagnose.explain (issue 10, item 3).

breast_cancer (first 8 features) + a 3-level 'sex' column; label either independent of sex or
flipped when sex == 1. For each model: additivity error of diagnose.explain vs raw
shap.TreeExplainer (where it applies), whether the top SHAP feature is among the top 3 of
sklearn permutation importance, and the sensitive flag. Models: random forest, gradient boosting,
HistGradientBoosting with native categoricals, a one-hot pipeline, and a small torch MLP (wrapped
with predict_proba, as a user would hand a torch tabular model to explain).
"""
import json
import sys
import time

import numpy as np
import shap
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.inspection import permutation_importance
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import diagnose


class TorchMLP(ClassifierMixin, BaseEstimator):
    """A two-layer torch MLP on standardised numeric columns, with the scikit-learn surface explain needs."""

    def __init__(self, steps=300, random_state=0):
        self.steps, self.random_state = steps, random_state

    def _tensor(self, X):
        import torch

        return torch.tensor(((np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_), dtype=torch.float32)

    def fit(self, X, y):
        import torch

        torch.manual_seed(self.random_state)
        A = np.asarray(X, dtype=np.float64)
        self.mean_, self.scale_ = A.mean(0), A.std(0) + 1e-9
        self.classes_ = np.unique(y)
        self.net_ = torch.nn.Sequential(torch.nn.Linear(A.shape[1], 32), torch.nn.ReLU(), torch.nn.Linear(32, len(self.classes_)))
        opt = torch.optim.Adam(self.net_.parameters(), lr=1e-2)
        Xt, yt = self._tensor(A), torch.tensor(np.searchsorted(self.classes_, y), dtype=torch.long)
        for _ in range(self.steps):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(self.net_(Xt), yt).backward()
            opt.step()
        return self

    def predict_proba(self, X):
        import torch

        with torch.no_grad():
            return torch.softmax(self.net_(self._tensor(X)), 1).double().numpy()

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(1)]


X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X = X.iloc[:, :8].copy()
y = y.to_numpy()
X["sex"] = np.random.default_rng(0).integers(0, 3, len(X))
rows = []
for label in ("independent", "depends"):
    yy = y if label == "independent" else np.where(X["sex"] == 1, 1 - y, y)
    Xp = X.assign(sex=X["sex"].map({0: "f", 1: "m", 2: "x"}))
    models = {
        "random_forest": (RandomForestClassifier(50, random_state=0), X),
        "gradient_boosting": (GradientBoostingClassifier(random_state=0), X),
        "hgb_native_categorical": (HistGradientBoostingClassifier(categorical_features=["sex"], max_iter=100, random_state=0), X),
        "pipeline_onehot_rf": (make_pipeline(ColumnTransformer([("c", OneHotEncoder(), ["sex"])], remainder="passthrough"),
                                             RandomForestClassifier(50, random_state=0)), Xp),
        "torch_mlp": (TorchMLP(random_state=0), X),
    }
    for name, (m, XX) in models.items():
        m.fit(XX, yy)
        raw_err = None
        try:
            t = shap.TreeExplainer(m)
            v = np.asarray(t.shap_values(XX, check_additivity=False))
            out = m.decision_function(XX) if hasattr(m, "decision_function") else m.predict_proba(XX)[:, 1]
            vv = v[..., 1] if v.ndim == 3 else v
            ev = np.asarray(t.expected_value).reshape(-1)[-1]
            raw_err = float(np.abs(vv.sum(1) + ev - out).max())
        except Exception:
            pass
        t0 = time.perf_counter()
        rep = diagnose.explain(m, XX, sensitive="sex", max_rows=200, random_state=0)
        secs = time.perf_counter() - t0
        pi = permutation_importance(m, XX, yy, n_repeats=5, random_state=0)
        top_pi = list(XX.columns[np.argsort(-pi.importances_mean)][:3])
        top_shap = rep.to_frame()["feature"].iloc[0]
        s = rep.sensitive_frame().set_index("feature").loc["sex"]
        rows.append(dict(label=label, model=name, explainer=rep.explainer, reason=rep.explainer_reason,
                         additivity_error=rep.additivity_error, raw_tree_additivity_error=raw_err,
                         top_shap=top_shap, top3_permutation=top_pi, top_agrees=top_shap in top_pi,
                         sex_share=float(s["share"]), sex_rank=int(s["rank"]), sex_effect=float(s["effect_share"]),
                         sex_flagged=bool(s["flagged"]), explain_s=round(secs, 2)))
        print(json.dumps(rows[-1]), flush=True)
json.dump(rows, open(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/shap_faithful.json", "w"), indent=1)
