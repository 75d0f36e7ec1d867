"""SHAP attributions: which features drive a model's decisions, overall, inside weak slices and
for sensitive attributes.

:func:`explain` picks the explainer:

- a tree model (scikit-learn forests, gradient boosting, histogram gradient boosting, single
  trees; XGBoost / LightGBM when installed) gets ``shap.TreeExplainer`` with the model's own
  path statistics (exact, no background sample, all rows by default);
- any other model with ``predict_proba`` (or ``predict`` for a regressor) gets permutation
  SHAP (the estimator of ``shap.PermutationExplainer``, antithetic orders, implemented here in
  numpy: shap's version JIT-compiles with numba for 10-25 s in every fresh process) over a
  seeded background sample of ``background`` rows, on at most ``max_rows`` rows (default 500)
  with ``n_permutations`` orders per row, so it finishes in bounded time.

**Faithfulness.** Every result is checked for additivity: ``base + sum(values)`` against the
model's own output for the explained class (its margin, ``decision_function``, for boosted
trees; its probability for forests, single trees and the permutation explainer; ``predict``
for regressors). When TreeExplainer's values miss it by more than ``ADDITIVITY_TOLERANCE``
times the output's standard deviation over the explained rows, or TreeExplainer cannot represent
the model (``HistGradientBoosting*`` with native categorical features), the permutation
explainer is used instead. ``report.explainer``, ``report.explainer_reason`` and
``report.additivity_error`` say which explainer was used, why, and how far from additive it is.
Pipelines (and anything else that is not a bare tree model) get the permutation explainer.

**Multi-class.** Each row is explained for one class: its *predicted* class
(``explained_class="predicted"``, default) or its true class (``explained_class="true"``, needs ``y``). For a
binary model whose explainer returns one output (the log-odds of the positive class), the
attribution toward class 0 is its negation. Units are the explainer's: probability for
forests and the permutation explainer, log-odds (margin) for gradient boosting.

**Importance** of a feature is its mean ``|SHAP|`` over the explained rows; its *share* is
that over the sum for all features.

**Sensitive features** (``sensitive=("sex", "race")``) are reported with their importance
rank, share and ``top_rate`` (the share of rows where they carry the largest ``|SHAP|``). A
sensitive feature is *flagged* as driving the decisions when its share is at least
``sensitive_share`` (default 0.10) **or** it ranks among the ``sensitive_top_k`` (default 3)
most important features, **and** the model-agnostic effect agrees: ``effect_share``, the share of
explained rows whose prediction changes when the feature is set to each of its other values (at
most 10 distinct values) or permuted across rows (seeded), is at least ``effect_threshold``
(default ``EFFECT_THRESHOLD`` = 0.02). The report shows both halves. A sensitive column of ``X`` that the model does not take as input
has share 0 and is not flagged (proxies of it may still matter: check correlated features).

**Slices** (``Slice`` objects, re-applied on ``X`` with ``Slice.contains(features=X)``, or
boolean masks, or a mapping name -> mask) get their own importance, and when ``errors`` are
given, the importance over their *misclassified* rows; ``drivers`` are the features whose share
of attribution rises most above their global share there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.html import escape, figure_html, frame_html, html_document, section
from curakit.io import atomic_write_text
from curakit.optional import import_optional
from curakit.records import check_keys, check_schema_version, json_ready, parse_json, plain_value
from curakit.seeds import check_random_state, child_seed
from curakit.validation import UNSET, check_choice, check_columns, check_fitted, check_labels, renamed

from ._slice import Slice

__all__ = ["ADDITIVITY_TOLERANCE", "AGNOSTIC_MAX_ROWS", "EFFECT_THRESHOLD", "ShapReport", "explain"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: Rows explained by the model-agnostic explainer when ``max_rows`` is None.
AGNOSTIC_MAX_ROWS = 500
#: Largest tolerated additivity error (max over rows of ``|base + sum(values) - model output|``),
#: as a fraction of the standard deviation of the model output over the explained rows.
ADDITIVITY_TOLERANCE = 0.01
#: Least share of explained rows whose prediction changes with a sensitive feature for it to be flagged.
EFFECT_THRESHOLD = 0.02
#: Features with at most this many distinct values are set to each of their values for the effect test.
EFFECT_MAX_VALUES = 10

_TREE_MODULES = ("sklearn.ensemble", "sklearn.tree", "xgboost", "lightgbm", "catboost")


# -- the report -------------------------------------------------------------------------------
#: the keys of a ShapReport record (ShapReport.to_dict): required, then optional
_SHAP_KEYS = ("feature_names", "values", "base_values", "data", "rows")
_SHAP_OPTIONAL = ("explained_class", "explainer", "explainer_reason", "additivity_error", "target", "n_total",
                  "importance", "slices", "sensitive", "settings")


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ShapReport:
    """SHAP values of the explained rows and what they say.

    ``values`` (rows x features): attribution toward each row's explained class
    (``explained_class``); ``rows``: positions of the explained rows in ``X``; ``data``: their
    numeric feature values (NaN for non-numeric columns, used to colour plots);
    ``importance``: mean ``|SHAP|`` per feature; ``slices`` / ``sensitive``: per-slice and
    sensitive-feature results (see :func:`explain`).
    """

    feature_names: list[str]
    values: np.ndarray
    base_values: np.ndarray
    data: np.ndarray
    rows: np.ndarray
    explained_class: list[Any]
    explainer: str
    target: str
    n_total: int
    importance: dict[str, float]
    slices: list[dict[str, Any]] = field(default_factory=list)
    sensitive: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    explainer_reason: str = ""
    additivity_error: float | None = None
    schema_version: int = SCHEMA_VERSION

    # -- tables ---------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Global importance: one row per feature, most important first."""
        names = list(self.importance)
        imp = np.array([self.importance[f] for f in names])
        total = imp.sum()
        sens = {s["feature"]: s for s in self.sensitive}
        frame = pd.DataFrame(
            {
                "feature": names,
                "mean_abs_shap": imp,
                "share": imp / total if total > 0 else np.zeros_like(imp),
                "sensitive": [f in sens for f in names],
                "flagged": [bool(sens[f]["flagged"]) if f in sens else False for f in names],
            }
        )
        frame = frame.sort_values(["mean_abs_shap", "feature"], ascending=[False, True], kind="mergesort")
        frame.insert(1, "rank", np.arange(1, len(frame) + 1))
        return frame.reset_index(drop=True)

    def slice_frame(self) -> pd.DataFrame:
        """Per slice and feature: global share, share inside the slice and over its errors."""
        rows = []
        for s in self.slices:
            for f in self.feature_names:
                rows.append(
                    {
                        "slice": s["name"],
                        "feature": f,
                        "global_share": s["global_share"][f],
                        "slice_share": s["share"].get(f, np.nan) if s["share"] else np.nan,
                        "error_share": s["error_share"].get(f, np.nan) if s["error_share"] else np.nan,
                        "driver_rank": s["drivers"].index(f) + 1 if f in s["drivers"] else None,
                    }
                )
        return pd.DataFrame(
            rows, columns=["slice", "feature", "global_share", "slice_share", "error_share", "driver_rank"]
        )

    def sensitive_frame(self) -> pd.DataFrame:
        cols = ["feature", "used_by_model", "rank", "share", "top_rate", "effect_share", "flagged", "reason"]
        return pd.DataFrame(self.sensitive, columns=cols)

    @property
    def flagged(self) -> list[str]:
        """Sensitive features flagged as driving the decisions."""
        return [s["feature"] for s in self.sensitive if s["flagged"]]

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self, *, include_values: bool = True) -> dict[str, Any]:
        out = {
            "schema_version": self.schema_version,
            "feature_names": list(self.feature_names),
            "explained_class": [plain_value(c) for c in self.explained_class] if include_values else None,
            "explainer": self.explainer,
            "explainer_reason": self.explainer_reason,
            "additivity_error": None if self.additivity_error is None else float(self.additivity_error),
            "target": self.target,
            "n_total": int(self.n_total),
            "importance": {k: float(v) for k, v in self.importance.items()},
            "slices": json_ready(self.slices),
            "sensitive": json_ready(self.sensitive),
            "settings": json_ready(self.settings),
            "rows": self.rows.tolist() if include_values else None,
            "values": self.values.tolist() if include_values else None,
            "base_values": self.base_values.tolist() if include_values else None,
            "data": json_ready(self.data.tolist()) if include_values else None,
        }
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShapReport:
        fix = "Re-run diagnose.explain with this version."
        check_schema_version(data, "ShapReport", SCHEMA_VERSION, fix=fix)
        check_keys(data, "ShapReport", _SHAP_KEYS, _SHAP_OPTIONAL, fix=fix)
        if data.get("values") is None:
            raise DataError(
                "This ShapReport was saved without its values (include_values=False) and cannot be rebuilt."
            )
        p = len(data["feature_names"])
        d = dict(data)
        d.pop("schema_version", None)
        d["values"] = np.asarray(d["values"], dtype=np.float64).reshape(-1, p)
        d["base_values"] = np.asarray(d["base_values"], dtype=np.float64)
        d["data"] = np.asarray([[np.nan if v is None else v for v in r] for r in d["data"]], dtype=np.float64).reshape(
            -1, p
        )
        d["rows"] = np.asarray(d["rows"], dtype=np.int64)
        return cls(**d)

    def to_json(self, *, include_values: bool = True) -> str:
        return json.dumps(self.to_dict(include_values=include_values), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ShapReport:
        return cls.from_dict(parse_json(text, "ShapReport"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ShapReport):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # mutable arrays inside

    def __repr__(self) -> str:
        top = ", ".join(self.to_frame()["feature"].head(3).astype(str))
        return (
            f"ShapReport(explainer={self.explainer!r}, rows={len(self.rows)} of {self.n_total}, "
            f"features={len(self.feature_names)}, top=[{top}], flagged={self.flagged})"
        )

    # -- plots ----------------------------------------------------------------------------
    def plot_summary(self, *, top: int = 12):
        """Bar chart of mean |SHAP| (sensitive features in red) and a beeswarm of the values."""
        plt = import_optional("matplotlib.pyplot")
        frame = self.to_frame().head(top).iloc[::-1]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 0.35 * len(frame) + 1.5))
        colors = ["#c0392b" if s else "#2c7fb8" for s in frame["sensitive"]]
        ax1.barh(frame["feature"].astype(str), frame["mean_abs_shap"], color=colors)
        ax1.set_xlabel("mean |SHAP|")
        ax1.set_title("Global importance (red: sensitive)")
        rng = np.random.default_rng(0)
        index = {f: i for i, f in enumerate(self.feature_names)}
        for y, f in enumerate(frame["feature"]):
            j = index[f]
            v = self.values[:, j]
            if v.size > 2000:
                pick = rng.choice(v.size, 2000, replace=False)
            else:
                pick = np.arange(v.size)
            x = self.data[pick, j]
            c = np.full(pick.size, 0.5)
            ok = np.isfinite(x)
            if ok.any() and np.ptp(x[ok]) > 0:
                c[ok] = pd.Series(x[ok]).rank(pct=True).to_numpy()
            ax2.scatter(v[pick], y + rng.uniform(-0.3, 0.3, pick.size), c=c, cmap="coolwarm", s=6, alpha=0.7)
        ax2.set_yticks(range(len(frame)), frame["feature"].astype(str))
        ax2.axvline(0, c="k", lw=0.6)
        ax2.set_xlabel("SHAP value toward the explained class (colour: feature value rank)")
        fig.tight_layout()
        return fig

    def plot_slice(self, name: str, *, top: int = 10):
        """Shares of attribution of one slice (and its errors) against the global shares."""
        plt = import_optional("matplotlib.pyplot")
        match = [s for s in self.slices if s["name"] == name]
        if not match:
            known = ", ".join(s["name"] for s in self.slices[:10]) or "(none)"
            raise ParameterError(f"No slice named {name!r} in this report. Known slices: {known}.")
        s = match[0]
        feats = list(dict.fromkeys(s["drivers"] + list(self.to_frame()["feature"])))[:top][::-1]
        y = np.arange(len(feats))
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(feats) + 1.5))
        ax.barh(y - 0.25, [s["global_share"][f] for f in feats], height=0.25, label="all rows")
        if s["share"]:
            ax.barh(y, [s["share"][f] for f in feats], height=0.25, label="slice")
        if s["error_share"]:
            ax.barh(y + 0.25, [s["error_share"][f] for f in feats], height=0.25, label="slice errors")
        ax.set_yticks(y, feats)
        ax.set_xlabel("share of mean |SHAP|")
        ax.set_title(f"{s['name']}: {s['description']}"[:90], fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig

    # -- HTML -----------------------------------------------------------------------------
    def _html_body(self) -> str:
        st = self.settings
        body = [
            section(
                "Global importance",
                f'<p class="note">{escape(self.explainer)} explainer on {len(self.rows)} of {self.n_total} rows '
                f"({escape(self.explainer_reason)}); each row explained for its {escape(self.target)} class. "
                f"Additivity error: {self.additivity_error if self.additivity_error is not None else float('nan'):.3g}"
                ".</p>",
                figure_html(self.plot_summary(), "mean |SHAP| and per-row values"),
                frame_html(self.to_frame()),
            )
        ]
        if self.sensitive:
            rule = (
                f"Flagged when the share of attribution is at least {st.get('sensitive_share', 0.1):g} "
                f"or the rank is within the top {st.get('sensitive_top_k', 3)}, and setting the feature to its "
                f"other values (or permuting it) changes at least {st.get('effect_threshold', EFFECT_THRESHOLD):g} "
                "of the predictions."
            )
            body.append(
                section("Sensitive features", f'<p class="note">{escape(rule)}</p>', frame_html(self.sensitive_frame()))
            )
        if self.slices:
            parts = []
            for s in self.slices:
                parts.append(
                    f"<h3>{escape(s['name'])}</h3><p>{escape(s['description'])}: {s['n_rows']} explained rows"
                    + (f", {s['n_errors']} errors" if s["n_errors"] is not None else "")
                    + f". Drivers: {escape(', '.join(s['drivers']) or '(none)')}.</p>"
                )
                if s["n_rows"]:
                    parts.append(figure_html(self.plot_slice(s["name"]), f"attribution in {s['name']}"))
            body.append(section("Slices", *parts))
        return "".join(body)

    def to_html(self, path: Any = None) -> str:
        """Self-contained HTML (plots inlined); written atomically to ``path`` when given."""
        doc = html_document("SHAP report", self._html_body())
        if path is not None:
            atomic_write_text(path, doc)
        return doc

    def _repr_html_(self) -> str:
        return self._html_body()






# -- inputs -----------------------------------------------------------------------------------
def _as_frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise DataError(f"X must be a DataFrame or a 2-d array (rows x features). Got shape {arr.shape} instead.")
        frame = pd.DataFrame(arr, columns=[f"f{i}" for i in range(arr.shape[1])])
    check_columns(frame, "X", "explain")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"X is empty (shape {frame.shape}). Pass at least 2 rows to explain.")
    if frame.shape[0] < 2:
        raise DataError(
            "X has a single row; explain needs at least 2 rows to estimate global importance. Pass more rows."
        )
    return frame


def _model_columns(model: Any, frame: pd.DataFrame) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return [str(c) for c in frame.columns]
    names = [str(c) for c in names]
    missing = [c for c in names if c not in frame.columns]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise DataError(
            f"X lacks {len(missing)} column(s) the model was fitted on ({shown}). Pass X with the model's feature columns."
        )
    return names


def _check_finite_frame(frame: pd.DataFrame) -> None:
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            arr = col.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = int((~np.isfinite(arr)).sum())
            if bad:
                raise DataError(f"X column {c!r} contains {bad} NaN or inf value(s). Remove or impute them first.")
        elif col.isna().any():
            raise DataError(f"X column {c!r} has {int(col.isna().sum())} missing value(s). Fill them first.")


def _is_tree_model(model: Any) -> bool:
    mod = type(model).__module__
    return any(mod.startswith(m) for m in _TREE_MODULES) and (
        hasattr(model, "estimators_")
        or hasattr(model, "tree_")
        or hasattr(model, "_predictors")
        or hasattr(model, "get_booster")
        or hasattr(model, "booster_")
    )


def _slice_masks(slices: Any, X: pd.DataFrame, n: int) -> list[tuple[str, str, np.ndarray]]:
    if slices is None:
        return []
    if isinstance(slices, Mapping):
        items = list(slices.items())
    elif isinstance(slices, (Slice, np.ndarray)):
        items = [(None, slices)]
    else:
        items = [(None, s) for s in slices]
    out = []
    for k, (name, s) in enumerate(items):
        if isinstance(s, Slice):
            if s.definition.get("kind") == "indices":
                if s.n_analysed != n:
                    raise DataError(
                        f"Slice {s.id!r} is defined by row positions of a set of {s.n_analysed} rows, but X has {n}. "
                        "Pass a mask for X, or a slice with a rule definition."
                    )
                mask = s.mask()
            else:
                mask = np.asarray(s.contains(features=X), dtype=bool)
            out.append((str(name) if name is not None else s.id, s.description, mask))
            continue
        mask = np.asarray(s)
        if mask.dtype != bool or mask.ndim != 1:
            raise DataError(
                f"slices[{k}] must be a Slice or a 1-d boolean mask over the rows of X. "
                f"Got dtype {mask.dtype} and shape {mask.shape} instead."
            )
        if mask.shape[0] != n:
            raise DataError(
                f"Inputs differ in length (slices[{k}]={mask.shape[0]}, X={n}). Pass one mask entry per row of X."
            )
        label = str(name) if name is not None else f"mask-{k}"
        out.append((label, label, mask))
    return out


def _is_count(value, low: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low


def _check_explain_params(X, *, sensitive, max_rows, background, errors, y, target, explainer, n_permutations,
                          sensitive_share, effect_threshold=EFFECT_THRESHOLD):
    """Validate explain's arguments; return (frame, sensitive, errors, y) in working form."""
    check_choice(target, "explained_class", "explain", ("predicted", "true"))
    check_choice(explainer, "explainer", "explain", ("auto", "tree", "permutation"))
    frame = _as_frame(X)
    n = len(frame)
    if isinstance(sensitive, str):
        sensitive = (sensitive,)
    sensitive = [str(s) for s in sensitive]
    missing = [s for s in sensitive if s not in frame.columns]
    if missing:
        avail = ", ".join(map(str, list(frame.columns)[:20])) + (", ..." if frame.shape[1] > 20 else "")
        raise DataError(
            f"Sensitive column(s) {', '.join(repr(m) for m in missing)} not in X. Available columns: {avail}."
        )
    if max_rows is not None and not _is_count(max_rows, 2):
        raise ParameterError(
            f"The 'max_rows' parameter of explain must be an int >= 2 or None. Got {max_rows!r} instead."
        )
    if not _is_count(background, 1):
        raise ParameterError(f"The 'background' parameter of explain must be an int >= 1. Got {background!r} instead.")
    if not _is_count(n_permutations, 1):
        raise ParameterError(
            f"The 'n_permutations' parameter of explain must be an int >= 1. Got {n_permutations!r} instead."
        )
    if not isinstance(effect_threshold, (int, float)) or not 0.0 < float(effect_threshold) <= 1.0:
        raise ParameterError(
            f"The 'effect_threshold' parameter of explain must be a float in the range (0.0, 1.0]. "
            f"Got {effect_threshold!r} instead."
        )
    if not 0.0 < float(sensitive_share) <= 1.0:
        raise ParameterError(
            f"The 'sensitive_share' parameter of explain must be a float in the range (0.0, 1.0]. Got {sensitive_share!r} instead."
        )
    if errors is not None:
        errors = np.asarray(errors)
        if errors.ndim != 1 or errors.shape[0] != n:
            raise DataError(
                f"Inputs differ in length (errors={errors.shape[0] if errors.ndim else 0}, X={n}). Pass one error flag per row of X."
            )
        errors = errors.astype(bool)
    if y is not None:
        y = check_labels(y, "y", "explain")
        if y.shape[0] != n:
            raise DataError(f"Inputs differ in length (y={y.shape[0]}, X={n}). Pass one label per row of X.")
    if target == "true" and y is None:
        raise ParameterError(
            "explained_class='true' explains each row's true class and needs y=. "
            "Pass y= or use explained_class='predicted'."
        )
    return frame, sensitive, errors, y


def _is_hgb_categorical(model: Any) -> bool:
    cat = getattr(model, "is_categorical_", None)
    return type(model).__name__.startswith("HistGradientBoosting") and cat is not None and bool(np.any(cat))


def _tree_choice(model: Any, explainer: str) -> tuple[bool, str]:
    """(try shap's TreeExplainer first, why this explainer)."""
    if explainer == "permutation":
        return False, "explainer='permutation' requested"
    if _is_hgb_categorical(model):
        if explainer == "tree":
            raise ParameterError(
                "shap.TreeExplainer cannot represent the native categorical splits of "
                f"{type(model).__name__} (its values are not additive). Use explainer='auto' or 'permutation'."
            )
        return False, "TreeExplainer cannot represent HistGradientBoosting native categorical splits"
    if explainer == "tree":
        return True, "explainer='tree' requested"
    if _is_tree_model(model):
        return True, "tree model"
    return False, f"{type(model).__name__} is not a tree model shap.TreeExplainer reads: model-agnostic explainer"


def _pick_rows(n: int, cap: int | None, random_state: Any) -> np.ndarray:
    """The rows to explain: all, or a seeded sample of ``cap``."""
    rng = check_random_state(child_seed(random_state, "explain", "rows"))
    return np.arange(n) if cap is None or cap >= n else np.sort(rng.choice(n, cap, replace=False))


def _tree_values(model, Xs, *, explainer):
    """(values, base) from shap.TreeExplainer, or None when it cannot read the model."""
    try:
        shap = import_optional("shap")
        tree = shap.TreeExplainer(model)
        values = np.asarray(tree.shap_values(Xs, check_additivity=False), dtype=np.float64)
        return values, np.asarray(tree.expected_value, dtype=np.float64).reshape(-1)
    except Exception as exc:  # shap raises bare Exceptions for unsupported models
        if explainer == "tree":
            raise ParameterError(
                f"shap.TreeExplainer cannot explain {type(model).__name__} ({exc}). Use explainer='permutation'."
            ) from exc
        logger.info("TreeExplainer cannot explain %s (%s); using the permutation explainer", type(model).__name__, exc)
        return None


def _raw_margin(model: Any, Xs: pd.DataFrame) -> Any:
    """The raw (margin) output TreeExplainer explains for boosted classifiers; None for forests and
    single trees (whose TreeExplainer output is the probability)."""
    name = type(model).__name__
    if "Forest" in name or "Trees" in name or name.startswith("DecisionTree"):
        return None
    if hasattr(model, "decision_function"):
        return model.decision_function(Xs)
    if hasattr(model, "get_booster"):
        return model.predict(Xs, output_margin=True)
    if hasattr(model, "booster_"):
        return model.predict(Xs, raw_score=True)
    return None


def _model_output(model, Xs, *, used, is_clf, classes, explained_class) -> np.ndarray:
    """The model's own output for each row's explained class, in the explainer's units."""
    if not is_clf:
        return np.asarray(model.predict(Xs), dtype=np.float64).reshape(-1)
    lookup = {plain_value(c): i for i, c in enumerate(classes)}
    cls_idx = np.array([lookup[c] for c in explained_class], dtype=np.int64)
    ar = np.arange(len(Xs))
    raw = _raw_margin(model, Xs) if used == "tree" else None
    if raw is not None:
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim == 1 or raw.shape[1] == 1:
            raw = raw.reshape(-1)
            return np.where(cls_idx == 1, raw, -raw)
        return raw[ar, cls_idx]
    return np.asarray(model.predict_proba(Xs), dtype=np.float64)[ar, cls_idx]


def _additivity(model, Xs, chosen, base_rows, explained_class, **kw) -> tuple[float, float]:
    """(max |base + sum(values) - model output| over the rows, standard deviation of that output);
    (inf, nan) when the model's output cannot be recomputed in the explainer's units."""
    try:
        out = _model_output(model, Xs, explained_class=explained_class, **kw)
    except Exception as exc:  # a third-party model without the raw output we need: treat as unchecked
        logger.info("cannot recompute %s's output for the additivity check (%s)", type(model).__name__, exc)
        return float("inf"), float("nan")
    err = np.abs(np.asarray(base_rows, dtype=np.float64) + chosen.sum(axis=1) - out)
    return float(err.max()), float(np.std(out))


def _faithful_values(model, frame, *, explainer, max_rows, background, n_permutations, random_state, is_clf,
                     classes, target, y):
    """SHAP values checked for additivity; TreeExplainer values that fail fall back to permutation SHAP.

    Returns (cols, rows, Xs, chosen, base_rows, explained_class, explainer used, why, additivity error)."""
    cols = _model_columns(model, frame)
    Xm = frame[cols]
    _check_finite_frame(Xm)
    use_tree, reason = _tree_choice(model, explainer)
    for tree in (True, False) if use_tree else (False,):
        cap = max_rows if max_rows is not None else (None if tree else AGNOSTIC_MAX_ROWS)
        rows = _pick_rows(len(frame), cap, random_state)
        Xs = Xm.iloc[rows]
        got = _tree_values(model, Xs, explainer=explainer) if tree else None
        if tree and got is None:
            reason = f"TreeExplainer cannot read {type(model).__name__}"
            continue
        if got is None:
            got = _permutation_values(
                model, Xm, Xs, is_clf=is_clf, background=background, n_permutations=n_permutations,
                seed=child_seed(random_state, "explain", "background"),
            )
        values, base = np.asarray(got[0], dtype=np.float64), np.asarray(got[1], dtype=np.float64)
        chosen, base_rows, ecls = _choose_class(
            model, Xs, values, base, classes=classes, is_clf=is_clf, target=target, y=y, rows=rows
        )
        used = "tree" if tree else "permutation"
        err, spread = _additivity(model, Xs, chosen, base_rows, ecls, used=used, is_clf=is_clf, classes=classes)
        if not tree or err <= ADDITIVITY_TOLERANCE * max(spread, 1e-6):
            return cols, rows, Xs, chosen, base_rows, ecls, used, reason, err
        reason = (
            f"TreeExplainer values not additive (max error {err:.3g}, output spread {spread:.3g}); "
            "model-agnostic permutation explainer used"
        )
        logger.warning("explain: %s", reason)
    raise AssertionError("unreachable: the permutation pass always returns")


def _choose_class(model, Xs, values, base, *, classes, is_clf, target, y, rows):
    """One class per row: (attributions (rows, features), base value per row, explained class per row)."""
    if not is_clf:
        chosen = values.reshape(len(rows), -1)
        base_rows = np.broadcast_to(base.reshape(-1)[:1] if base.size else np.zeros(1), (len(rows),)).astype(np.float64)
        return chosen, base_rows, [None] * len(rows)
    k = len(classes)
    if values.ndim == 2:
        if k != 2:
            raise DataError(
                f"The explainer returned one output for a {k}-class model. Use explainer='permutation'."
            )
        values = np.stack([-values, values], axis=2)
        b = base.reshape(-1)[-1] if base.ndim else float(base)
        base = np.array([-b, b])
    if target == "predicted":
        proba = np.asarray(model.predict_proba(Xs))
        cls_idx = proba.argmax(axis=1)
    else:
        lookup = {c: i for i, c in enumerate(classes.tolist())}
        ys = y[rows]
        unknown = [v for v in np.unique(ys).tolist() if v not in lookup]
        if unknown:
            raise DataError(
                f"y has {len(unknown)} label(s) the model does not know. Pass labels from model.classes_."
            )
        cls_idx = np.array([lookup[v] for v in ys.tolist()], dtype=np.int64)
    chosen = values[np.arange(len(rows)), :, cls_idx]
    base_rows = (
        base.reshape(-1, k)[0][cls_idx]
        if base.size == k
        else base.reshape(len(rows), k)[np.arange(len(rows)), cls_idx]
    )
    return chosen, base_rows, [plain_value(classes[i]) for i in cls_idx]


def _global_importance(chosen: np.ndarray):
    """(|attributions|, mean |attribution| per feature, each feature's share of the total)."""
    abs_vals = np.abs(chosen)
    imp = abs_vals.mean(axis=0)
    total = imp.sum()
    return abs_vals, imp, imp / total if total > 0 else np.zeros_like(imp)


def _effect_share(model, Xm: pd.DataFrame, Xs: pd.DataFrame, col: str, *, is_clf: bool, seed: int) -> float:
    """Share of the explained rows whose prediction changes when ``col`` is set to each of its other
    values (features with at most ``EFFECT_MAX_VALUES`` distinct values in ``X``), or permuted across
    the rows (seeded) otherwise. Classifiers: the predicted class changes; regressors: the
    prediction moves by more than 5 % of its standard deviation."""
    ref = np.asarray(model.predict(Xs))
    scale = 0.0 if is_clf else 0.05 * float(np.std(ref.astype(np.float64)))

    def changed(Z: pd.DataFrame) -> np.ndarray:
        out = np.asarray(model.predict(Z))
        return out != ref if is_clf else np.abs(out.astype(np.float64) - ref.astype(np.float64)) > scale

    levels = pd.unique(Xm[col])
    hit = np.zeros(len(Xs), dtype=bool)
    if len(levels) <= EFFECT_MAX_VALUES:
        for v in levels:
            Z = Xs.copy()
            Z[col] = pd.Series([v] * len(Z), index=Z.index).astype(Xs[col].dtype)
            hit |= changed(Z)
    else:
        Z = Xs.copy()
        Z[col] = Xs[col].to_numpy()[np.random.default_rng(seed).permutation(len(Xs))]
        hit = changed(Z)
    return float(hit.mean())


def _sensitive_rows(sensitive, cols, imp, abs_vals, global_share, sensitive_share, sensitive_top_k, effects,
                    effect_threshold):
    """One entry per sensitive feature: its share, rank, effect and whether attribution and effect agree."""
    order = np.argsort(-imp, kind="mergesort")
    rank_of = {cols[j]: r + 1 for r, j in enumerate(order)}
    top_feature = abs_vals.argmax(axis=1)
    sens_out = []
    for s in sensitive:
        if s not in cols:
            sens_out.append(
                {
                    "feature": s,
                    "used_by_model": False,
                    "rank": None,
                    "share": 0.0,
                    "top_rate": 0.0,
                    "effect_share": 0.0,
                    "flagged": False,
                    "reason": "not a model input",
                }
            )
            continue
        j = cols.index(s)
        share, rank, effect = float(global_share[j]), int(rank_of[s]), float(effects[s])
        by_share, by_rank = share >= sensitive_share, rank <= sensitive_top_k
        attribution = (
            " and ".join(
                r
                for r, ok in (
                    (f"share {share:.2f} >= {sensitive_share:g}", by_share),
                    (f"rank {rank} within the top {sensitive_top_k}", by_rank),
                )
                if ok
            )
            or f"share {share:.2f} < {sensitive_share:g} and rank {rank} > {sensitive_top_k}"
        )
        by_effect = effect >= effect_threshold
        cmp = ">=" if by_effect else "<"
        reason = f"{attribution}; changing it changes {effect:.1%} of predictions ({cmp} {effect_threshold:.0%})"
        if (by_share or by_rank) and not by_effect:
            reason += ": attribution not confirmed by effect"
        sens_out.append(
            {
                "feature": s,
                "used_by_model": True,
                "rank": rank,
                "share": share,
                "top_rate": float(np.mean(top_feature == j)),
                "effect_share": effect,
                "flagged": bool((by_share or by_rank) and by_effect),
                "reason": reason,
            }
        )
    return sens_out


def _share(imp: np.ndarray) -> np.ndarray:
    return imp / imp.sum() if imp.sum() > 0 else imp


def _slice_rows(masks, rows, cols, abs_vals, global_share, errors):
    """One entry per slice: attribution shares inside it (and on its errors) and the features driving it."""
    slice_out = []
    gshare = dict(zip(cols, global_share.tolist()))
    for name, desc, mask in masks:
        m = mask[rows]
        entry: dict[str, Any] = {
            "name": name,
            "description": desc,
            "n_rows": int(m.sum()),
            "n_total": int(mask.sum()),
            "n_errors": None,
            "global_share": gshare,
            "share": {},
            "error_share": {},
            "importance": {},
            "drivers": [],
        }
        if m.any():
            s_imp = abs_vals[m].mean(axis=0)
            entry["importance"] = dict(zip(cols, s_imp.tolist()))
            entry["share"] = dict(zip(cols, _share(s_imp).tolist()))
            ref = entry["share"]
            if errors is not None:
                em = m & errors[rows]
                entry["n_errors"] = int(em.sum())
                if em.any():
                    entry["error_share"] = dict(zip(cols, _share(abs_vals[em].mean(axis=0)).tolist()))
                    ref = entry["error_share"]
            lift = np.array([ref[c] - gshare[c] for c in cols])
            entry["drivers"] = [cols[j] for j in np.argsort(-lift, kind="mergesort")[:3] if lift[j] > 0]
        slice_out.append(entry)
    return slice_out


def _numeric_data(Xs: pd.DataFrame, cols: list) -> np.ndarray:
    """The explained rows' feature values as floats (NaN for non-numeric columns)."""
    data = np.full((len(Xs), len(cols)), np.nan)
    for j, c in enumerate(cols):
        col = Xs[c]
        if pd.api.types.is_numeric_dtype(col.dtype):
            data[:, j] = col.to_numpy(dtype=np.float64)
    return data


# -- explain ----------------------------------------------------------------------------------
def explain(
    model: Any,
    X: Any,
    *,
    sensitive: Sequence[str] | str = (),
    slices: Any = None,
    max_rows: int | None = None,
    background: int = 100,
    random_state: int = 0,
    errors: Any = None,
    y: Any = None,
    explained_class: str = "predicted",
    explainer: str = "auto",
    n_permutations: int = 2,
    sensitive_share: float = 0.10,
    sensitive_top_k: int = 3,
    effect_threshold: float = EFFECT_THRESHOLD,
    target: Any = UNSET,
) -> ShapReport:
    """SHAP attributions of ``model`` on ``X`` (see the module docstring for the rules).

    Parameters
    ----------
    model : a fitted scikit-learn estimator (or any object with ``predict_proba`` / ``predict``).
    X : DataFrame (or 2-d array, columns ``f0..``) of the rows to explain.
    sensitive : column names of ``X`` to check (e.g. ``("sex", "race")``).
    slices : Slices (re-applied with ``contains(features=X)``), boolean masks, or name -> mask.
    max_rows : most rows explained (a seeded sample); None: all rows for trees,
        ``AGNOSTIC_MAX_ROWS`` for the permutation explainer.
    background : background rows for the permutation explainer.
    errors : per-row booleans (misclassified) over ``X``: slices then report error drivers.
    y : true labels, needed for ``explained_class="true"``.
    explained_class : ``"predicted"`` or ``"true"``: the class each row is explained for
        (``target=`` is the old name, deprecated).
    explainer : ``"auto"``, ``"tree"`` or ``"permutation"``.
    n_permutations : random feature orders per row for the permutation explainer, each also
        walked backwards (cost per row: ``2 * n_permutations * (p + 1) * background`` predictions).
    sensitive_share, sensitive_top_k : the attribution half of the flag rule for sensitive features.
    effect_threshold : the effect half: least share of explained rows whose prediction changes
        when the feature is set to its other values (or permuted); both halves must agree.
    """
    target = renamed("explain", "target", "explained_class", target, explained_class, default="predicted")
    check_fitted(model, "explain")
    frame, sensitive, errors, y = _check_explain_params(
        X, sensitive=sensitive, max_rows=max_rows, background=background, errors=errors, y=y, target=target,
        explainer=explainer, n_permutations=n_permutations, sensitive_share=sensitive_share,
        effect_threshold=effect_threshold,
    )
    n = len(frame)
    masks = _slice_masks(slices, frame, n)
    classes = getattr(model, "classes_", None)
    is_clf = hasattr(model, "predict_proba") and classes is not None
    cols, rows, Xs, chosen, base_rows, explained_class, used, why, add_err = _faithful_values(
        model, frame, explainer=explainer, max_rows=max_rows, background=background, n_permutations=n_permutations,
        random_state=random_state, is_clf=is_clf, classes=classes, target=target, y=y,
    )
    if chosen.shape[1] != len(cols):
        raise DataError(f"The explainer returned {chosen.shape[1]} attributions per row for {len(cols)} features.")
    abs_vals, imp, global_share = _global_importance(chosen)
    effects = {s: _effect_share(model, frame[cols], Xs, s, is_clf=is_clf, seed=child_seed(random_state, "effect", s))
               for s in sensitive if s in cols}
    return ShapReport(
        feature_names=cols,
        values=chosen,
        base_values=np.asarray(base_rows, dtype=np.float64), data=_numeric_data(Xs, cols), rows=rows.astype(np.int64),
        explained_class=explained_class, explainer=used, explainer_reason=why, additivity_error=add_err,
        target=target, n_total=n,
        importance={c: float(v) for c, v in zip(cols, imp)},
        slices=_slice_rows(masks, rows, cols, abs_vals, global_share, errors),
        sensitive=_sensitive_rows(
            sensitive, cols, imp, abs_vals, global_share, sensitive_share, sensitive_top_k, effects, effect_threshold
        ),
        settings={
            "max_rows": max_rows, "background": int(background), "random_state": random_state,
            "sensitive_share": float(sensitive_share), "sensitive_top_k": int(sensitive_top_k),
            "effect_threshold": float(effect_threshold), "additivity_tolerance": ADDITIVITY_TOLERANCE,
            "n_permutations": int(n_permutations),
        },
    )


def _permutation_values(model, Xm, Xs, *, is_clf, background, n_permutations, seed):
    """Permutation SHAP values against an independent background sample.

    The estimator of ``shap.PermutationExplainer`` (antithetic permutations: each sampled
    order is also walked backwards), written with numpy so it needs no numba JIT (which
    costs shap 10-25 s in every fresh process). For each row and order, features are switched
    from background values to the row's values one at a time and each step's change of the
    background-averaged output is credited to the switched feature; the attributions add up
    exactly to ``f(x) - mean(f(background))``.
    """
    cols = list(Xm.columns)
    dtypes = Xm.dtypes
    p = len(cols)
    rng = np.random.default_rng(seed)
    bg_idx = np.sort(rng.choice(len(Xm), min(background, len(Xm)), replace=False))
    predict = model.predict_proba if is_clf else getattr(model, "predict", None)
    if predict is None:
        raise ParameterError(
            f"{type(model).__name__} has neither predict_proba nor predict. Pass a fitted classifier or regressor."
        )
    as_object = not all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in dtypes)
    to_arr = (lambda fr: fr.to_numpy(dtype=object)) if as_object else (lambda fr: fr.to_numpy(dtype=np.float64))
    bg = to_arr(Xm.iloc[bg_idx])
    data = to_arr(Xs)
    B = bg.shape[0]

    def f(Z):
        frame = pd.DataFrame(Z, columns=cols)
        if as_object:
            frame = frame.astype(dtypes.to_dict())
        out = np.asarray(predict(frame), dtype=np.float64)
        return out.reshape(len(Z), -1)

    base = f(bg).mean(axis=0)
    n_out = base.shape[0]
    orders_per_row = 2 * n_permutations
    steps = p + 1
    per_row = orders_per_row * steps * B
    block = max(1, 200_000 // per_row)
    values = np.zeros((len(data), p, n_out))
    for start in range(0, len(data), block):
        rows = data[start : start + block]
        R = len(rows)
        perms = np.empty((R, orders_per_row, p), dtype=np.int64)
        for r in range(R):
            for k in range(n_permutations):
                perm = rng.permutation(p)
                perms[r, 2 * k] = perm
                perms[r, 2 * k + 1] = perm[::-1]
        # on[r, o, s, j]: feature j comes from the row at step s of order o
        position = np.argsort(perms, axis=2)  # position of each feature in the order
        on = position[:, :, None, :] < np.arange(steps)[None, None, :, None]
        Z = np.where(on[:, :, :, None, :], rows[:, None, None, None, :], bg[None, None, None, :, :])
        out = f(Z.reshape(-1, p)).reshape(R, orders_per_row, steps, B, n_out).mean(axis=3)
        delta = np.diff(out, axis=2)  # (R, O, p, n_out): gain of the feature switched at each step
        contrib = np.zeros((R, orders_per_row, p, n_out))
        np.put_along_axis(contrib, perms[..., None], delta, axis=2)
        values[start : start + R] = contrib.mean(axis=1)
    if n_out == 1:
        values = values[:, :, 0]
    return values, base
