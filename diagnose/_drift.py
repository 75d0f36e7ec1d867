"""Drift between old (reference) and new (current) data, and when to retrain.

:func:`drift` runs, per feature, a two-sample test (Kolmogorov-Smirnov for numeric columns,
chi-square on the level counts for categorical ones) and the Population Stability Index
(PSI; numeric columns on the reference's quantile bins, categorical ones on their levels),
with Benjamini-Hochberg q-values over the features. A feature *drifts* when its q-value is
below ``alpha``. PSI is reported with the usual reading: below 0.1 stable, 0.1-0.25
moderate, above 0.25 major.

It also trains a *domain classifier* (gradient boosting) to tell reference rows from current
rows. Its cross-validated ROC AUC is 0.5 when the two sets are exchangeable; the 95%
confidence interval comes from DeLong's variance of the out-of-fold scores, and the domain
test declares drift when the interval's lower bound exceeds ``0.5 + margin``. This catches
shifts in the joint distribution that no single feature shows.

:func:`should_retrain` combines a performance threshold, drift, a retraining interval and a
manual override into one :class:`Decision` with readable reasons.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.html import escape, figure_html, frame_html, html_document, section
from curakit.io import atomic_write_text
from curakit.records import check_schema_version, json_ready
from curakit.seeds import child_seed
from curakit.validation import check_columns

from ._stats import bh_adjust

__all__ = ["Decision", "DriftReport", "delong_auc", "drift", "psi", "should_retrain"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_EPS = 1e-4


# -- statistics -------------------------------------------------------------------------------
def psi(reference_shares: Any, current_shares: Any, eps: float = _EPS) -> float:
    """Population Stability Index ``sum((c - r) * ln(c / r))`` of two share vectors over the same bins."""
    r = np.clip(np.asarray(reference_shares, dtype=np.float64), eps, None)
    c = np.clip(np.asarray(current_shares, dtype=np.float64), eps, None)
    return float(np.sum((c - r) * np.log(c / r)))


def _psi_level(value: float) -> str:
    return "stable" if value < 0.1 else ("moderate" if value < 0.25 else "major")


def delong_auc(y: Any, scores: Any, z: float = 1.959963984540054) -> tuple[float, float, float, float]:
    """ROC AUC with DeLong's variance (fast midrank form, Sun & Xu 2014).

    Returns ``(auc, standard_error, ci_low, ci_high)`` for binary ``y`` (1 = positive).
    """
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = s[y], s[~y]
    m, n = pos.size, neg.size
    if m < 2 or n < 2:
        raise DataError(f"DeLong's AUC needs at least 2 rows of each class. Got {m} and {n}.")
    tz = rankdata(np.concatenate([pos, neg]))
    tx, ty = rankdata(pos), rankdata(neg)
    auc = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    var = v10.var(ddof=1) / m + v01.var(ddof=1) / n
    se = math.sqrt(max(var, 0.0))
    return float(auc), se, float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se))


# -- input handling ---------------------------------------------------------------------------
def _as_frame(data: Any, name: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        frame = data
    else:
        arr = np.asarray(data)
        if arr.ndim != 2:
            raise DataError(
                f"{name} must be a DataFrame or a 2-d array (rows x features, e.g. embeddings). "
                f"Got shape {arr.shape} instead."
            )
        frame = pd.DataFrame(arr, columns=[f"f{i}" for i in range(arr.shape[1])])
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{name} is empty (shape {frame.shape}). Pass at least 2 rows and 1 column.")
    if frame.shape[0] < 2:
        raise DataError(f"{name} has a single row; drift tests need at least 2 rows in each set. Pass more rows.")
    return frame


def _is_cat(col: pd.Series) -> bool:
    return (
        isinstance(col.dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(col.dtype)
        or pd.api.types.is_object_dtype(col.dtype)
        or pd.api.types.is_string_dtype(col.dtype)
    )


def _check_column(col: pd.Series, name: str, which: str, categorical: bool) -> None:
    if categorical:
        if col.isna().any():
            raise DataError(
                f"{which} column {name!r} has {int(col.isna().sum())} missing value(s). "
                "Fill them (e.g. with a 'missing' level) before testing drift."
            )
        return
    if not pd.api.types.is_numeric_dtype(col.dtype):
        raise DataError(
            f"{which} column {name!r} has dtype {col.dtype}, which is neither numeric nor categorical. "
            "Convert it, or name it in categorical=."
        )
    arr = col.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(arr).all():
        raise DataError(
            f"{which} column {name!r} contains {int((~np.isfinite(arr)).sum())} NaN or inf value(s). "
            "Remove or impute them first."
        )


# -- the report -------------------------------------------------------------------------------
_FEATURE_COLUMNS = [
    "feature",
    "kind",
    "test",
    "statistic",
    "p_value",
    "q_value",
    "psi",
    "psi_level",
    "drifted",
    "reference_mean",
    "current_mean",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftReport:
    """Per-feature drift tests and the domain-classifier test between two data sets.

    ``features``: one dict per feature (see :meth:`to_frame`); ``domain``: the domain
    classifier's AUC, its DeLong 95% interval, the margin and its verdict (None when skipped);
    ``drifted``: any feature drifts or the domain test fires. ``bins`` keeps, per feature, the
    bins and shares behind the PSI (for plots). ``where``: the top coverage regions (readable
    rules, from :func:`diagnose._coverage.coverage_regions`) where the current rows live that the
    reference rows did not (``direction="under_represented"``) or that vanished
    (``"vanished"``), each with both shares, their Wilson intervals and the ratio.
    """

    features: list[dict[str, Any]]
    domain: dict[str, Any] | None
    alpha: float
    n_reference: int
    n_current: int
    drifted: bool
    bins: dict[str, dict[str, Any]] = field(default_factory=dict)
    where: list[dict[str, Any]] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    @property
    def new_regions(self) -> list[dict[str, Any]]:
        """The regions of :attr:`where` that are under-represented in the reference data."""
        return [r for r in self.where if r["direction"] == "under_represented"]

    @property
    def drifted_features(self) -> list[str]:
        return [f["feature"] for f in self.features if f["drifted"]]

    def summary(self) -> str:
        parts = [f"{len(self.drifted_features)} of {len(self.features)} feature(s) drift (q < {self.alpha:g})"]
        if self.drifted_features:
            parts[0] += ": " + ", ".join(self.drifted_features[:8]) + ("..." if len(self.drifted_features) > 8 else "")
        if self.domain is not None:
            d = self.domain
            parts.append(
                f"domain classifier AUC {d['auc']:.3f} [{d['ci_low']:.3f}, {d['ci_high']:.3f}]"
                + (" > " if d["drifted"] else " not > ")
                + f"{0.5 + d['margin']:.2f}"
            )
        if self.new_regions:
            parts.append("new data lives where the old did not: " + self.new_regions[0]["description"])
        bounds = [f["ks_error"] for f in self.features if "ks_error" in f]
        if bounds:  # the Dask path: say what the statistics rest on
            parts.append(f"KS statistics from quantile sketches: each exact statistic is at most {max(bounds):.2g} "
                         "above the one reported (per feature: ks_error)")
        if self.domain is not None and self.domain.get("sample"):
            parts.append(f"domain classifier on {self.domain['sample']}")
        return "; ".join(parts) + "."

    def to_frame(self) -> pd.DataFrame:
        """One row per feature, most drifted (lowest q, then highest PSI) first."""
        extra = [k for k in ("ks_error",) if any(k in f for f in self.features)]  # Dask path: the KS bound
        frame = pd.DataFrame(self.features, columns=_FEATURE_COLUMNS + extra)
        return frame.sort_values(["q_value", "psi"], ascending=[True, False], kind="mergesort").reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "features": [dict(f) for f in self.features],
            "domain": None if self.domain is None else dict(self.domain),
            "alpha": self.alpha,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "drifted": self.drifted,
            "bins": {k: dict(v) for k, v in self.bins.items()},
            "where": [dict(r) for r in self.where],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReport:
        check_schema_version(data, "DriftReport", SCHEMA_VERSION, fix="Re-run diagnose.drift with this version.")
        d = dict(data)
        d.pop("schema_version", None)
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(json_ready(self.to_dict()), sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> DriftReport:
        return cls.from_dict(json.loads(text))

    def plot(self, *, top: int = 6):
        """A figure: PSI per feature, then reference vs current shares of the ``top`` most drifted."""
        plt = import_plt()
        frame = self.to_frame()
        shown = frame.head(top)
        ncols = 1 + len(shown)
        fig, axes = plt.subplots(1, ncols, figsize=(3.2 * ncols, 3.0), squeeze=False)
        ax = axes[0, 0]
        order = frame.sort_values("psi").tail(20)
        colors = ["#c0392b" if d else "#7f8c8d" for d in order["drifted"]]
        ax.barh(order["feature"].astype(str), order["psi"], color=colors)
        ax.axvline(0.1, ls=":", c="k", lw=0.8)
        ax.axvline(0.25, ls="--", c="k", lw=0.8)
        ax.set_title("PSI (red: q < alpha)")
        for ax, (_, row) in zip(axes[0, 1:], shown.iterrows()):
            b = self.bins.get(str(row["feature"]))
            if not b:
                ax.axis("off")
                continue
            x = np.arange(len(b["labels"]))
            ax.bar(x - 0.2, b["reference"], width=0.4, label="reference")
            ax.bar(x + 0.2, b["current"], width=0.4, label="current")
            ax.set_xticks(x, b["labels"], rotation=60, fontsize=6)
            ax.set_title(f"{row['feature']} (PSI {row['psi']:.2f})", fontsize=9)
        axes[0, min(1, ncols - 1)].legend(fontsize=7)
        fig.tight_layout()
        return fig

    def _html_body(self) -> str:
        parts = [f"<p>{escape(self.summary())}</p>"]
        parts.append(
            f'<p class="note">{self.n_reference} reference rows, {self.n_current} current rows. '
            "KS (numeric) or chi-square (categorical) tests with Benjamini-Hochberg q-values; "
            "PSI below 0.1 stable, 0.1-0.25 moderate, above 0.25 major.</p>"
        )
        body = [section("Summary", *parts), section("Per-feature tests", frame_html(self.to_frame()))]
        if self.domain is not None:
            body.append(section("Domain classifier", frame_html(pd.DataFrame([self.domain]))))
        if self.where:
            cols = ["description", "share", "train_share", "ratio"]
            body.append(section("Where the data moved", frame_html(pd.DataFrame(self.where)[cols])))
        body.append(section("Plots", figure_html(self.plot(), "PSI per feature and the most drifted features")))
        return "".join(body)

    def to_html(self, path: Any = None) -> str:
        """The report as a self-contained HTML page; written atomically to ``path`` when given."""
        doc = html_document("Drift report", self._html_body())
        if path is not None:
            atomic_write_text(path, doc)
        return doc

    def _repr_html_(self) -> str:
        return self._html_body()

    def __repr__(self) -> str:
        return f"DriftReport(drifted={self.drifted}, {self.summary()})"


def import_plt():
    from curakit.optional import import_optional

    return import_optional("matplotlib.pyplot")






def _check_drift_params(reference, current, *, features, categorical, alpha, margin, n_bins, cv, max_rows):
    """Validate drift's arguments; return (reference frame, current frame, tested columns, forced categoricals)."""
    _check_scalars(alpha, margin, n_bins, cv, max_rows)
    ref = _as_frame(reference, "reference")
    cur = _as_frame(current, "current")
    if not isinstance(reference, pd.DataFrame) and not isinstance(current, pd.DataFrame) and ref.shape[1] != cur.shape[1]:
        raise DataError(
            f"reference has {ref.shape[1]} columns but current has {cur.shape[1]}. "
            "Pass arrays of the same width, or DataFrames with named columns."
        )
    check_columns(ref, "reference", "drift")  # a repeated column name would make ref[c] a table
    check_columns(cur, "current", "drift")
    cols, forced = _check_columns(ref.columns, cur.columns, features, categorical)
    return ref, cur, cols, forced


def _check_scalars(alpha, margin, n_bins, cv, max_rows) -> None:
    if not isinstance(alpha, (int, float)) or not 0.0 < float(alpha) < 1.0:
        raise ParameterError(
            f"The 'alpha' parameter of drift must be a float in the range (0.0, 1.0). Got {alpha!r} instead."
        )
    if not isinstance(margin, (int, float)) or not 0.0 <= float(margin) < 0.5:
        raise ParameterError(
            f"The 'margin' parameter of drift must be a float in the range [0.0, 0.5). Got {margin!r} instead."
        )
    for name, value, lo in (("n_bins", n_bins, 2), ("cv", cv, 2), ("max_rows", max_rows, 10)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < lo:
            raise ParameterError(f"The {name!r} parameter of drift must be an int >= {lo}. Got {value!r} instead.")


def _check_columns(ref_columns, cur_columns, features, categorical) -> tuple[list, set]:
    """(tested columns, forced categoricals), after checking both sets have them."""
    cols = list(ref_columns) if features is None else list(features)
    if not cols:
        raise ParameterError(
            "The 'features' parameter of drift must name at least one column. Got an empty list instead."
        )
    for which, columns in (("reference", ref_columns), ("current", cur_columns)):
        missing = [c for c in cols if c not in columns]
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
            raise DataError(
                f"{which} lacks {len(missing)} column(s) to test ({shown}). "
                "Pass both sets with the same columns, or choose columns with features=."
            )
    forced = set(categorical or ())
    unknown = forced - set(cols)
    if unknown:
        raise DataError(
            f"categorical names {len(unknown)} column(s) that are not tested ({', '.join(map(str, sorted(unknown, key=str)[:5]))}). "
            "Name columns of the data."
        )
    return cols, forced


def _feature_drift(ref_col: pd.Series, cur_col: pd.Series, c, *, is_cat: bool, n_bins: int):
    """One column's test (chi-squared or KS) and PSI: (table row without q-value, bins entry, p-value)."""
    from scipy.stats import ks_2samp

    if is_cat:
        r = ref_col.astype(str).to_numpy()
        k = cur_col.astype(str).to_numpy()
        levels = sorted(set(r.tolist()) | set(k.tolist()))
        rc = np.array([np.count_nonzero(r == v) for v in levels], dtype=np.float64)
        kc = np.array([np.count_nonzero(k == v) for v in levels], dtype=np.float64)
        return _categorical_row(c, levels, rc, kc)
    r = ref_col.to_numpy(dtype=np.float64)
    k = cur_col.to_numpy(dtype=np.float64)
    res = ks_2samp(r, k)
    edges = np.unique(np.quantile(r, np.linspace(0, 1, n_bins + 1)[1:-1]))
    rc = np.bincount(np.searchsorted(edges, r, side="right"), minlength=edges.size + 1).astype(np.float64)
    kc = np.bincount(np.searchsorted(edges, k, side="right"), minlength=edges.size + 1).astype(np.float64)
    return _numeric_row(c, float(res.statistic), float(res.pvalue), edges, rc, kc, float(r.mean()), float(k.mean()))


def _categorical_row(c, levels: list, rc: np.ndarray, kc: np.ndarray):
    """The chi-square test and PSI of one categorical column from its exact level counts."""
    from scipy.stats import chi2_contingency

    if len(levels) < 2:
        stat, p = 0.0, 1.0
    else:
        stat, p, _, _ = chi2_contingency(np.vstack([rc, kc]), correction=False)
    return _row(c, "chi2", stat, p, levels, rc / rc.sum(), kc / kc.sum(), None, None)


def _numeric_row(c, stat: float, p: float, edges: np.ndarray, rc: np.ndarray, kc: np.ndarray, ref_mean, cur_mean):
    """The KS result and PSI of one numeric column, from the counts in the bins cut at ``edges``."""
    labels = (
        [f"<= {edges[0]:.3g}"] + [f"({a:.3g}, {b:.3g}]" for a, b in zip(edges[:-1], edges[1:])] + [f"> {edges[-1]:.3g}"]
        if edges.size
        else ["all"]
    )
    return _row(c, "ks", stat, p, labels, rc / rc.sum(), kc / kc.sum(), ref_mean, cur_mean)


def _row(c, test, stat, p, labels, r_sh, k_sh, ref_mean, cur_mean):
    value = psi(r_sh, k_sh)
    row = {
        "feature": str(c),
        "kind": "numeric" if test == "ks" else "categorical",
        "test": test,
        "statistic": float(stat),
        "p_value": float(p),
        "psi": value,
        "psi_level": _psi_level(value),
        "reference_mean": ref_mean,
        "current_mean": cur_mean,
    }
    return row, {"labels": [str(v) for v in labels], "reference": r_sh.tolist(), "current": k_sh.tolist()}, float(p)


# -- drift ------------------------------------------------------------------------------------
def drift(
    reference: Any,
    current: Any,
    *,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    alpha: float = 0.05,
    random_state: int = 0,
    n_bins: int = 10,
    domain_classifier: bool = True,
    margin: float = 0.05,
    cv: int = 5,
    max_rows: int = 20_000,
    where: int = 5,
) -> DriftReport:
    """Test whether ``current`` rows come from the same distribution as ``reference`` rows.

    Parameters
    ----------
    reference, current : DataFrames with the same columns, or 2-d arrays (e.g. embeddings),
        whose columns are then named ``f0 .. f{d-1}``. Dask DataFrames (either or both) are
        tested partition-wise without collecting the data (``diagnose._drift_dask``): exact
        level counts for categorical columns (the same results as pandas), KS from quantile
        sketches with each feature's ``ks_error`` bound (the exact statistic lies in
        ``[statistic, statistic + ks_error]``), the domain classifier and ``where`` on a seeded
        sample of at most ``max_rows`` rows per set (``domain["sample"]`` says how it was drawn).
    features : columns to test (default: every column of ``reference``).
    categorical : columns to treat as categorical; object, string, category and bool columns
        always are.
    alpha : false-discovery rate for the per-feature Benjamini-Hochberg correction.
    n_bins : reference-quantile bins for the PSI of numeric columns.
    domain_classifier : also run the domain-classifier test.
    margin : the domain test fires when the AUC's 95% lower bound exceeds ``0.5 + margin``.
    cv : folds of the domain classifier's cross-validation.
    max_rows : rows per set used by the domain classifier (a seeded sample when larger).
    where : how many coverage regions (readable rules where the current rows live that the
        reference rows did not, or the reverse) to add to the report; 0 to skip. They are
        computed only when something drifted.
    """
    from ._drift_dask import is_dask_frame

    if is_dask_frame(reference) or is_dask_frame(current):
        return _drift_on_dask(
            reference, current, features=features, categorical=categorical, alpha=alpha, random_state=random_state,
            n_bins=n_bins, domain_classifier=domain_classifier, margin=margin, cv=cv, max_rows=max_rows, where=where,
        )
    ref, cur, cols, forced = _check_drift_params(
        reference, current, features=features, categorical=categorical, alpha=alpha, margin=margin, n_bins=n_bins,
        cv=cv, max_rows=max_rows,
    )
    rows: list[dict[str, Any]] = []
    bins: dict[str, dict[str, Any]] = {}
    p_values = []
    kinds: dict[str, bool] = {}
    for c in cols:
        is_cat = c in forced or _is_cat(ref[c]) or _is_cat(cur[c])
        kinds[c] = is_cat
        _check_column(ref[c], c, "reference", is_cat)
        _check_column(cur[c], c, "current", is_cat)
        row, bins[str(c)], p = _feature_drift(ref[c], cur[c], c, is_cat=is_cat, n_bins=n_bins)
        p_values.append(p)
        rows.append(row)
    return _assemble(
        rows, bins, p_values, ref, cur, cols, kinds, n=(len(ref), len(cur)), alpha=alpha, random_state=random_state,
        domain_classifier=domain_classifier, margin=margin, cv=cv, max_rows=max_rows, where=where,
    )


def _assemble(
    rows, bins, p_values, ref, cur, cols, kinds, *, n, alpha, random_state, domain_classifier, margin, cv, max_rows,
    where, domain_note=None,
) -> DriftReport:
    """q-values, the domain test and the regions on ``ref``/``cur`` (all rows, or the Dask path's samples)."""
    q = bh_adjust(np.asarray(p_values))
    for row, qv in zip(rows, q):
        row["q_value"] = float(qv)
        row["drifted"] = bool(qv < alpha)
    domain = None
    if domain_classifier:
        domain = _domain_test(
            ref, cur, cols, kinds, random_state=random_state, margin=float(margin), cv=cv, max_rows=max_rows
        )
        if domain_note:
            domain["sample"] = domain_note
    drifted = any(r["drifted"] for r in rows) or bool(domain and domain["drifted"])
    regions = _where(ref, cur, cols, where=where, drifted=drifted, random_state=random_state, max_rows=max_rows)
    return DriftReport(
        where=regions,
        features=rows,
        domain=domain,
        alpha=float(alpha),
        n_reference=int(n[0]),
        n_current=int(n[1]),
        drifted=drifted,
        bins=bins,
    )


def _dask_sample_note(n_ref: int, n_cur: int, ref_sample: pd.DataFrame, cur_sample: pd.DataFrame, max_rows: int) -> str:
    """What the domain classifier and ``where`` saw on the Dask path (``domain["sample"]``)."""
    return (f"a seeded Bernoulli sample of each Dask partition (rng seeded by random_state and the partition "
            f"number), cut to at most max_rows={max_rows} rows per set: {len(ref_sample)} of {n_ref} reference "
            f"and {len(cur_sample)} of {n_cur} current rows")


def _drift_on_dask(reference, current, *, features, categorical, alpha, random_state, n_bins, domain_classifier,
                   margin, cv, max_rows, where) -> DriftReport:
    """:func:`drift` on Dask DataFrames: tests from partition-wise summaries (see ``diagnose._drift_dask``)."""
    from ._drift_dask import as_dask_frame, dask_drift_stats

    _check_scalars(alpha, margin, n_bins, cv, max_rows)
    ref, cur = as_dask_frame(reference, "reference"), as_dask_frame(current, "current")
    cols, forced = _check_columns(ref.columns, cur.columns, features, categorical)
    kinds = {}
    for c in cols:
        kinds[c] = c in forced or _is_cat(ref._meta[c]) or _is_cat(cur._meta[c])
        _check_column(ref._meta[c], c, "reference", kinds[c])  # dtypes; values are checked on the workers
        _check_column(cur._meta[c], c, "current", kinds[c])
    stats = dask_drift_stats(ref, cur, cols, kinds, n_bins=n_bins, max_rows=max_rows, random_state=random_state)
    rows, bins, p_values = [], {}, []
    for c in cols:
        f = stats["features"][c]
        if kinds[c]:
            row, bins[str(c)], p = _categorical_row(c, f["levels"], f["ref_counts"], f["cur_counts"])
        else:
            row, bins[str(c)], p = _numeric_row(
                c, f["ks"], f["p_value"], f["edges"], f["ref_counts"], f["cur_counts"], f["reference_mean"],
                f["current_mean"],
            )
            row["ks_error"] = f["ks_error"]  # the exact KS statistic lies in [statistic, statistic + ks_error]
            bins[str(c)]["ks_error"] = f["ks_error"]
        rows.append(row)
        p_values.append(p)
    return _assemble(
        rows, bins, p_values, stats["ref_sample"], stats["cur_sample"], cols, kinds,
        n=(stats["n_reference"], stats["n_current"]), alpha=alpha, random_state=random_state,
        domain_classifier=domain_classifier, margin=margin, cv=cv, max_rows=max_rows, where=where,
        domain_note=_dask_sample_note(stats["n_reference"], stats["n_current"], stats["ref_sample"],
                                      stats["cur_sample"], max_rows),
    )


def _where(ref, cur, cols, *, where, drifted, random_state, max_rows) -> list[dict[str, Any]]:
    if isinstance(where, bool) or not isinstance(where, int) or where < 0:
        raise ParameterError(f"The 'where' parameter of drift must be an int >= 0. Got {where!r} instead.")
    if where == 0 or not drifted or min(len(ref), len(cur)) < 2:
        return []
    from ._coverage import coverage_regions

    return coverage_regions(cur[cols].reset_index(drop=True), ref[cols].reset_index(drop=True), top=where,
                            random_state=random_state, max_rows=max_rows)


def _domain_test(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    cols: list[str],
    kinds: dict[str, bool],
    *,
    random_state: int,
    margin: float,
    cv: int,
    max_rows: int,
) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    rng = np.random.default_rng(child_seed(random_state, "drift", "sample"))
    r_idx = np.sort(rng.choice(len(ref), max_rows, replace=False)) if len(ref) > max_rows else np.arange(len(ref))
    c_idx = np.sort(rng.choice(len(cur), max_rows, replace=False)) if len(cur) > max_rows else np.arange(len(cur))
    both = pd.concat([ref.iloc[r_idx][cols], cur.iloc[c_idx][cols]], ignore_index=True)
    y = np.r_[np.zeros(len(r_idx), dtype=int), np.ones(len(c_idx), dtype=int)]
    n_splits = min(cv, len(r_idx), len(c_idx))
    if n_splits < 2:
        raise DataError(
            f"The domain classifier needs at least 2 rows in each set. Got {len(r_idx)} and {len(c_idx)}. Pass more rows."
        )
    Z = np.empty((len(both), len(cols)), dtype=np.float64)
    cat_mask = np.zeros(len(cols), dtype=bool)
    for j, c in enumerate(cols):
        if kinds[c]:
            codes, _ = pd.factorize(both[c].astype(str), sort=True)
            Z[:, j] = codes
            cat_mask[j] = True
        else:
            Z[:, j] = both[c].to_numpy(dtype=np.float64)
    # categorical codes beyond 255 levels are treated as ordinal numbers (HGB's limit)
    cat_mask &= Z.max(axis=0) < 255
    clf = HistGradientBoostingClassifier(
        max_iter=50,
        learning_rate=0.2,
        max_leaf_nodes=15,
        early_stopping=False,
        categorical_features=cat_mask if cat_mask.any() else None,
        random_state=child_seed(random_state, "drift", "domain"),
    )
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=child_seed(random_state, "drift", "folds"))
    scores = cross_val_predict(clf, Z, y, cv=folds, method="predict_proba")[:, 1]
    auc, se, lo, hi = delong_auc(y, scores)
    return {
        "auc": auc,
        "se": se,
        "ci_low": lo,
        "ci_high": hi,
        "margin": margin,
        "drifted": bool(lo > 0.5 + margin),
        "cv": int(n_splits),
        "n_rows": int(len(y)),
        "classifier": "HistGradientBoostingClassifier",
        "interval": "DeLong 95%",
    }


# -- retrain decisions ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """Whether to retrain, why, and every trigger that was checked.

    ``triggers`` maps a trigger name (``"performance"``, ``"drift"``, ``"interval"``,
    ``"manual"``) to ``{"fired": bool, "detail": str, ...}`` with the numbers behind it.
    """

    retrain: bool
    reasons: list[str]
    triggers: dict[str, dict[str, Any]]
    decided_at: str | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.retrain, (bool, np.bool_)):
            raise ParameterError(f"Decision.retrain must be a bool. Got {type(self.retrain).__name__} instead.")
        object.__setattr__(self, "retrain", bool(self.retrain))
        object.__setattr__(self, "reasons", [str(r) for r in self.reasons])
        object.__setattr__(self, "triggers", json.loads(json.dumps(json_ready(dict(self.triggers)), default=str)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "retrain": self.retrain,
            "reasons": list(self.reasons),
            "triggers": json.loads(json.dumps(self.triggers)),
            "decided_at": self.decided_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        check_schema_version(data, "Decision", SCHEMA_VERSION)
        d = dict(data)
        d.pop("schema_version", None)
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Decision:
        return cls.from_dict(json.loads(text))


def _timestamp(value: Any, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ParameterError(
            f"The {name!r} parameter of should_retrain must be a datetime or an ISO date string. "
            f"Got {type(value).__name__} instead."
        ) from None
    if ts is pd.NaT:
        raise ParameterError(f"The {name!r} parameter of should_retrain must be a datetime. Got NaT instead.")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _interval(value: Any) -> pd.Timedelta:
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            td = pd.Timedelta(days=float(value))
        else:
            td = pd.Timedelta(value)
    except (TypeError, ValueError):
        raise ParameterError(
            "The 'interval' parameter of should_retrain must be a timedelta, a string such as '30D', "
            f"or a number of days. Got {type(value).__name__} instead."
        ) from None
    if td is pd.NaT or td <= pd.Timedelta(0):
        raise ParameterError(
            "The 'interval' parameter of should_retrain must be a positive duration. Got a non-positive one instead."
        )
    return td


def _performance_trigger(performance, baseline, threshold, min_performance, higher_is_better, metric):
    """The performance trigger's entry (None when no performance is given)."""
    if performance is None and (baseline is not None or min_performance is not None):
        raise ParameterError(
            "should_retrain got a baseline or min_performance but no performance. Pass performance= (the current score)."
        )
    if performance is None:
        return None
    if not isinstance(performance, (int, float, np.number)) or not math.isfinite(float(performance)):
        raise ParameterError(
            f"The 'performance' parameter of should_retrain must be a finite number. Got {performance!r} instead."
        )
    if baseline is None and min_performance is None:
        raise ParameterError(
            "should_retrain got performance= but nothing to compare it with. "
            "Pass baseline= (the score at deployment) and/or min_performance=."
        )
    if not isinstance(threshold, (int, float)) or threshold < 0 or not math.isfinite(threshold):
        raise ParameterError(
            f"The 'threshold' parameter of should_retrain must be a float >= 0. Got {threshold!r} instead."
        )
    perf = float(performance)
    sign = 1.0 if higher_is_better else -1.0
    entry: dict[str, Any] = {"performance": perf, "higher_is_better": bool(higher_is_better), "metric": metric}
    fired, details = False, []
    if baseline is not None:
        drop = sign * (float(baseline) - perf)
        entry.update(baseline=float(baseline), threshold=float(threshold), drop=drop)
        verb = "dropped" if higher_is_better else "rose"
        if drop > threshold:
            fired = True
            details.append(
                f"{metric} {verb} by {abs(drop):.4g} (from {float(baseline):.4g} to {perf:.4g}), more than the allowed {threshold:.4g}"
            )
        else:
            details.append(f"{metric} {perf:.4g} is within {threshold:.4g} of the baseline {float(baseline):.4g}")
    if min_performance is not None:
        entry["min_performance"] = float(min_performance)
        below = sign * (float(min_performance) - perf) > 0
        if below:
            fired = True
            details.append(
                f"{metric} {perf:.4g} is {'below' if higher_is_better else 'above'} the floor {float(min_performance):.4g}"
            )
    entry["fired"] = fired
    entry["detail"] = "; ".join(details)
    return entry


def _drift_trigger(drift) -> dict[str, Any]:
    """The drift trigger's entry, from a DriftReport or a plain bool."""
    if isinstance(drift, DriftReport):
        fired = bool(drift.drifted)
        detail = ("data drift: " if fired else "no drift: ") + drift.summary()
        if fired and drift.new_regions:
            detail += " Where: " + "; ".join(r["description"] for r in drift.new_regions[:3]) + "."
        return {
            "fired": fired,
            "detail": detail,
            "regions": [r["description"] for r in drift.new_regions],
            "drifted_features": drift.drifted_features,
            "domain_auc": None if drift.domain is None else drift.domain["auc"],
        }
    if isinstance(drift, (bool, np.bool_)):
        fired = bool(drift)
        return {
            "fired": fired,
            "detail": "drift reported by the caller" if fired else "no drift reported",
        }
    raise ParameterError(
        f"The 'drift' parameter of should_retrain must be a DriftReport (from diagnose.drift) or a bool. "
        f"Got {type(drift).__name__} instead."
    )


def _interval_trigger(last_trained, interval, decided: pd.Timestamp) -> dict[str, Any]:
    """The schedule trigger's entry: fired when ``decided - last_trained >= interval``."""
    last = _timestamp(last_trained, "last_trained")
    td = _interval(interval)
    age = decided - last
    fired = age >= td
    return {
        "fired": bool(fired),
        "last_trained": last.isoformat(),
        "interval_days": td.total_seconds() / 86400,
        "age_days": age.total_seconds() / 86400,
        "detail": (
            f"last trained {age.total_seconds() / 86400:.1f} days ago, "
            f"{'at least' if fired else 'less than'} the {td.total_seconds() / 86400:g}-day interval"
        ),
    }


def _manual_trigger(manual) -> dict[str, Any]:
    if not isinstance(manual, (bool, np.bool_)):
        raise ParameterError(
            f"The 'manual' parameter of should_retrain must be True, False or None. Got {manual!r} instead."
        )
    return {
        "fired": bool(manual),
        "detail": "manual override: retrain requested" if manual else "manual override: retraining is on hold",
    }


def _should_retrain_report(triggers: dict[str, dict[str, Any]], manual, decided: pd.Timestamp) -> Decision:
    """The Decision: ``manual`` when given, else whether any trigger fired, with the reasons."""
    reasons: list[str] = []
    auto_fired = [name for name, t in triggers.items() if name != "manual" and t["fired"]]
    for name in auto_fired:
        reasons.append(f"{name}: {triggers[name]['detail']}")
    if manual is not None:
        retrain = bool(manual)
        reasons.insert(
            0,
            triggers["manual"]["detail"]
            + (f" (overrides: {', '.join(auto_fired)})" if auto_fired and not manual else ""),
        )
    else:
        retrain = bool(auto_fired)
        if not auto_fired:
            checked = [f"{name}: {t['detail']}" for name, t in triggers.items()]
            reasons.append("no trigger fired (" + "; ".join(checked) + ")")
    return Decision(retrain=retrain, reasons=reasons, triggers=triggers, decided_at=decided.isoformat())


def should_retrain(
    *,
    performance: float | None = None,
    baseline: float | None = None,
    threshold: float = 0.05,
    min_performance: float | None = None,
    higher_is_better: bool = True,
    metric: str = "metric",
    drift: DriftReport | bool | None = None,
    last_trained: Any = None,
    interval: Any = None,
    now: Any = None,
    manual: bool | None = None,
) -> Decision:
    """Decide whether to retrain from any combination of triggers.

    Triggers (each checked only when its inputs are given):

    - **performance**: ``performance`` (the current score on recent labelled data) dropped
      more than ``threshold`` below ``baseline`` (the score when the model was deployed),
      and/or fell below ``min_performance``. With ``higher_is_better=False`` (a loss) "drop"
      means rise. ``metric`` names the score in the reasons.
    - **drift**: a :class:`DriftReport` whose ``drifted`` is True (or a plain bool).
    - **interval**: ``now - last_trained >= interval`` (``interval`` a timedelta, a string
      such as ``"30D"`` or a number of days; ``now`` defaults to the current UTC time; naive
      datetimes are read as UTC).
    - **manual**: ``True`` forces a retrain, ``False`` vetoes one whatever fired; ``None``
      (default) lets the other triggers decide.

    ``retrain`` is ``manual`` when given, else whether any trigger fired.
    """
    triggers: dict[str, dict[str, Any]] = {}
    entry = _performance_trigger(performance, baseline, threshold, min_performance, higher_is_better, metric)
    if entry is not None:
        triggers["performance"] = entry
    if drift is not None:
        triggers["drift"] = _drift_trigger(drift)
    if (last_trained is None) != (interval is None):
        raise ParameterError(
            "should_retrain needs both last_trained= and interval= for the schedule trigger. Pass both or neither."
        )
    decided = _timestamp(now, "now") if now is not None else pd.Timestamp(_dt.datetime.now(_dt.UTC))
    if last_trained is not None:
        triggers["interval"] = _interval_trigger(last_trained, interval, decided)
    if manual is not None:
        triggers["manual"] = _manual_trigger(manual)
    if not triggers:
        raise ParameterError(
            "should_retrain got no trigger to check. Pass performance= with baseline=, drift=, "
            "last_trained= with interval=, or manual=."
        )
    return _should_retrain_report(triggers, manual, decided)
