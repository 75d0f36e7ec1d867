"""The ``"coverage"`` diagnoser: regions where the analysed data is denser than the training data.

Tabular features (``features`` + ``train_features``)
    Two candidate sources, judged by one test:

    * an exhaustive rule search over the representation gap (:mod:`diagnose._coverage_search`):
      for every feature and every threshold between two distinct values (categorical columns:
      level sets), Kulldorff's Bernoulli scan statistic (``statistic="llr"``; the log-likelihood
      ratio of "this region's analysed fraction differs from the rest's") is computed from exact
      counts; the best rule per (feature, operator) is kept, and the ``beam`` best are extended by a
      second predicate (the same feature again gives an interval ``a < x <= b``). Thresholds are the
      shortest decimals that split the rows the same way.
    * a cross-fitted domain classifier (scikit-learn ``HistGradientBoostingClassifier``, training
      rows vs analysed rows, ``n_folds`` out-of-fold probabilities) gives every row a density ratio
      ``r = p / (1 - p) * n_train / n_analysed`` (the class prior removed: ``r = 1`` means "as
      common in both"); every node of shallow regression trees over that probability (depth up to
      ``max_depth``; 0 turns this source off) is a candidate.

    A candidate becomes a slice when its analysed share's Wilson interval lies above its training
    share's, the point ratio of the shares is at least ``min_ratio``, and its scan statistic
    exceeds the null level: the largest statistic the same search finds on ``n_null`` seeded
    permutations of the training / analysed labels (per rule length, on at most ``null_rows`` rows
    per side), so that searching thousands of thresholds does not turn noise into slices.
    Slices are ranked by the share gap; of near-duplicates (Jaccard >= 0.8) the most readable one
    within 10 % of the best gap is kept (fewest predicates, then most rows). Regions with the
    reverse gap are reported too, as information ("vanished": common in training, rare now).

Embeddings (``embeddings`` + ``train_embeddings``, used when no tabular pair is given)
    k-means (``n_clusters``) on the pooled, class-balanced rows; each cluster's analysed vs
    training share is a histogram density ratio. Clusters passing the same test become
    ``centroid`` slices (re-applicable with ``contains(embeddings=...)``).

Every slice records ``train_share`` (so ``representation`` = train share / share), and in its
evidence ``share_ci``, ``train_share_ci``, ``ratio`` and ``gap`` (analysed share lower bound
minus training share upper bound, the representation term of the common severity), plus
``reasons`` (``under_represented`` or ``vanished``). Rule slices cover at most ``max_support``
of the analysed rows.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError

from ._diagnosers import DIAGNOSERS, AnalysisInput
from ._slice import Slice
from ._stats import wilson_bounds

__all__ = ["coverage_diagnoser", "coverage_regions", "domain_ratio"]

logger = logging.getLogger(__name__)


# -- encoding ------------------------------------------------------------------------------
def _encode(feats: pd.DataFrame, train: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict[str, list], list[int]]:
    """Numeric matrices for both frames (categoricals as codes over the union of categories)."""
    cats: dict[str, list] = {}
    cols_a, cols_t, cat_idx = [], [], []
    for j, c in enumerate(feats.columns):
        a, t = feats[c], train[c]
        numeric = pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a)
        if numeric and not pd.api.types.is_numeric_dtype(t):
            raise DataError(
                f"Column {str(c)!r} is numeric in features but {t.dtype} in train_features. "
                "Pass both with the same dtypes."
            )
        if numeric:
            cols_a.append(a.to_numpy(dtype=np.float64, na_value=np.nan))
            cols_t.append(t.to_numpy(dtype=np.float64, na_value=np.nan))
            continue
        original = {str(v): v for v in list(t.dropna().unique()) + list(a.dropna().unique())}
        names = sorted(original)
        cats[str(c)] = [original[k] for k in names]  # the frame's own values, for "in" rules
        lookup = {v: i for i, v in enumerate(names)}
        cols_a.append(np.array([lookup.get(str(v), np.nan) if pd.notna(v) else np.nan for v in a], dtype=np.float64))
        cols_t.append(np.array([lookup.get(str(v), np.nan) if pd.notna(v) else np.nan for v in t], dtype=np.float64))
        cat_idx.append(j)
    return np.column_stack(cols_a), np.column_stack(cols_t), cats, cat_idx


def _subsample(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= cap else np.sort(rng.choice(n, size=cap, replace=False))


def domain_ratio(xa: np.ndarray, xt: np.ndarray, *, cat_idx: list[int] | None = None, n_folds: int = 3,
                 max_iter: int = 50, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold P(analysed | x) on balanced sets (the class prior removed, so
    ``p / (1 - p)`` is the density ratio analysed / training), for the analysed rows and the
    training rows (cross-fitted)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold

    x = np.vstack([xt, xa])
    y = np.r_[np.zeros(len(xt)), np.ones(len(xa))].astype(np.int64)
    # categorical codes beyond 255 levels (a date or an id column read as text) are ordinal numbers to the
    # classifier (HistGradientBoosting's limit), as in diagnose.drift's domain classifier
    with np.errstate(all="ignore"):
        cat_idx = [j for j in (cat_idx or []) if not (np.nan_to_num(x[:, j], nan=0.0) >= 255).any()]
    p = np.empty(len(x))
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    for fit_idx, out_idx in folds.split(x, y):
        clf = HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=0.2, max_leaf_nodes=15,
                                             categorical_features=cat_idx or None, early_stopping=False,
                                             random_state=random_state)
        clf.fit(x[fit_idx], y[fit_idx])  # unweighted: sklearn's weighted binning is slow
        p[out_idx] = clf.predict_proba(x[out_idx])[:, 1]
    p = np.clip(p, 1e-6, 1 - 1e-6)
    ratio = p / (1 - p) * len(xt) / len(xa)  # the class prior removed: 1 = as common in both
    p = np.clip(ratio / (1 + ratio), 1e-3, 1 - 1e-3)
    return p[len(xt):], p[: len(xt)]


# -- shares and tests ----------------------------------------------------------------------
def _share_stats(k_a: int, n_a: int, k_t: int, n_t: int) -> dict[str, Any]:
    (a_lo, a_hi), (t_lo, t_hi) = (tuple(map(float, wilson_bounds(k, m))) for k, m in ((k_a, n_a), (k_t, n_t)))
    share, tshare = k_a / n_a, k_t / n_t
    ratio = math.inf if tshare == 0 else share / tshare
    return {"share": share, "train_share": tshare, "share_ci": [a_lo, a_hi], "train_share_ci": [t_lo, t_hi],
            "ratio": ratio, "gap": max(0.0, a_lo - t_hi), "vanished_gap": max(0.0, t_lo - a_hi),
            "n_train_in": int(k_t), "n_train": int(n_t)}


def _direction(st: dict[str, Any], min_ratio: float) -> str | None:
    """Listed when the two Wilson intervals are disjoint (evidence) and the point ratio is at least
    ``min_ratio`` (effect size)."""
    share, tshare = st["share"], st["train_share"]
    if st["share_ci"][0] > st["train_share_ci"][1] and share >= min_ratio * tshare:
        return "under_represented"
    if st["train_share_ci"][0] > st["share_ci"][1] and tshare >= min_ratio * share:
        return "vanished"
    return None


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %" if v < 0.1 else f"{100 * v:.0f} %"


def _gap_words(direction: str, st: dict[str, Any]) -> str:
    a, t = _pct(st["share"]), _pct(st["train_share"])
    if direction == "under_represented":
        return f"under-represented in training ({t} vs {a})"
    return f"vanished since training ({t} in training vs {a} now)"


# -- tabular: tree over the ratio ---------------------------------------------------------
def _condition(col: str, op: str, thr: float, cats: dict[str, list]) -> dict[str, Any]:
    if col in cats:
        levels = cats[col]
        cut = int(math.floor(thr))
        chosen = levels[: cut + 1] if op == "<=" else levels[cut + 1 :]
        return {"feature": col, "op": "in", "value": list(chosen)}
    return {"feature": col, "op": op, "value": float(thr)}


def _tree_nodes(tree, columns: list[str], cats: dict[str, list]) -> list[list[dict[str, Any]]]:
    """The conditions of every non-root node of a fitted sklearn tree."""
    t = tree.tree_
    out: list[list[dict[str, Any]]] = []
    stack: list[tuple[int, list[dict[str, Any]]]] = [(0, [])]
    while stack:
        node, conds = stack.pop()
        if conds:
            out.append(conds)
        if t.children_left[node] == -1:
            continue
        col, thr = columns[t.feature[node]], float(t.threshold[node])
        stack.append((t.children_left[node], conds + [_condition(col, "<=", thr, cats)]))
        stack.append((t.children_right[node], conds + [_condition(col, ">", thr, cats)]))
    return out


def _simplify(conds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the tightest bound per (feature, op) so rules read cleanly."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for c in conds:
        key = (c["feature"], c["op"])
        old = best.get(key)
        if old is None or c["op"] == "in":
            best[key] = c if old is None else {**c, "value": [v for v in old["value"] if v in c["value"]]}
        elif (c["op"] == "<=" and c["value"] < old["value"]) or (c["op"] == ">" and c["value"] > old["value"]):
            best[key] = c
    return list(best.values())


def _rule_text(conds: list[dict[str, Any]]) -> str:
    """Readable conditions; a lower and an upper bound on one feature read as ``a < x <= b``."""
    parts = []
    by_feature: dict[Any, dict[str, Any]] = {}
    for c in conds:
        by_feature.setdefault(c["feature"], {})[c["op"]] = c
    for feature, ops in by_feature.items():
        if set(ops) == {">", "<="}:
            parts.append(f"{ops['>']['value']:.4g} < {feature} <= {ops['<=']['value']:.4g}")
            conds = [c for c in conds if c["feature"] != feature]
    for c in conds:
        if c["op"] == "in":
            parts.append(f"{c['feature']} in {{{', '.join(map(str, c['value']))}}}")
        else:
            parts.append(f"{c['feature']} {c['op']} {c['value']:.4g}")
    return " and ".join(parts)


def _tree_candidates(feats, train, xa, xt, *, cats, cat_idx, max_depth, min_support, n_folds, max_iter, seed):
    """(conditions, analysed mask, training mask) for every node of the trees over the domain probability."""
    from sklearn.tree import DecisionTreeRegressor

    from ._slice import MEMBERSHIP

    pa, pt = domain_ratio(xa, xt, cat_idx=cat_idx, n_folds=n_folds, max_iter=max_iter, random_state=seed)
    x = np.vstack([xt, xa])
    w = np.r_[np.full(len(xt), 0.5 / len(xt)), np.full(len(xa), 0.5 / len(xa))]
    x = np.where(np.isnan(x), -1e300, x)  # trees: missing values go left of every threshold
    candidates = []
    columns = [str(c) for c in feats.columns]
    for depth in range(1, max_depth + 1):
        tree = DecisionTreeRegressor(max_depth=depth, min_samples_leaf=max(min_support, 5), random_state=seed)
        tree.fit(x, np.r_[pt, pa], sample_weight=w)
        for conds in _tree_nodes(tree, columns, cats):
            conds = _simplify(conds)
            definition = {"kind": "rule", "conditions": conds}
            ma = MEMBERSHIP.get("rule")(definition, slice_id="coverage", features=feats)
            mt = MEMBERSHIP.get("rule")(definition, slice_id="coverage", features=train)
            candidates.append((conds, ma, mt))
    ratio = pa / (1 - pa)
    return candidates, float(np.quantile(ratio, 0.9))


def _tabular_candidates(inp: AnalysisInput, *, max_depth, min_support, max_support, n_folds, max_rows, max_iter,
                        n_null, beam, statistic, null_rows):
    """(conditions, analysed mask, training mask) from the gap search and the ratio trees, and the
    search's null levels (:mod:`diagnose._coverage_search`)."""
    from ._coverage_search import GapSearch
    from ._slice import MEMBERSHIP

    feats, train = inp.features, inp.train_features[list(inp.features.columns)]
    rng = np.random.default_rng(inp.random_state)
    ia, it = _subsample(len(feats), max_rows, rng), _subsample(len(train), max_rows, rng)
    xa, xt, cats, cat_idx = _encode(feats, train)
    columns = [str(c) for c in feats.columns]
    opts = {"min_support": min_support, "max_support": max_support, "beam": beam, "statistic": statistic}
    search = GapSearch(xa[ia], xt[it], columns, cats, **opts)
    null_rng = np.random.default_rng([inp.random_state, 1])
    if max(len(ia), len(it)) > null_rows:  # the null level of the max statistic barely depends on n
        na, nt = ia[_subsample(len(ia), null_rows, null_rng)], it[_subsample(len(it), null_rows, null_rng)]
        null_search = GapSearch(xa[na], xt[nt], columns, cats, **opts)
    else:
        null_search = search
    null = null_search.null_levels(n_null, null_rng)
    candidates = []
    rename = dict(zip(columns, feats.columns))
    for _, _, conds in search.observed():
        conds = _simplify([{**c, "feature": rename[c["feature"]]} for c in conds])
        definition = {"kind": "rule", "conditions": conds}
        ma = MEMBERSHIP.get("rule")(definition, slice_id="coverage", features=feats)
        mt = MEMBERSHIP.get("rule")(definition, slice_id="coverage", features=train)
        candidates.append((conds, ma, mt))
    info: dict[str, Any] = {"null_gap": null, "statistic": statistic, "n_fit_rows": int(len(ia) + len(it)), "n_null": int(n_null)}
    if max_depth > 0:
        tree, top_decile = _tree_candidates(feats, train, xa[ia], xt[it], cats=cats, cat_idx=cat_idx,
                                            max_depth=max_depth, min_support=min_support, n_folds=n_folds,
                                            max_iter=max_iter, seed=inp.random_state)
        candidates.extend(tree)
        info["mean_ratio_top_decile"] = top_decile
    return candidates, info


# -- embeddings: clusters over the pooled rows ----------------------------------------------
def _embedding_candidates(inp: AnalysisInput, *, n_clusters, max_rows):
    from sklearn.cluster import MiniBatchKMeans

    emb, temb = inp.embeddings, inp.train_embeddings
    rng = np.random.default_rng(inp.random_state)
    ia, it = _subsample(len(emb), max_rows, rng), _subsample(len(temb), max_rows, rng)
    pooled = np.vstack([temb[it], emb[ia]])
    w = np.r_[np.full(len(it), 0.5 / len(it)), np.full(len(ia), 0.5 / len(ia))] * len(pooled)
    k = int(min(n_clusters, max(2, len(pooled) // 20)))
    km = MiniBatchKMeans(n_clusters=k, random_state=inp.random_state, n_init=3, batch_size=4096)
    km.fit(pooled, sample_weight=w)
    centroids = km.cluster_centers_
    la, lt = km.predict(emb), km.predict(temb)
    da = np.linalg.norm(emb - centroids[la], axis=1)
    candidates = []
    for j in range(k):
        members = la == j
        if not members.any():
            continue
        radius = float(np.quantile(da[members], 0.95) * 1.5)
        definition = {"kind": "centroid", "centroids": centroids.tolist(), "member": [j], "radius": radius}
        dt = np.linalg.norm(temb - centroids[lt], axis=1)
        candidates.append((definition, members & (da <= radius), (lt == j) & (dt <= radius)))
    return candidates, {"n_clusters": k}


# -- the diagnoser -------------------------------------------------------------------------
def _check_options(min_ratio, max_support, max_depth, n_folds) -> None:
    if not (isinstance(min_ratio, (int, float)) and min_ratio >= 1.0):
        raise ParameterError(f"The 'min_ratio' option of coverage must be a number >= 1. Got {min_ratio!r} instead.")
    if not (isinstance(max_support, (int, float)) and 0.0 < max_support <= 1.0):
        raise ParameterError(
            f"The 'max_support' option of coverage must be a float in (0, 1]. Got {max_support!r} instead."
        )
    if not (isinstance(max_depth, int) and 0 <= max_depth <= 4):
        raise ParameterError(f"The 'max_depth' option of coverage must be an int in 0..4. Got {max_depth!r} instead.")
    if not (isinstance(n_folds, int) and n_folds >= 2):
        raise ParameterError(f"The 'n_folds' option of coverage must be an int >= 2. Got {n_folds!r} instead.")


def _search_score(st, k_a: int, n_a: int, n_t: int, direction: str, info: dict[str, Any]) -> float:
    """The statistic the null level is on: the scan LLR (tabular default) or the Wilson gap."""
    if info.get("statistic") == "llr":
        from ._coverage_search import scan_llr

        return float(scan_llr(k_a, st["n_train_in"], n_a, n_t))
    return st["gap"] if direction == "under_represented" else st["vanished_gap"]


def _n_predicates(definition: dict[str, Any]) -> int:
    return len(definition.get("conditions", ())) if definition.get("kind") == "rule" else 1


def _readable_first(scored: list, *, overlap: float = 0.8, tolerance: float = 0.1) -> list:
    """Drop near-duplicates (members' Jaccard >= ``overlap``), keeping the most readable of a group
    (fewest predicates, then most rows) among those within ``tolerance`` of its best gap."""
    kept: list = []
    for row in scored:
        for i, k in enumerate(kept):
            inter = int((row[3] & k[3]).sum())
            if inter / max(1, int((row[3] | k[3]).sum())) >= overlap:
                near = row[1] >= (1 - tolerance) * k[1]
                if near and (_n_predicates(row[2]), -int(row[3].sum())) < (_n_predicates(k[2]), -int(k[3].sum())):
                    kept[i] = row
                break
        else:
            kept.append(row)
    return kept


def _to_slices(inp: AnalysisInput, candidates, *, kind: str, min_ratio, max_support, min_support, top_k, info):
    n_t = int(len(inp.train_features) if kind == "rule" else len(inp.train_embeddings))
    errors = np.asarray(inp.errors, dtype=bool)
    base = inp.baseline_error_rate
    null = info.get("null_gap", {})
    scored, seen = [], set()
    for definition, ma, mt in candidates:
        size = int(ma.sum())
        key = (ma.tobytes(), mt.tobytes())
        if key in seen or size > max_support * inp.n or (size < min_support and mt.sum() < min_support):
            continue
        seen.add(key)
        st = _share_stats(size, inp.n, int(mt.sum()), n_t)
        direction = _direction(st, min_ratio)
        gap = st["gap"] if direction == "under_represented" else st["vanished_gap"]
        level = null.get(f"{direction}:{min(_n_predicates(definition), 2)}", 0.0)
        if direction is not None and _search_score(st, size, inp.n, n_t, direction, info) > level:
            scored.append((direction != "under_represented", gap, definition, ma, st, direction))
    scored.sort(key=lambda r: (r[0], -r[1]))
    scored = _readable_first(scored)
    out: list[Slice] = []
    for rank, (_, _, definition, ma, st, direction) in enumerate(scored[:top_k]):
        idx = np.flatnonzero(ma)
        k_err = int(errors[idx].sum())
        err = k_err / idx.size if idx.size else 0.0
        lo, hi = wilson_bounds(k_err, idx.size)
        if kind == "rule":
            desc = f"{_rule_text(definition['conditions'])}: {_gap_words(direction, st)}"
            definition = {"kind": "rule", "conditions": definition["conditions"]}
        else:
            desc = f"embedding region {rank + 1}: {_gap_words(direction, st)}"
        ev = {**st, "reasons": [direction], "kind": kind, "diagnoser": info,
              "severity_extra": 0.0}
        out.append(Slice(id=f"coverage:{'rule' if kind == 'rule' else 'region'}:{rank}", method="coverage",
                         description=desc, indices=idx, n_analysed=inp.n, error_rate=err, baseline_error_rate=base,
                         error_ci=(float(lo), float(hi)), train_share=st["train_share"],
                         severity=st["gap"], definition=definition, evidence=ev))
    return out


@DIAGNOSERS.register("coverage", requires=())
def coverage_diagnoser(
    inp: AnalysisInput,
    *,
    min_ratio: float = 2.0,
    max_support: float = 0.5,
    min_support: int = 10,
    max_depth: int = 2,
    n_folds: int = 3,
    max_iter: int = 50,
    n_clusters: int = 24,
    max_rows: int = 10_000,
    top_k: int = 10,
    n_null: int = 20,
    beam: int = 6,
    statistic: str = "llr",
    null_rows: int = 5_000,
) -> list[Slice]:
    """Regions under-represented in training (module docstring); needs a training pair.

    Parameters
    ----------
    min_ratio : a region is listed when its two share intervals are disjoint and its analysed
        share is at least this times its training share (or the reverse, for vanished regions).
    max_support : largest slice as a share of the analysed rows.
    min_support : smallest region, in rows (on either side).
    max_depth : depth of the rule tree over the domain probability.
    n_folds : cross-fitting folds of the domain classifier.
    max_iter : boosting iterations of the domain classifier.
    n_clusters : k-means clusters in embedding spaces.
    max_rows : most rows per side used to fit (a seeded subsample beyond).
    top_k : most slices returned.
    n_null : label permutations that set the null level of the rule search's gap (tabular).
    beam : one-predicate rules extended by a second predicate (tabular).
    statistic : what the rule search maximises and the null level is on: ``"llr"`` (Kulldorff's
        Bernoulli scan statistic) or ``"gap"`` (the Wilson share gap).
    null_rows : most rows per side in the permutation runs (a seeded subsample beyond).
    """
    _check_options(min_ratio, max_support, max_depth, n_folds)
    if statistic not in ("llr", "gap"):
        raise ParameterError(f"The 'statistic' option of coverage must be 'llr' or 'gap'. Got {statistic!r} instead.")
    if not all(isinstance(v, int) and v >= 0 for v in (n_null, beam)) or not (isinstance(null_rows, int) and null_rows >= 2):
        raise ParameterError(
            f"The 'n_null', 'beam' and 'null_rows' options of coverage must be ints >= 0 (null_rows >= 2). "
            f"Got {n_null!r}, {beam!r} and {null_rows!r} instead."
        )
    tabular = inp.features is not None and inp.train_features is not None
    if not tabular and (inp.embeddings is None or inp.train_embeddings is None):
        raise ParameterError(
            "Method 'coverage' needs training rows: pass train_features= (with features=) or "
            "train_embeddings= (with embeddings=), or leave 'coverage' out of methods."
        )
    n_t = len(inp.train_features) if tabular else len(inp.train_embeddings)
    if n_t < 2 or inp.n < 2:
        raise DataError(f"coverage needs at least 2 training and 2 analysed rows; got {n_t} and {inp.n}. Pass more rows.")
    if tabular:
        cands, info = _tabular_candidates(inp, max_depth=max_depth, min_support=min_support, max_support=max_support,
                                          n_folds=n_folds, max_rows=max_rows, max_iter=max_iter, n_null=n_null,
                                          beam=beam, statistic=statistic, null_rows=null_rows)
        cands = [({"kind": "rule", "conditions": c}, ma, mt) for c, ma, mt in cands]
        kind = "rule"
    else:
        cands, info = _embedding_candidates(inp, n_clusters=n_clusters, max_rows=max_rows)
        kind = "centroid"
    out = _to_slices(inp, cands, kind=kind, min_ratio=min_ratio, max_support=max_support, min_support=min_support,
                     top_k=top_k, info=info)
    logger.info("coverage: %d region(s) from %d candidate(s)", len(out), len(cands))
    return out


def coverage_regions(current: pd.DataFrame, reference: pd.DataFrame, *, top: int = 5, random_state: int = 0,
                     **options: Any) -> list[dict[str, Any]]:
    """The ``top`` regions where ``current`` rows live that ``reference`` rows did not (for drift).

    Each region is a dict: ``description``, ``conditions`` (a rule), ``share`` (current),
    ``train_share`` (reference), their Wilson intervals, ``ratio`` and ``direction``.
    """
    n = len(current)
    zeros = np.zeros(n, dtype=np.int64)
    inp = AnalysisInput(y_true=zeros, y_pred=zeros, errors=np.zeros(n, dtype=bool), features=current,
                        train_features=reference, random_state=int(random_state))
    found = coverage_diagnoser(inp, top_k=top, **options)
    out = []
    for s in found:
        ev = s.evidence
        out.append({
            "description": s.description, "conditions": s.definition.get("conditions", []),
            "direction": ev["reasons"][0], "share": ev["share"], "train_share": ev["train_share"],
            "share_ci": ev["share_ci"], "train_share_ci": ev["train_share_ci"], "ratio": ev["ratio"],
            "gap": ev["gap"],
        })
    return out
