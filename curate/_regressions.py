"""Regression search for the gate: regions where the candidate is worse than the champion.

Regions. A region is a sub-population, not a set of rows of one eval set: the rows of all the eval
sets searched are pooled (their features or champion embeddings are in one space), k-means clusters
are found on the pooled, standardised features, and each true class is a region too. A region's
test uses its rows of *every* eval set (old and new holdouts together): a harm of the candidate on
a sub-population shows in both, so pooling roughly doubles the rows behind each test (the standard
error shrinks by about sqrt(2)) and halves the number of hypotheses (one per region, not one per
region and eval set). If the sets differ inside a region (drift), the pooled rows are a mixture;
the test below then over-estimates the variance of the pooled drop, so it stays valid (conservative).

Class sub-clusters. A sub-class hidden inside a coarse label (sandals inside "footwear") is often a
minority of every cluster of all the rows, so its harm is diluted there and in its class region.
``class_clusters`` (the gate's default 8) k-means clusters inside each true class, on features
standardised within the class, are regions too: like the clusters, they are fixed from the features
and labels before either model's outcome is looked at, so the test below stays valid; they join the
same BH family (at most ``class_clusters`` more hypotheses per class).

Flip regions. Clusters are fixed before looking at the two models, so a harm on a sub-population
that is a minority of every cluster is diluted (the cluster's drop is the harmed rows' drop times
their share). A third family of regions looks where the flips are, without invalidating the test:
the pooled rows are split in two halves (seeded, stratified by eval set and class); a shallow
regression tree fitted on one half (features plus one-hot class -> champion right minus candidate
right) proposes the leaves whose drop there is significantly above ``max_drop``; their union is
tested on the rows of the *other* half only (both directions: two regions). See
:mod:`curate._flip_search`.

Test. Per row, the paired outcome is a negative flip (champion right, candidate wrong), a positive
flip (the reverse) or no change. The drop ``acc(champion) - acc(candidate)`` is
``(negative - positive) / n``; the gate asks whether it is above ``max_drop`` (a non-inferiority
margin on paired proportions). This is Tango's (1998) score test for the difference of paired
proportions: the variance is estimated at the restricted maximum likelihood under
``drop == max_drop`` (not at the observed drop, as a Wald / bootstrap z-test does), which keeps the
size close to nominal with few discordant pairs; with ``max_drop = 0`` it is McNemar's test
``(b - c) / sqrt(b + c)``. It is closed-form and deterministic (no resampling), and its one-sided
confidence bounds are the inverted test, so ``lower > max_drop`` exactly when ``p < alpha``.

Multiplicity. Benjamini-Hochberg over all the regions tested (clusters, classes and flip regions
together, at ``alpha``: one family, so adding the flip regions keeps the FDR control and costs the
clusters only the extra hypotheses, at most two); named slices (:func:`check_named_slices`) are a second family with their own BH. A
hierarchy (classes, then sub-regions) was not used: clusters and classes overlap rather than nest,
and pooling already halved the family. Each significant region becomes a ``diagnose.Slice`` for
each eval set it has rows in (``indices`` into that set; the evidence holds the pooled test; for a
flip region, all its rows of that set, both halves, while the test's statistics are those of the
tested half, which the evidence names).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from curakit.exceptions import DataError

__all__ = ["check_named_slices", "drop_bounds", "find_regressions", "paired_drop", "score_z"]


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values."""
    m = len(p)
    order = np.argsort(p, kind="stable")
    q = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(q[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def score_z(neg: int, pos: int, n: int, margin: float) -> float:
    """Tango's score statistic of "drop <= margin" for ``neg`` negative and ``pos`` positive flips
    among ``n`` paired rows (drop = (neg - pos) / n); large values: the drop is above ``margin``.

    ``Z = (neg - pos - n*margin) / sqrt(n * (2*q + margin*(1 - margin)))`` where ``q`` is the
    restricted maximum-likelihood rate of positive flips under ``drop == margin``."""
    if n <= 0:
        raise ValueError("score_z needs n > 0")
    if margin < 0:  # symmetry: testing the drop against -m is testing the gain against m
        return -score_z(pos, neg, n, -margin)
    if margin >= 1.0:
        return -math.inf if neg - pos < n else 0.0
    a, b = 2.0 * n, -(neg + pos) + margin * (2.0 * n - neg + pos)
    c = -pos * margin * (1.0 - margin)
    q = (-b + math.sqrt(max(b * b - 4.0 * a * c, 0.0))) / (2.0 * a)
    var = n * (2.0 * q + margin * (1.0 - margin))
    diff = neg - pos - n * margin
    if var <= 0.0:  # margin 0 and no discordant pair: no evidence either way
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / math.sqrt(var)


def _z_quantile(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(level))


def drop_bounds(neg: int, pos: int, n: int, alpha: float) -> tuple[float, float]:
    """One-sided ``1 - alpha`` bounds of the drop: the margins at which the score test is just
    significant (lower: ``score_z = z_{1-alpha}``; upper: ``score_z = -z_{1-alpha}``), by bisection
    (the statistic decreases in the margin)."""
    z = _z_quantile(1.0 - alpha)

    def solve(target: float) -> float:
        lo, hi = -1.0, 1.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if score_z(neg, pos, n, mid) > target:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    return solve(z), solve(-z)


def paired_drop(champ_ok: np.ndarray, cand_ok: np.ndarray, *, max_drop: float, alpha: float) -> dict[str, float]:
    """Paired accuracy drop ``acc(champion) - acc(candidate)`` of the rows given (0/1 arrays):
    observed, one-sided ``alpha`` score bounds, the p-value of "drop <= max_drop" (small: above it),
    the flip counts and the negative flip rate."""
    champ_ok, cand_ok = np.asarray(champ_ok) > 0, np.asarray(cand_ok) > 0
    n = len(champ_ok)
    neg, pos = int((champ_ok & ~cand_ok).sum()), int((cand_ok & ~champ_ok).sum())
    p = 0.5 * math.erfc(score_z(neg, pos, n, max_drop) / math.sqrt(2.0))
    lower, upper = drop_bounds(neg, pos, n, alpha)
    return {"drop": (neg - pos) / n, "lower": lower, "upper": upper, "p": float(p), "negative_flips": neg,
            "positive_flips": pos, "negative_flip_rate": neg / n}


def _check_features(X: Any, n: int, name: str) -> np.ndarray:
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"Gate: the features of eval set {name!r} must be numeric (n, d). Pass embeddings "
                        "(diagnose.embed) or the numeric feature columns.") from None
    if X.ndim != 2 or len(X) != n:
        raise DataError(f"Gate: the features of eval set {name!r} have shape {X.shape}, but the eval set has {n} "
                        "rows. Pass one feature row (or embedding) per eval row, in eval-set order.")
    if not np.isfinite(X).all():
        raise DataError(f"Gate: the features of eval set {name!r} hold NaN or inf. Impute or drop them first.")
    return X


def check_named_slices(cand: Any, champ: Any, masks: dict[str, np.ndarray], name: str, *, max_drop: float,
                       alpha: float = 0.05) -> tuple[list[dict[str, Any]], list[Any]]:
    """The named slices of eval set ``name`` (``{slice id: bool mask over its rows}``): one record per
    slice (n, drop with its bounds, p and BH q over the named slices, passed), and a ``diagnose.Slice``
    for each slice whose drop is significantly above ``max_drop`` (the score test of :func:`paired_drop`)."""
    from diagnose import Slice

    n = len(cand.y_true)
    champ_ok = (champ.y_pred == champ.y_true).astype(np.float64)
    cand_ok = (cand.y_pred == cand.y_true).astype(np.float64)
    records = []
    for sid in sorted(masks):
        mask = np.asarray(masks[sid])
        if mask.dtype != bool or mask.shape != (n,):
            raise DataError(f"Gate: slice {sid!r} of eval set {name!r} must be a boolean mask of {n} rows; got "
                            f"dtype {mask.dtype} and shape {mask.shape}. Pass the masks of that eval set's rows.")
        rows = np.flatnonzero(mask)
        if len(rows) < 2:
            records.append({"slice": sid, "eval_set": name, "n": int(len(rows)), "tested": False, "passed": True})
            continue
        records.append({"slice": sid, "eval_set": name, "n": int(len(rows)), "tested": True,
                        **paired_drop(champ_ok[rows], cand_ok[rows], max_drop=max_drop, alpha=alpha)})
    tested = [r for r in records if r["tested"]]
    failing = []
    if tested:
        for r, qv in zip(tested, _bh(np.array([r["p"] for r in tested]))):
            r["q"] = float(qv)
            r["passed"] = not (qv <= alpha and r["drop"] > max_drop)
            if r["passed"]:
                continue
            rows = np.flatnonzero(np.asarray(masks[r["slice"]]))
            failing.append(Slice(
                id=f"named-{name}-{r['slice']}", method="named",
                description=f"named slice {r['slice']!r} of {name!r} ({r['n']} rows): accuracy drop {r['drop']:+.3f}",
                indices=rows.astype(np.int64), n_analysed=n, error_rate=float(1 - cand_ok[rows].mean()),
                baseline_error_rate=float(1 - champ_ok[rows].mean()), p_value=r["p"], q_value=r["q"],
                severity=r["drop"], evidence={"eval_set": name, "slice": r["slice"], "drop": r["drop"],
                                              "lower": r["lower"], "max_drop": max_drop,
                                              "negative_flip_rate": r["negative_flip_rate"]}))
    return records, failing


def _kmeans(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means labels of the standardised rows of ``X``."""
    from sklearn.cluster import KMeans

    Z = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(Z)


def _clusters(X: np.ndarray, *, min_size: int, n_clusters: int, seed: int, key: str = "",
              what: str = "cluster {c}") -> list[tuple[str, str, np.ndarray]]:
    """(id suffix, description, rows) of the k-means clusters of all the pooled rows of ``X``."""
    k = min(n_clusters, len(X) // min_size)
    if k < 2:
        return []
    labels = _kmeans(X, k, seed)
    return [(f"{key}{c}", what.format(c=c), np.flatnonzero(labels == c)) for c in range(k)]


def _regions(X: np.ndarray, y_true: np.ndarray, *, min_size: int, n_clusters: int, seed: int,
             class_clusters: int = 0) -> list[tuple[str, str, np.ndarray]]:
    """(id suffix, description, rows) of every region tested, over the pooled rows: k-means clusters
    of the standardised features, the rows of each true class (a harm confined to one class is
    often spread over clusters in which the candidate gains elsewhere) and, with ``class_clusters``,
    that many k-means clusters inside each true class (standardised within the class: a sub-class
    hidden inside a coarse label, too small to lead any cluster of all the rows)."""
    out = _clusters(X, min_size=min_size, n_clusters=n_clusters, seed=seed)
    values = np.unique(y_true)
    if 2 <= len(values) <= 50:
        classes = [(v, np.flatnonzero(y_true == v)) for v in values]
        out += [(f"class-{v}", f"true class {v}", rows) for v, rows in classes]
        for v, rows in classes:
            k = min(class_clusters, len(rows) // min_size)
            if k >= 2:
                labels = _kmeans(X[rows], k, seed)
                out += [(f"class-{v}-{c}", f"cluster {c} of true class {v}", rows[labels == c]) for c in range(k)]
    return [r for r in out if len(r[2]) >= min_size]


def _pool(cands: Mapping[str, Any], champs: Mapping[str, Any], features: Mapping[str, Any]) -> dict[str, Any]:
    """The searched eval sets stacked: features, labels, 0/1 correctness of both models, set of each row."""
    names = sorted(features)
    X = [_check_features(features[k], len(cands[k].y_true), k) for k in names]
    widths = {k: x.shape[1] for k, x in zip(names, X)}
    if len(set(widths.values())) > 1:
        raise DataError(f"Gate: the features of the eval sets have different widths {widths}; the regression "
                        "search pools them in one space. Pass features (or embeddings of one model) of equal width.")
    ok = {k: [(m[k].y_pred == m[k].y_true) for m in (champs, cands)] for k in names}
    return {"names": names, "X": np.concatenate(X), "sizes": [len(x) for x in X],
            "y": np.concatenate([np.asarray(cands[k].y_true) for k in names]),
            "champ_ok": np.concatenate([ok[k][0] for k in names]), "cand_ok": np.concatenate([ok[k][1] for k in names]),
            "set": np.concatenate([np.full(len(x), i) for i, x in enumerate(X)])}


def _test_regions(P: dict[str, Any], *, max_drop: float, alpha: float, seed: int, min_size: int,
                  n_clusters: int, class_clusters: int, flip_search: bool) -> list[tuple[str, str, np.ndarray, dict[str, Any]]]:
    """(key, description, rows reported, record) of every region tested: the clusters and classes on
    all their rows, the flip regions (:mod:`curate._flip_search`) on their rows of the other half only."""
    from ._flip_search import flip_regions

    def per_set(rows: np.ndarray) -> dict[str, int]:
        return {P["names"][i]: int((P["set"][rows] == i).sum()) for i in range(len(P["names"]))}

    tested = []
    for key, what, rows in _regions(P["X"], P["y"], min_size=min_size, n_clusters=n_clusters, seed=seed,
                                    class_clusters=class_clusters):
        t = paired_drop(P["champ_ok"][rows], P["cand_ok"][rows], max_drop=max_drop, alpha=alpha)
        tested.append((key, what, rows, {"region": what, "n": int(len(rows)), "rows_per_set": per_set(rows), **t}))
    if not flip_search:
        return tested
    for r in flip_regions(P["X"], P["y"], P["set"], P["champ_ok"], P["cand_ok"], score=score_z,
                          max_drop=max_drop, alpha=alpha, min_size=min_size, seed=seed):
        t = paired_drop(P["champ_ok"][r["tested"]], P["cand_ok"][r["tested"]], max_drop=max_drop, alpha=alpha)
        tested.append((r["key"], r["description"], r["rows"], {
            "region": r["description"], "n": int(len(r["tested"])), "rows_per_set": per_set(r["tested"]),
            "tested_on": r["tested_on"], "chosen_on": r["chosen_on"], "region_rows": int(len(r["rows"])),
            "drop_on_chosen_half": r["drop_on_chosen_half"], "n_chosen_half": r["n_chosen_half"], **t}))
    return tested


def _region_slices(P: dict[str, Any], key: str, what: str, rows: np.ndarray, t: dict[str, Any],
                   max_drop: float) -> list[Any]:
    """One ``diagnose.Slice`` per eval set the failing region has rows in (all its rows of that set;
    the test's statistics, pooled, from the rows tested: for a flip region, its other half only)."""
    from diagnose import Slice

    starts = np.cumsum([0, *P["sizes"]])
    out = []
    for i, name in enumerate(P["names"]):
        g = np.sort(rows[P["set"][rows] == i])
        if not len(g):
            continue
        flip = {} if "tested_on" not in t else {
            "tested_on_half": t["tested_on"], "chosen_on_half": t["chosen_on"], "tested_rows": t["n"],
            "tested_rows_in_set": t["rows_per_set"][name], "region_rows": t["region_rows"],
            "note": f"region chosen on half {t['chosen_on']}; drop, bounds and p from half {t['tested_on']} only"}
        out.append(Slice(
            id=f"regression-{name}-{key}", method="regressions",
            description=f"{what} of {name!r} ({len(g)} rows; pooled over {', '.join(P['names'])}: "
                        f"{t['n']} rows tested): accuracy drop {t['drop']:+.3f}",
            indices=(g - starts[i]).astype(np.int64), n_analysed=P["sizes"][i],
            error_rate=float(1 - P["cand_ok"][g].mean()), baseline_error_rate=float(1 - P["champ_ok"][g].mean()),
            p_value=t["p"], q_value=t["q"], severity=t["drop"],
            evidence={"eval_set": name, "region": what, "drop": t["drop"], "lower": t["lower"],
                      "max_drop": max_drop, "negative_flip_rate": t["negative_flip_rate"],
                      "pooled_over": list(P["names"]), "pooled_rows": t["n"],
                      "net_negative_flips": t["negative_flips"] - t["positive_flips"],
                      "drop_in_set": float(P["champ_ok"][g].mean() - P["cand_ok"][g].mean()), **flip}))
    return out


def find_regressions(cands: Mapping[str, Any], champs: Mapping[str, Any], features: Mapping[str, Any], *,
                     max_drop: float, alpha: float = 0.05, seed: int = 0, min_size: int = 10,
                     n_clusters: int = 8, class_clusters: int = 0,
                     flip_search: bool = False) -> tuple[list[Any], list[dict[str, Any]]]:
    """Regions of the pooled eval sets of ``features`` whose paired accuracy drop is significantly
    above ``max_drop`` (score test, BH over all regions: clusters, classes and, with ``flip_search``,
    the split-half flip regions): ``(slices, records)``, one ``diagnose.Slice`` per failing region and
    eval set it has rows in (the regions with the most net negative flips first), and one record per
    region tested."""
    P = _pool(cands, champs, features)
    tested = _test_regions(P, max_drop=max_drop, alpha=alpha, seed=seed, min_size=min_size, n_clusters=n_clusters,
                           class_clusters=class_clusters, flip_search=flip_search)
    q = _bh(np.array([t[3]["p"] for t in tested])) if tested else []
    out = []
    for (key, what, rows, t), qv in zip(tested, q):
        t["q"] = float(qv)
        t["passed"] = not (qv <= alpha and t["drop"] > max_drop)
        if not t["passed"]:
            out += _region_slices(P, key, what, rows, t, max_drop)
    # the regions that break the most rows first (net negative flips of the rows tested), then the steepest
    return sorted(out, key=lambda s: (-s.evidence["net_negative_flips"], -s.severity)), [t[3] for t in tested]
