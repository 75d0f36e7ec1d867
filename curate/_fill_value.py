"""Estimate what a fill is worth before the full retrain (issue 11 item 3).

:func:`estimate_fill_value` fits only a *head* (a multinomial logistic regression) on *frozen*
features, once on the plain training rows and once on the same rows plus a fill, and scores both
heads on held-out rows of the new data (overall, per class and per slice) and of the old data
(forgetting: overall and per class), each with a paired bootstrap interval of the accuracy
difference. The features are the incumbent's embedding
(``diagnose.embed``: the input of its last ``nn.Linear``) for torch models and the model's feature
columns (standardised) for tables. A head fit is a fraction of a second, so every fill of a
diagnosis can be ranked before one full retrain runs.

Decisions where the issue was silent:

* **Validation rows.** The new rows are split into ``n_splits`` stratified folds; each fold is
  scored by heads fitted on the other folds of old and new (+ the fill), so every new row is validated
  once by heads that never saw it (cross-fitting: a tighter interval than one split, same cost
  class). ``n_splits=1`` is not offered: use ``n_splits=2`` for a single split each way.
* **Forgetting on old.** The old rows are folded the same way, and fold ``k`` of old is held out of
  the heads that score fold ``k`` of new: the same head fits score every old row once, without
  and with each fill, so a fill's *forgetting* (old accuracy without minus with; positive = the
  fill makes the head forget) comes with a paired interval at no extra fit.
* **Fills made from new rows leak.** With ``parents="new"`` a fill's rows carry the position of
  their parent in ``new`` (``AugmentedSet.manifest["parent"]``, or ``parents={fill: array}``);
  rows whose parent is in the fold being scored are left out of that fold's head. ``parents="old"``
  does the same for a fill made from old rows (positions in ``old``).
* **Prior warnings.** The training class prior is that of old + new + the fill. A
  :class:`FillPriorWarning` is issued (one line) when the fill makes a class more than half of
  the training set (it was not before), or when the total variation distance between the
  training prior and the new data's prior exceeds ``max_prior_shift`` (0.25 by default: a
  quarter of the probability mass moved) and is larger than without the fill.
* This is an *estimate* of the direction and rough size of a fill's effect; a full retrain can
  move the features too, so it is no substitute for the gate.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import CurakitWarning, DataError, ParameterError
from curakit.seeds import check_random_state
from curakit.validation import check_interval

__all__ = ["FillPriorWarning", "FillValue", "estimate_fill_value"]

_OWNER = "estimate_fill_value"


class FillPriorWarning(CurakitWarning):
    """A fill makes one class the majority of the training set, or moves the training set's class
    prior far from the new data's."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FillValue:
    """What :func:`estimate_fill_value` found: one row per (fill, slice) and the class priors.

    ``rows``: dicts with ``fill``, ``slice`` (``"all"``, ``"class=<label>"`` or a slice name),
    ``n`` (validation rows in the slice), ``acc_without``, ``acc_with``, ``gain`` (with - without),
    ``low`` / ``high`` (the paired bootstrap interval of the gain), scored on the new rows.
    ``old_rows``: the same on the old rows (slices ``"all"`` and ``"class=<label>"``); a negative
    gain there is forgetting. ``priors``: per fill, the training prior with the fill, the new
    data's prior, their total variation distance with and without the fill, and the prior
    warnings (strings)."""

    rows: list[dict[str, Any]]
    priors: dict[str, dict[str, Any]]
    old_rows: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def fills(self) -> list[str]:
        """The fill names, in the order they were given."""
        return list(self.priors)

    def _row(self, rows: list[dict[str, Any]], fill: str, slice: str, where: str) -> dict[str, Any]:
        for row in rows:
            if row["fill"] == fill and row["slice"] == slice:
                return row
        raise ParameterError(f"FillValue has no {where} row for fill {fill!r} and slice {slice!r}. "
                             f"Fills: {self.fills}; slices: 'all', 'class=<label>'"
                             f"{' or a slice name' if where == 'new' else ''}.")

    def gain(self, fill: str, slice: str = "all") -> float:
        """The estimated accuracy gain of ``fill`` on ``slice`` of the new rows (NaN when the slice has no rows)."""
        return float(self._row(self.rows, fill, slice, "new")["gain"])

    def forgetting(self, fill: str, slice: str = "all") -> float:
        """The estimated accuracy ``fill`` costs on the old rows (without - with; positive = forgets)."""
        return -float(self._row(self.old_rows, fill, slice, "old")["gain"])

    def harmful(self, fill: str, max_forgetting: float = 0.02) -> bool:
        """True when the estimate is clearly negative: the gain's interval on all new rows lies below 0,
        or the forgetting's interval on all old rows lies above ``max_forgetting`` (a fill that helps its
        slice often costs the old rows a little; 0.02 by default, as the demo's ``--tolerance``)."""
        new = self._row(self.rows, fill, "all", "new")
        old = self._row(self.old_rows, fill, "all", "old") if self.old_rows else {"high": float("nan")}
        return bool(new["high"] < 0 or -old["high"] > max_forgetting)

    def ranking(self, slice: str = "all") -> list[str]:
        """Fill names, best estimated gain on ``slice`` first."""
        rows = [r for r in self.rows if r["slice"] == slice and np.isfinite(r["gain"])]
        return [r["fill"] for r in sorted(rows, key=lambda r: -r["gain"])]

    def to_frame(self) -> pd.DataFrame:
        """One row per (fill, slice of new): accuracies, gain and interval, then per fill the prior
        shift and the forgetting on all old rows with its interval."""
        frame = pd.DataFrame(self.rows, columns=["fill", "slice", "n", "acc_without", "acc_with", "gain", "low",
                                                 "high"])
        frame["prior_shift"] = frame["fill"].map({k: v["tv_with"] for k, v in self.priors.items()})
        old = {r["fill"]: r for r in self.old_rows if r["slice"] == "all"}
        nan = float("nan")
        for col, key, sign in (("forgetting", "gain", -1), ("forgetting_low", "high", -1),
                               ("forgetting_high", "low", -1)):
            frame[col] = frame["fill"].map(lambda f, k=key, s=sign: s * old[f][k] if f in old else nan)
        return frame

    def old_frame(self) -> pd.DataFrame:
        """One row per (fill, slice of old): the same columns as :meth:`to_frame`'s first eight."""
        return pd.DataFrame(self.old_rows, columns=["fill", "slice", "n", "acc_without", "acc_with", "gain", "low",
                                                    "high"])

    def per_fill(self, max_forgetting: float = 0.02) -> pd.DataFrame:
        """One row per fill: gain on all new rows, forgetting on all old rows (each with its interval),
        prior shift, whether the estimate is clearly harmful (:meth:`harmful`), and the prior warnings."""
        frame = self.to_frame()
        frame = frame[frame["slice"] == "all"].drop(columns=["slice", "n", "acc_without", "acc_with"])
        frame = frame.rename(columns={"low": "gain_low", "high": "gain_high"}).reset_index(drop=True)
        frame.insert(1, "n_fill", [int(self.params.get("n_fill", {}).get(f, 0)) for f in frame["fill"]])
        frame["harmful"] = [self.harmful(f, max_forgetting) for f in frame["fill"]]
        frame["warnings"] = ["; ".join(self.priors[f]["warnings"]) for f in frame["fill"]]
        return frame

    def warnings(self) -> list[str]:
        """Every prior warning, one line each."""
        return [w for p in self.priors.values() for w in p["warnings"]]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows], "old_rows": [dict(r) for r in self.old_rows],
                "priors": {k: dict(v) for k, v in self.priors.items()}, "params": dict(self.params)}

    def __repr__(self) -> str:
        def one(r: dict[str, Any]) -> str:
            text = f"{r['fill']}: {r['gain']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}]"
            if self.old_rows:
                text += f", forgetting {self.forgetting(r['fill']):+.3f}"
            return text

        return f"FillValue({', '.join(one(r) for r in self.rows if r['slice'] == 'all')})"


# -- inputs ------------------------------------------------------------------------------------
def _is_torch(model: Any) -> bool:
    from curakit.adapters import is_torch_model

    return is_torch_model(model)


def _split_images(value: Any, name: str) -> tuple[Any, np.ndarray]:
    if hasattr(value, "images") and hasattr(value, "labels"):
        return value.images, np.asarray(value.labels)
    if isinstance(value, Mapping) and "images" in value and "labels" in value:
        return value["images"], np.asarray(value["labels"])
    if isinstance(value, tuple) and len(value) in (2, 3):
        return value[0], np.asarray(value[1])
    raise DataError(f"estimate_fill_value: {name} is a {type(value).__name__}; for a torch model pass "
                    "(images, labels), {'images': ..., 'labels': ...} or an augment.AugmentedSet.")


def _split_table(value: Any, name: str, target: str | None, columns: list[str] | None) -> tuple[pd.DataFrame, np.ndarray]:
    if isinstance(value, tuple) and len(value) in (2, 3) and hasattr(value[0], "columns"):
        X, y = value[0], np.asarray(value[1])
    elif hasattr(value, "columns"):
        if target is None or target not in value.columns:
            raise DataError(f"estimate_fill_value: {name} has no target column {target!r}. "
                            "Pass target= naming the label column, or (X, y).")
        X, y = value.drop(columns=[target]), value[target].to_numpy()
    else:
        raise DataError(f"estimate_fill_value: {name} is a {type(value).__name__}; for a table model pass a "
                        "DataFrame with the target column, or (X, y) with X a DataFrame.")
    if len(X) != len(y):
        raise DataError(f"estimate_fill_value: {name} has {len(X)} rows but {len(y)} labels. Pass one label per row.")
    if columns is not None:
        missing = [c for c in columns if c not in X.columns]
        if missing:
            raise DataError(f"estimate_fill_value: {name} lacks the feature columns {missing[:5]}. "
                            "Give every part the model's feature columns.")
    return X, y


def _table_columns(model: Any, frame: pd.DataFrame, features: Sequence[str] | None) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(c) for c in names]
    if features is not None:
        return [str(c) for c in features]
    return [c for c in frame.columns if np.issubdtype(frame[c].dtype, np.number)]


def _numeric(X: pd.DataFrame, columns: list[str], name: str) -> np.ndarray:
    try:
        arr = np.asarray(X[columns], dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"estimate_fill_value: the feature columns of {name} are not all numeric "
                        f"(dtypes: {sorted({str(X[c].dtype) for c in columns})}). Pass numeric features "
                        "(encode them first).") from None
    if not np.isfinite(arr).all():
        raise DataError(f"estimate_fill_value: {name} has NaN or infinite features (shape {arr.shape}). "
                        "Impute them first.")
    return arr


def _generated_only(fill: Any) -> Any:
    """An ``augment.oversample`` tuple holds its input rows, then the new ones: keep the new ones, as
    ``TrainingSetBuilder.add`` does (the fill is what the training set gains)."""
    prov = fill[2] if isinstance(fill, tuple) and len(fill) == 3 else None
    if not isinstance(prov, pd.DataFrame) or "operation" not in prov.columns or len(prov) != len(fill[1]):
        return fill
    keep = np.flatnonzero(prov["operation"].astype(str).to_numpy() != "original")
    if len(keep) == len(prov):
        return fill
    X = fill[0].iloc[keep].reset_index(drop=True) if hasattr(fill[0], "iloc") else np.asarray(fill[0])[keep]
    return X, np.asarray(fill[1])[keep], prov.iloc[keep].reset_index(drop=True)


def _check_fills(fills: Any) -> dict[str, Any]:
    if isinstance(fills, Mapping) and not ({"images", "labels"} <= set(fills)):
        out = {str(k): _generated_only(v) for k, v in fills.items()}
    else:
        out = {"fill": _generated_only(fills)}
    if not out:
        raise ParameterError("The 'fills' parameter of estimate_fill_value must hold at least one fill. Got {} instead.")
    return out


def _features(model: Any, parts: dict[str, Any], *, target: str | None, features: Sequence[str] | None,
              transform: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Frozen features and labels of every part (``old``, ``new`` and each fill)."""
    X: dict[str, np.ndarray] = {}
    y: dict[str, np.ndarray] = {}
    if _is_torch(model):
        from diagnose import embed

        for name, value in parts.items():
            images, labels = _split_images(value, name)
            if len(images) != len(labels):
                raise DataError(f"estimate_fill_value: {name} has {len(images)} images but {len(labels)} labels. "
                                "Pass one label per image.")
            X[name] = (np.asarray(embed(model, images, transform=transform), dtype=np.float64) if len(labels)
                       else np.empty((0, 0)))
            y[name] = labels
        return X, y
    columns = None
    for name, value in parts.items():
        frame, labels = _split_table(value, name, target, columns)
        if columns is None:
            columns = _table_columns(model, frame, features)
            if not columns:
                raise DataError("estimate_fill_value: old has no numeric feature columns. Pass features=.")
            frame, labels = _split_table(value, name, target, columns)
        X[name] = _numeric(frame, columns, name)
        y[name] = labels
    return X, y


def _slice_masks(slices: Any, n: int) -> dict[str, np.ndarray]:
    """``{name: bool mask over the new rows}`` from masks, index arrays, Slices or a Diagnosis of ``new``."""
    if slices is None:
        return {}
    if hasattr(slices, "slices") and not isinstance(slices, Mapping):
        slices = slices.slices
    if not isinstance(slices, Mapping):
        slices = {str(getattr(s, "id", k)): s for k, s in enumerate(slices)}
    out: dict[str, np.ndarray] = {}
    for name, value in slices.items():
        if hasattr(value, "indices"):
            analysed = getattr(value, "n_analysed", n)
            if analysed is not None and analysed != n:
                raise DataError(f"estimate_fill_value: slice {name!r} comes from a diagnosis of {analysed} rows, but "
                                f"new has {n}. Pass slices of a diagnosis of new, or boolean masks over new.")
            value = value.indices
        arr = np.asarray(value)
        if arr.dtype == bool:
            if arr.shape != (n,):
                raise DataError(f"estimate_fill_value: slice {name!r} is a mask of shape {arr.shape}, new has {n} "
                                "rows. Pass one boolean per new row.")
            out[str(name)] = arr
            continue
        if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= n):
            raise DataError(f"estimate_fill_value: slice {name!r} holds indices outside [0, {n}) or not integers "
                            f"(dtype {arr.dtype}). Pass positions of new rows, or a boolean mask.")
        mask = np.zeros(n, dtype=bool)
        mask[arr.astype(np.int64)] = True
        out[str(name)] = mask
    return out


def _parents_in(fill: Any, name: str, source: str) -> np.ndarray:
    """Each fill row's parent position in ``source`` (old or new): an AugmentedSet's ``manifest["parent"]``, or
    for an ``augment.oversample`` tuple ``(X2, y2, provenance)`` its first parent as the builder reads it
    (``parent_ids``), and the row itself for original rows (no parents)."""
    from ._build.add import _parent_positions

    manifest = getattr(fill, "manifest", None)
    if manifest is not None and "parent" in getattr(manifest, "columns", ()):
        return manifest["parent"].to_numpy()
    prov = fill[2] if isinstance(fill, tuple) and len(fill) == 3 else None
    if prov is None or not {"row_id", "parent_ids"} <= set(getattr(prov, "columns", ())):
        raise DataError(f"estimate_fill_value: parents={source!r} but fill {name!r} names no parent rows (an "
                        "AugmentedSet's manifest 'parent' or an oversample provenance's 'parent_ids'). "
                        "Pass parents={fill: positions}.")
    try:
        lists = _parent_positions(prov)  # original rows have no parents: their own position (row id "<source>:<pos>")
        return np.asarray([p[0] if p else int(str(r).rsplit(":", 1)[-1]) for p, r in zip(lists, prov["row_id"])],
                          dtype=np.int64)
    except (DataError, ValueError, TypeError) as exc:  # parent ids that are not positions (or unreadable JSON)
        raise DataError(f"estimate_fill_value: parents={source!r} but fill {name!r}'s provenance names parents "
                        f"that are not positions in {source} ({type(exc).__name__}). Pass parents={{fill: "
                        "positions}.") from None


#: values of ``estimate_fill_value(missing_parents=...)``
MISSING_PARENTS = ("raise", "ignore")


def _fill_parents(parents: Any, fills: Mapping[str, Any], n_fill: Mapping[str, int], n_rows: Mapping[str, int],
                  missing: str = "raise") -> tuple[dict[str, tuple[str, np.ndarray] | None], list[str]]:
    """(``{fill: (source, positions in source) or None}``, the fills whose lineage names no parents) from
    ``parents``: ``"new"`` / ``"old"`` for every fill, or ``{fill: positions in new | "new" | "old" |
    ("old", positions in old)}``. ``missing="ignore"``: a fill asked to read its parents from its lineage
    that has none is estimated without them (listed second) instead of raising."""
    out: dict[str, tuple[str, np.ndarray] | None] = {k: None for k in fills}
    lacking: list[str] = []
    if parents is None:
        return out, lacking
    if not isinstance(parents, Mapping) and parents not in ("new", "old"):
        raise ParameterError(f"The 'parents' parameter of estimate_fill_value must be None, 'new', 'old' or a mapping "
                             f"{{fill: positions in new}}. Got {parents!r} instead.")
    for name, fill in fills.items():
        value = parents.get(name) if isinstance(parents, Mapping) else parents
        source = value if isinstance(value, str) else "new"
        if isinstance(value, tuple) and len(value) == 2 and value[0] in ("new", "old"):
            source, value = value
        elif isinstance(value, str):
            if value not in ("new", "old"):
                raise ParameterError(f"The 'parents' parameter of estimate_fill_value names {value!r} for fill "
                                     f"{name!r}; use 'new', 'old' or positions in new.")
            try:
                value = _parents_in(fill, name, value)
            except DataError:
                if missing == "raise":
                    raise
                lacking.append(name)
                continue
        if value is None:
            continue
        arr = np.asarray(value)
        n = n_rows[source]
        if arr.shape != (n_fill[name],) or not np.issubdtype(arr.dtype, np.integer) or \
                (arr.size and (arr.min() < 0 or arr.max() >= n)):
            raise DataError(f"estimate_fill_value: the parents of fill {name!r} must be {n_fill[name]} integer "
                            f"positions in {source} [0, {n}); got shape {arr.shape}, dtype {arr.dtype}.")
        out[name] = (source, arr.astype(np.int64))
    return out, lacking


# -- estimate ----------------------------------------------------------------------------------
def _head(X: np.ndarray, y: np.ndarray, C: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    head = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter: the estimate is a ranking, not a final model
        head.fit(X, y)
    return head


def _folds(labels: np.ndarray, n_splits: int, seed: int, part: str) -> list[np.ndarray]:
    from sklearn.model_selection import KFold, StratifiedKFold

    _, counts = np.unique(labels.astype(str), return_counts=True)
    if len(labels) < 2 * n_splits:
        raise DataError(f"estimate_fill_value: {part} has {len(labels)} rows, too few for {n_splits} validation "
                        f"folds. Pass more {part} rows or a smaller n_splits.")
    splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed) if counts.min() >= n_splits else \
        KFold(n_splits, shuffle=True, random_state=seed)
    return [val for _, val in splitter.split(np.zeros(len(labels)), labels.astype(str))]


def _cross_fit(X: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray], fill_names: list[str],
               parents: Mapping[str, tuple[str, np.ndarray] | None], *, n_splits: int, C: float, seed: int
               ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """Out-of-fold predictions on every new and every old row: the head without a fill, and with each fill.
    Fold ``k`` of old and fold ``k`` of new are held out of the same heads."""
    parts = ("new", "old")
    base = {p: np.empty(len(y[p]), dtype=object) for p in parts}
    with_fill = {k: {p: np.empty(len(y[p]), dtype=object) for p in parts} for k in fill_names}
    folds = zip(_folds(y["new"], n_splits, seed, "new"), _folds(y["old"], n_splits, seed + 1, "old"))
    for held in folds:
        train = {}
        for p, fold in zip(parts, held):
            train[p] = np.ones(len(y[p]), dtype=bool)
            train[p][fold] = False
        Xb = np.concatenate([X["old"][train["old"]], X["new"][train["new"]]])
        yb = np.concatenate([y["old"][train["old"]], y["new"][train["new"]]])
        head = _head(Xb, yb, C, seed)
        for p, fold in zip(parts, held):
            base[p][fold] = head.predict(X[p][fold])
        for name in fill_names:
            keep = np.ones(len(y[name]), dtype=bool) if parents[name] is None else \
                train[parents[name][0]][parents[name][1]]
            head = _head(np.concatenate([Xb, X[name][keep]]), np.concatenate([yb, y[name][keep]]), C, seed)
            for p, fold in zip(parts, held):
                with_fill[name][p][fold] = head.predict(X[p][fold])
    return base, with_fill


def _paired(with_ok: np.ndarray, without_ok: np.ndarray, *, n_bootstrap: int, confidence: float,
            seed: int) -> tuple[float, float]:
    diff = with_ok.astype(np.float64) - without_ok.astype(np.float64)
    rng = np.random.default_rng(seed)
    boot = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, 200):  # bounded memory
        stop = min(start + 200, n_bootstrap)
        boot[start:stop] = diff[rng.integers(0, len(diff), size=(stop - start, len(diff)))].mean(1)
    a = (1.0 - confidence) / 2
    return float(np.quantile(boot, a)), float(np.quantile(boot, 1.0 - a))


def _shares(labels: np.ndarray, classes: list[str]) -> np.ndarray:
    keys = labels.astype(str)
    counts = np.array([(keys == c).sum() for c in classes], dtype=np.float64)
    return counts / max(counts.sum(), 1.0)


def _prior(y: Mapping[str, np.ndarray], name: str, *, max_prior_shift: float) -> dict[str, Any]:
    """Class priors of the training set with and without the fill against the new data's, and warnings."""
    base = np.concatenate([y["old"], y["new"]])
    with_fill = np.concatenate([base, y[name]])
    classes = sorted({str(c) for c in with_fill})
    p_new, p_without, p_with = (_shares(v, classes) for v in (y["new"], base, with_fill))
    tv_without = float(0.5 * np.abs(p_without - p_new).sum())
    tv_with = float(0.5 * np.abs(p_with - p_new).sum())
    notes = []
    top = int(np.argmax(p_with))
    if p_with[top] > 0.5 and p_without[top] <= 0.5:
        notes.append(f"fill {name!r} makes class {classes[top]!r} the majority of the training set "
                     f"({p_with[top]:.0%}, was {p_without[top]:.0%}; new data {p_new[top]:.0%})")
    if tv_with > max_prior_shift and tv_with > tv_without:
        notes.append(f"fill {name!r} moves the training class prior {tv_with:.2f} (total variation) from the new "
                     f"data's, above max_prior_shift={max_prior_shift} (without the fill: {tv_without:.2f})")
    return {"classes": classes, "train_with": p_with.tolist(), "train_without": p_without.tolist(),
            "new": p_new.tolist(), "tv_with": tv_with, "tv_without": tv_without, "warnings": notes}


def _rows(name: str, y_new: np.ndarray, base_pred: np.ndarray, pred: np.ndarray, masks: Mapping[str, np.ndarray],
          *, n_bootstrap: int, confidence: float, seed: int) -> list[dict[str, Any]]:
    without_ok = base_pred == y_new
    with_ok = pred == y_new
    rows = []
    for k, (slice_name, mask) in enumerate(masks.items()):
        n = int(mask.sum())
        row: dict[str, Any] = {"fill": name, "slice": slice_name, "n": n}
        if n == 0:
            row.update(acc_without=float("nan"), acc_with=float("nan"), gain=float("nan"), low=float("nan"),
                       high=float("nan"))
        else:
            low, high = _paired(with_ok[mask], without_ok[mask], n_bootstrap=n_bootstrap, confidence=confidence,
                                seed=seed + k)
            a0, a1 = float(without_ok[mask].mean()), float(with_ok[mask].mean())
            row.update(acc_without=a0, acc_with=a1, gain=a1 - a0, low=low, high=high)
        rows.append(row)
    return rows


def _score(y: Mapping[str, np.ndarray], fills: list[str], base: Mapping[str, np.ndarray],
           with_fill: Mapping[str, Mapping[str, np.ndarray]], masks: Mapping[str, np.ndarray], *, n_bootstrap: int,
           confidence: float, max_prior_shift: float, seed: int) -> tuple[list, list, dict[str, dict[str, Any]]]:
    """(rows on new, rows on old, priors) from the out-of-fold predictions; the prior warnings are issued."""
    old_masks = {"all": np.ones(len(y["old"]), dtype=bool)}
    old_masks.update({f"class={c}": y["old"].astype(str) == c for c in sorted({str(c) for c in y["old"]})})
    rows: list[dict[str, Any]] = []
    old_rows: list[dict[str, Any]] = []
    priors: dict[str, dict[str, Any]] = {}
    for name in fills:
        rows += _rows(name, y["new"], base["new"], with_fill[name]["new"], masks, n_bootstrap=n_bootstrap,
                      confidence=confidence, seed=seed)
        old_rows += _rows(name, y["old"], base["old"], with_fill[name]["old"], old_masks, n_bootstrap=n_bootstrap,
                          confidence=confidence, seed=seed + 7919)
        priors[name] = _prior(y, name, max_prior_shift=max_prior_shift)
        for note in priors[name]["warnings"]:
            warnings.warn(note, FillPriorWarning, stacklevel=3)
    return rows, old_rows, priors


def _nonempty(y: dict, fills: Mapping) -> dict:
    """The labels as arrays, after checking that every fill has rows."""
    for name in fills:
        if not len(y[name]):
            raise DataError(f"estimate_fill_value: fill {name!r} has no rows. Pass fills with at least one row.")
    return {k: np.asarray(v) for k, v in y.items()}


def _check_params(n_splits: Any, n_bootstrap: Any, confidence: Any, max_prior_shift: Any, C: Any,
                  missing_parents: Any) -> tuple[int, int]:
    """One-line errors for the scalar parameters of :func:`estimate_fill_value`; (n_splits, n_bootstrap)."""
    n_splits = check_interval(n_splits, "n_splits", _OWNER, kind=int, low=2)
    if missing_parents not in MISSING_PARENTS:
        raise ParameterError(f"The 'missing_parents' parameter of estimate_fill_value must be 'raise' or 'ignore'. "
                             f"Got {missing_parents!r} instead.")
    n_bootstrap = check_interval(n_bootstrap, "n_bootstrap", _OWNER, kind=int, low=10)
    check_interval(confidence, "confidence", _OWNER, low=0.0, high=1.0)
    check_interval(max_prior_shift, "max_prior_shift", _OWNER, low=0.0, high=1.0)
    check_interval(C, "C", _OWNER, low=0.0)
    return n_splits, n_bootstrap


def estimate_fill_value(
    model: Any,
    old: Any,
    new: Any,
    fills: Any,
    *,
    target: str | None = None,
    features: Sequence[str] | None = None,
    slices: Any = None,
    parents: Any = None,
    missing_parents: str = "raise",
    n_splits: int = 5,
    C: float = 1.0,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    max_prior_shift: float = 0.25,
    transform: Any = None,
    random_state: Any = 0,
) -> FillValue:
    """Estimate each fill's value with a head fitted on frozen features, before the full retrain.

    Parameters
    ----------
    model : the incumbent: a torch ``nn.Module`` (its embedding, ``diagnose.embed``, is the frozen
        feature space) or a scikit-learn estimator (its feature columns: ``feature_names_in_``, else
        ``features=``, else the numeric columns).
    old, new : the incumbent's training rows and the new labelled rows. Torch: ``(images, labels)``
        or ``{"images": ..., "labels": ...}``; tables: a DataFrame with the ``target`` column, or ``(X, y)``.
    fills : one fill or ``{name: fill}``: an ``augment.AugmentedSet``, ``(images, labels)``, or for
        tables a DataFrame with the target column / ``(X, y)`` of the added rows only, or an
        ``augment.oversample`` tuple ``(X2, y2, provenance)`` (its input rows are dropped, as
        ``TrainingSetBuilder.add`` drops them: only the rows it made count).
    slices : slices of ``new`` to score on besides ``"all"`` and each class: ``{name: bool mask or
        positions}``, a list of ``diagnose.Slice`` or a ``Diagnosis`` of ``new``.
    parents : ``"new"`` (each fill's ``manifest["parent"]`` / oversample provenance is a position in
        ``new``), ``"old"`` (positions in ``old``), or ``{fill: positions in new | "new" | "old" |
        ("old", positions in old)}``: fill rows are left out of the heads that score their parent's fold.
    missing_parents : ``"raise"`` (default): a fill told to read its parents from its lineage
        (``parents="new"`` / ``"old"``) whose lineage names none (or no positions) is a DataError;
        ``"ignore"``: that fill is estimated without leak exclusion (which can flatter its gain) and
        ``params["parents_missing"]`` lists it. Positions given explicitly are always checked.
    n_splits : validation folds of the new rows and of the old rows (each row is scored once, by heads
        that did not see it; fold k of old and of new share the heads).
    C : inverse regularisation of the logistic-regression head.
    n_bootstrap, confidence : the paired bootstrap interval of each gain.
    max_prior_shift : total variation distance between the training and the new class priors above
        which a :class:`FillPriorWarning` is issued.
    transform : for torch models, callable from a uint8 batch to the model's input.
    random_state : seed of the folds, the heads and the bootstrap (same seed, same output).

    Returns
    -------
    FillValue: ``to_frame()`` has one row per (fill, slice of new) with the accuracies without / with
    the fill, the gain and its interval, and the fill's forgetting on old with its interval;
    ``old_frame()`` the same per class of old; ``per_fill()`` one row per fill; ``priors`` the class
    priors and warnings per fill.
    """
    n_splits, n_bootstrap = _check_params(n_splits, n_bootstrap, confidence, max_prior_shift, C, missing_parents)
    seed = int(check_random_state(random_state).integers(0, 2**31 - 1))
    fills = _check_fills(fills)
    clash = [k for k in fills if k in ("old", "new")]
    if clash:
        raise ParameterError(f"The 'fills' parameter of estimate_fill_value names a fill {clash[0]!r}; 'old' and "
                             "'new' are taken. Rename the fill.")
    X, y = _features(model, {"old": old, "new": new, **fills}, target=target, features=features, transform=transform)
    y = _nonempty(y, fills)
    masks = {"all": np.ones(len(y["new"]), dtype=bool)}
    masks.update({f"class={c}": y["new"].astype(str) == c for c in sorted({str(c) for c in y["new"]})})
    masks.update(_slice_masks(slices, len(y["new"])))
    parent_of, lacking = _fill_parents(parents, fills, {k: len(y[k]) for k in fills},
                                       {"new": len(y["new"]), "old": len(y["old"])}, missing_parents)
    base, with_fill = _cross_fit(X, y, list(fills), parent_of, n_splits=n_splits, C=float(C), seed=seed)
    rows, old_rows, priors = _score(y, list(fills), base, with_fill, masks, n_bootstrap=n_bootstrap,
                                    confidence=float(confidence), max_prior_shift=float(max_prior_shift), seed=seed)
    params = {"features": "embedding" if _is_torch(model) else "columns", "n_splits": n_splits, "C": float(C),
              "n_bootstrap": n_bootstrap, "confidence": float(confidence), "max_prior_shift": float(max_prior_shift),
              "random_state": random_state if isinstance(random_state, (int, type(None))) else "generator",
              "n_old": int(len(y["old"])), "n_new": int(len(y["new"])), "n_fill": {k: int(len(y[k])) for k in fills},
              "parents_missing": lacking}
    return FillValue(rows=rows, old_rows=old_rows, priors=priors, params=params)
