"""Synthetic rows for thin slices from a conditional VAE, with lineage and a quality check.

:func:`generate` fits a :class:`~augment._vae_generator.VAEGenerator` on the whole pool
(conditioned on the class), then for each selected group draws latent codes around the
encodings of the group's members (``mu(parent) + temperature * eps``). Before anything is
returned every candidate passes

* the copy guard: refused when closer (in the generator's input space) to a real pool row, or
  to any ``exclude=`` row, than ``copy_quantile`` of the real rows are to their nearest real
  neighbour (``match="near-copy"``);
* label consistency: ``incumbent.predict`` (or a logistic regression fitted on the real pool)
  must give the intended label, the parent's (``match="label"``);

refused candidates are replaced from further seeds (up to 4 rounds). The accepted rows are
compared with the real members by a classifier two-sample test (cross-validated logistic
regression AUC, bootstrap 90% interval), reported in ``manifest.attrs["quality"]``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.seeds import child_seed, resolve_seed

from ._leakage import REFUSED_COLUMNS
from ._offline import MANIFEST_COLUMNS, AugmentedSet
from ._select import resolve_groups
from ._vae_generator import VAEGenerator
from ._vae_models import check_device, check_vae_sizes

__all__ = ["generate"]

logger = logging.getLogger(__name__)

_OWNER = "augment.generate"
_MIN_MEMBERS = 2
_ROUNDS = 4


def generate(data: Any, labels: Any, *, select: Any = None, n: int = 100, method: str = "vae",
             temperature: float = 1.0, exclude: Any = None, incumbent: Any = None, generator: VAEGenerator | None = None,
             copy_quantile: float = 0.05, clip: bool = True, random_state: int = 0, device: str = "cpu",
             epochs: int = 200, latent_dim: int = 8, condition: str = "class") -> Any:
    """``n`` new rows per selected group: ``(X2, y2, provenance)`` for a table, an AugmentedSet for images.

    ``condition="class"`` conditions the VAE on the class; ``"class+slice"`` on the class and on
    membership of the selected rows (the generator learns what sets the slice apart; each row's
    conditioning code is recorded in its params as ``cond`` so ``replay`` needs no membership).
    """
    if method != "vae":
        raise ParameterError(f"{_OWNER} supports method='vae'. Got {method!r} instead. Use augment.oversample for SMOTE.")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ParameterError(f"The 'n' parameter of {_OWNER} must be a positive int. Got {n!r} instead. Ask for n >= 1 rows.")
    if not (isinstance(temperature, (int, float)) and temperature >= 0):
        raise ParameterError(f"The 'temperature' parameter of {_OWNER} must be a float >= 0. Got {temperature!r} instead.")
    seed = resolve_seed(random_state, _OWNER)
    if generator is None:  # the VAE's sizes and device, before any work
        sizes = check_vae_sizes(_OWNER, epochs=epochs, latent_dim=latent_dim)
        epochs, latent_dim = sizes["epochs"], sizes["latent_dim"]
        device = check_device(device, _OWNER)
    data, kind = _check_data(data)
    from curakit.validation import check_labels

    labels = check_labels(labels, "labels", _OWNER)  # 1-d, no NaN / None, one kind
    if labels.ndim != 1 or len(labels) != len(data):
        raise DataError(f"{_OWNER} got {len(data)} rows but labels shaped {labels.shape}. Pass one label per row.")
    groups = resolve_groups(select, len(data), labels=labels, features=data if kind == "table" else None,
                            param="select", owner=_OWNER)
    for g in groups:
        if len(g.positions) < _MIN_MEMBERS:
            raise DataError(f"The selection {g.id!r} has {len(g.positions)} member(s); {_OWNER} needs at least "
                            f"{_MIN_MEMBERS}. Widen the slice, or use augment.offline / oversample for it.")
    cond = _conditions(labels, groups, condition, generator)
    if generator is None:
        generator = VAEGenerator.fit(data, cond, kind=kind, random_state=seed, latent_dim=latent_dim, epochs=epochs,
                                     device=device)
        generator.config["condition"] = condition
    checks = _Checks(generator, data, labels, exclude, incumbent, copy_quantile, seed)
    parts = [_fill_group(generator, checks, data, (labels, cond), g, int(n), float(temperature), clip, seed)
             for g in groups]
    return _assemble(kind, parts, checks)


#: Joins a class and a slice-membership flag into one conditioning label (``condition="class+slice"``).
_SEP = "|in_slice="


def _conditions(labels: np.ndarray, groups: list[Any], condition: Any, generator: VAEGenerator | None) -> np.ndarray:
    """The generator's conditioning label of every row: its class, or its class and slice membership."""
    from curakit.validation import check_choice

    check_choice(condition, "condition", _OWNER, ("class", "class+slice"))
    if generator is not None and generator.config.get("condition", "class") != condition:
        raise ParameterError(f"The generator was fitted with condition={generator.config.get('condition', 'class')!r}, "
                             f"not {condition!r}. Pass the same condition, or let {_OWNER} fit a new generator.")
    if condition == "class":
        return labels
    member = np.zeros(len(labels), dtype=bool)
    for g in groups:
        member[np.asarray(g.positions)] = True
    return np.array([f"{v}{_SEP}{int(m)}" for v, m in zip(labels.tolist(), member)], dtype=object)


def _check_data(data: Any) -> tuple[Any, str]:
    if isinstance(data, pd.DataFrame):
        if data.shape[1] == 0 or len(data) == 0:
            raise DataError(f"{_OWNER} got an empty table shaped {data.shape}. Pass rows with feature columns.")
        return data.reset_index(drop=True), "table"
    if isinstance(data, (list, tuple)):
        shapes = {np.asarray(a).shape for a in data}
        if len(shapes) > 1:
            raise DataError(f"{_OWNER} got images of {len(shapes)} different sizes. Resize them to one size first.")
        data = np.stack([np.asarray(a) for a in data]) if data else np.zeros((0, 0, 0, 1), np.uint8)
    arr = np.asarray(data)
    if arr.ndim == 2 and arr.dtype != np.uint8:
        return pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])]), "table"
    from curakit.validation import check_images

    return check_images(arr, "images"), "image"


class _Checks:
    """The copy guard, the label check and the two-sample test, fitted once on the real pool."""

    def __init__(self, gen: VAEGenerator, data: Any, labels: np.ndarray, exclude: Any, incumbent: Any, q: float,
                 seed: int) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.neighbors import NearestNeighbors

        if not 0 <= q < 1:
            raise ParameterError(f"The 'copy_quantile' parameter of {_OWNER} must be in [0, 1). Got {q!r} instead.")
        self.gen, self.incumbent, self.seed = gen, incumbent, seed
        self.real = gen.features(data)
        self.nn = NearestNeighbors(n_neighbors=2).fit(self.real)
        d, _ = self.nn.kneighbors(self.real)
        self.threshold = float(np.quantile(d[:, 1], q))
        self.exclude = None
        if exclude is not None:
            ex, _ = _check_data(exclude)
            self.exclude = NearestNeighbors(n_neighbors=1).fit(gen.features(ex))
        self.clf = None
        if incumbent is None:
            self.clf = LogisticRegression(max_iter=500).fit(self.real, labels.astype(str))
        self.quality: dict[str, Any] = {"copy_threshold": self.threshold, "groups": {}}

    def refusals(self, rows: Any, intended: np.ndarray) -> list[tuple[str, str, int]]:
        """(eval_set, match, position) for each candidate, or ("", "", -1) when it passes."""
        f = self.gen.features(rows)
        d, i = self.nn.kneighbors(f, n_neighbors=1)
        if self.exclude is not None:
            de, ie = self.exclude.kneighbors(f)
        pred = (self.incumbent.predict(rows) if self.incumbent is not None else self.clf.predict(f))
        out = []
        for k in range(len(f)):
            if d[k, 0] <= self.threshold:
                out.append(("train", "near-copy", int(i[k, 0])))
            elif self.exclude is not None and de[k, 0] <= self.threshold:
                out.append(("exclude", "near-copy", int(ie[k, 0])))
            elif str(pred[k]) != str(intended[k]):
                out.append(("label", "label", -1))
            else:
                out.append(("", "", -1))
        return out

    def two_sample(self, real: np.ndarray, fake: np.ndarray) -> dict[str, Any]:
        """Cross-validated AUC of a discriminator between real members and accepted rows, with a bootstrap interval."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
        folds = int(min(5, len(real), len(fake)))
        if folds < 2:
            return {"auc": None, "auc_interval": None}
        x = np.vstack([real, fake])
        cv = StratifiedKFold(folds, shuffle=True, random_state=self.seed)
        p = cross_val_predict(LogisticRegression(max_iter=500), x, y, cv=cv, method="predict_proba")[:, 1]
        rng = np.random.default_rng(self.seed)
        boots = []
        for _ in range(200):
            b = rng.integers(0, len(y), len(y))
            if 0 < y[b].sum() < len(b):
                boots.append(roc_auc_score(y[b], p[b]))
        return {"auc": float(roc_auc_score(y, p)), "auc_interval": [float(np.quantile(boots, 0.05)),
                                                                     float(np.quantile(boots, 0.95))]}


def _fill_group(gen: VAEGenerator, checks: _Checks, data: Any, label_pair: tuple[np.ndarray, np.ndarray], g: Any, n: int,
                temperature: float, clip: bool, seed: int) -> dict[str, Any]:
    labels, cond = label_pair
    members = np.asarray(g.positions)
    order = members[np.random.default_rng(child_seed(seed, "generate-order", g.id)).permutation(len(members))]
    kept: list[tuple[int, int, int]] = []  # (candidate index, parent, seed)
    kept_rows, refused, k = [], [], 0
    for _ in range(_ROUNDS):
        want = n - len(kept)
        if want <= 0:
            break
        idx = np.arange(k, k + int(want * 1.25) + 2)
        k = int(idx[-1]) + 1
        parents = order[idx % len(order)]
        seeds = np.array([child_seed(seed, "generate", g.id, int(j)) for j in idx], dtype=np.int64)
        rows = gen.sample(data, cond, parents, seeds, temperature, clip=clip)
        verdicts = checks.refusals(rows, labels[parents])
        for t, (where, match, pos) in enumerate(verdicts):
            rid = f"gen:{g.id}:{int(idx[t])}"
            if where:
                refused.append({"position": int(idx[t]), "row_id": rid, "eval_set": where,
                                "eval_position": pos, "match": match})
            elif len(kept) < n:
                kept.append((int(idx[t]), int(parents[t]), int(seeds[t])))
                kept_rows.append(rows.iloc[[t]] if isinstance(rows, pd.DataFrame) else rows[t:t + 1])
    if len(kept) < n:
        logger.warning("%s: group %r got %d of %d rows; the rest were refused", _OWNER, g.id, len(kept), n)
    part = _group_part(gen, checks, data, labels, g, kept, kept_rows, refused, temperature, clip)
    if cond is not labels:  # condition="class+slice": each row's conditioning code, for replay
        man = part["manifest"]
        man["params"] = [json.dumps({**json.loads(p), "cond": str(cond[q])}, sort_keys=True)
                         for p, q in zip(man["params"], man["parent"])]
    checks.quality["groups"][g.id]["requested"] = n
    return part


def _group_part(gen: VAEGenerator, checks: _Checks, data: Any, labels: np.ndarray, g: Any, kept: list, kept_rows: list,
                refused: list, temperature: float, clip: bool) -> dict[str, Any]:
    is_table = isinstance(data, pd.DataFrame)
    rows = (pd.concat(kept_rows, ignore_index=True) if is_table else np.concatenate(kept_rows)) if kept_rows else None
    parents = np.array([p for _, p, _ in kept], dtype=np.int64)
    base = {"method": "vae", "weights_sha256": gen.weights_sha256, "train_fingerprint": gen.config["train_fingerprint"],
            "temperature": temperature, "clip": clip, "latent_dim": gen.config["latent_dim"]}
    man = pd.DataFrame({
        "row_id": [f"gen:{g.id}:{j}" for j, _, _ in kept],
        "origin": "synthetic",
        "source": "generate",
        "parent_ids": [json.dumps([str(p)]) for p in parents],
        "operation": "vae",
        "params": [json.dumps({**base, "latent_seed": s}, sort_keys=True) for _, _, s in kept],
        "slice_ids": json.dumps(list(g.slice_ids)),
        "seed": pd.array([s for _, _, s in kept], dtype="Int64"),
        "reason": f"vae fill of {g.description or g.id}",
    }, columns=[*(c for c in MANIFEST_COLUMNS if c not in ("parent", "path", "label"))])
    man["parent"] = parents
    man["path"] = None
    man["label"] = labels[parents] if len(parents) else np.array([], dtype=labels.dtype)
    q: dict[str, Any] = {"accepted": len(kept), "refused": len(refused),
                         "refused_by": pd.Series([r["match"] for r in refused], dtype=object).value_counts().to_dict()}
    if rows is not None:
        q.update(checks.two_sample(gen.features(data.iloc[g.positions] if is_table else data[g.positions]),
                                   gen.features(rows)))
    checks.quality["groups"][g.id] = q
    return {"rows": rows, "labels": man["label"].to_numpy(), "manifest": man, "refused": refused}


def _assemble(kind: str, parts: list[dict[str, Any]], checks: _Checks) -> Any:
    manifest = pd.concat([p["manifest"] for p in parts], ignore_index=True)
    refused = pd.DataFrame([r for p in parts for r in p["refused"]], columns=list(REFUSED_COLUMNS))
    rows = [p["rows"] for p in parts if p["rows"] is not None]
    if not rows:
        raise DataError(f"Every row {_OWNER} made was refused by the quality checks. Raise temperature= or n=, "
                        "or widen the slice.")
    labels = np.concatenate([p["labels"] for p in parts])
    checks.quality["share_refused"] = len(refused) / max(1, len(refused) + len(manifest))
    manifest.attrs["quality"] = checks.quality
    manifest.attrs["refused"] = refused.to_dict("records")
    if kind == "table":
        return pd.concat(rows, ignore_index=True), labels, manifest
    return AugmentedSet(images=np.concatenate(rows), labels=labels, manifest=manifest, refused=refused)
