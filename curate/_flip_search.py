"""Flip-guided split-half region search: regions chosen on one half of the eval rows, tested on the other.

Why. The k-means clusters of :mod:`curate._regressions` are fixed before looking at the two models,
so a harm on a sub-population that is a minority of every cluster is diluted: the cluster's drop is
the harmed rows' drop times their share. Looking at where the candidate's flips are, and testing
there, would find it, but a region chosen on the same rows it is tested on makes the test invalid
(the selection inflates the drop). Splitting the rows fixes that (Cox 1975, "A note on data-splitting
for the evaluation of significance levels"; the honest trees of Athey & Imbens 2016).

Method.

1. Split the pooled eval rows into halves A and B with a seeded split stratified by eval set and
   true class (in each stratum, a random half of the rows, the odd row to either half at random).
2. On the choosing half, fit a shallow regression tree (depth ``max_depth``, leaves of at least
   ``max(min_size, 2 % of the half)`` rows) predicting the per-row paired outcome ``champion right -
   candidate right`` (1: negative flip, -1: positive flip, 0: no change). A leaf's mean of it is
   that leaf's accuracy drop on the choosing half, so the squared-error splits look for
   sub-populations whose drop differs: the score of "where are the negative flips" that also counts
   the positive flips the test counts. Inputs: the features, their first ``n_components`` principal
   components (standardised, fitted on the choosing half; oblique directions an axis-aligned split
   cannot make) and the one-hot true class.
3. Screen the leaves on the choosing half: keep those whose drop there is significantly above
   ``max_drop`` (the score test at one-sided ``alpha``, unadjusted; a screen, not a test), at most
   ``top_k``, largest drop first. Without it, large leaves with a drop just above the margin join
   the region and dilute it (seen on the development data). The region of a direction is the union
   of the kept leaves (the rows where the tree says "harmed"; ``union=False``: each leaf apart). A
   leaf is a rule on the features (the tree's path), so it applies to every row; the region's rows
   of the *other* half are tested with the gate's paired score test
   (:func:`curate._regressions.paired_drop`). Conditional on the choosing half, the other half's
   rows are independent of the choice (the rows are independent draws and the models are fixed), so
   that test has its nominal size.
4. Both directions (choose on A, test on B; choose on B, test on A) are run; the region of each
   (at most two, or ``2 * top_k`` with ``union=False``) is one more hypothesis of the gate's single
   Benjamini-Hochberg family, with the clusters and the classes. Each p-value is valid on its own;
   the family is controlled as the gate's clusters already are: BH is exact for independent or
   positively dependent p-values, and neither overlapping clusters nor the two directions (each
   half chooses one region and tests the other) are proven to be; Benjamini-Yekutieli would be the
   assumption-free alternative, at a cost in power. No p-value is combined or re-used.

A failing flip region is reported with *all* its rows of each eval set (both halves: the region is
the rule), while its test statistics (n, drop, bounds, p) come from the tested half only; the
evidence says which half was tested and how many rows that was.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = ["flip_regions", "split_halves"]

# the score statistic of "drop <= margin" from (negative flips, positive flips, n, margin): the
# caller passes curate._regressions.score_z (passed in, not imported: that module imports this one)
Score = Callable[[int, int, int, float], float]


def split_halves(set_ids: np.ndarray, y: np.ndarray, seed: int | None) -> np.ndarray:
    """Boolean mask of half A over the pooled rows: per (eval set, true class) stratum, a seeded
    random half of its rows (an odd stratum's extra row goes to A or B at random)."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(11,)))
    keys = np.char.add(np.char.add(np.asarray(set_ids).astype(str), "\x00"), np.asarray(y).astype(str))
    strata = np.ravel(np.unique(keys, return_inverse=True)[1])
    in_a = np.zeros(len(strata), dtype=bool)
    for s in range(int(strata.max()) + 1 if len(strata) else 0):
        rows = np.flatnonzero(strata == s)
        half = len(rows) // 2 + (int(rng.integers(2)) if len(rows) % 2 else 0)
        in_a[rng.permutation(rows)[:half]] = True
    return in_a


def _design(X: np.ndarray, y: np.ndarray, choose: np.ndarray, n_components: int) -> np.ndarray:
    """The tree's inputs: the features, their first ``n_components`` principal components (of the
    standardised features, fitted on the choosing half only: oblique directions an axis-aligned split
    cannot make) and, when there are 2 to 50 classes, the one-hot true class."""
    parts = [X]
    k = min(n_components, X.shape[1], int(choose.sum()) - 1)
    if k >= 1:
        mu, sd = X[choose].mean(0), X[choose].std(0)
        S = (X - mu) / np.where(sd > 0, sd, 1.0)
        _, _, vt = np.linalg.svd(S[choose], full_matrices=False)
        parts.append(S @ vt[:k].T)
    values, codes = np.unique(np.asarray(y), return_inverse=True)
    if 2 <= len(values) <= 50:
        parts.append(np.eye(len(values))[np.ravel(codes)])
    return np.hstack(parts)


def _leaves(Z: np.ndarray, d: np.ndarray, choose: np.ndarray, *, score: Score, max_drop: float, alpha: float,
            min_size: int, max_depth: int, top_k: int, seed: int | None) -> tuple[np.ndarray, list[tuple[int, float, int]]]:
    """Fit the tree on the ``choose`` rows; ``(leaf of every row, [(leaf, drop on choose, n on choose)])``
    for the leaves whose drop on the choosing rows is significantly above ``max_drop`` (the score
    test at one-sided ``alpha``, unadjusted: a screen), largest drop first, ``top_k`` at most."""
    from sklearn.tree import DecisionTreeRegressor

    leaf_min = max(min_size, math.ceil(0.02 * int(choose.sum())))
    tree = DecisionTreeRegressor(max_depth=max_depth, min_samples_leaf=leaf_min, random_state=seed)
    tree.fit(Z[choose], d[choose])
    leaf = tree.apply(Z)
    z_min = NormalDist().inv_cdf(1.0 - alpha)
    picked = []
    for v in np.unique(leaf[choose]):
        dv = d[choose & (leaf == v)]
        neg, pos = int((dv > 0).sum()), int((dv < 0).sum())
        if score(neg, pos, len(dv), max_drop) > z_min:  # a screen on the choosing half, no test
            picked.append((int(v), float(dv.mean()), len(dv)))
    picked.sort(key=lambda t: (-t[1], t[0]))
    return leaf, picked[:top_k]


def flip_regions(X: np.ndarray, y: np.ndarray, set_ids: np.ndarray, champ_ok: np.ndarray, cand_ok: np.ndarray, *,
                 score: Score, max_drop: float, alpha: float, min_size: int, seed: int | None, max_depth: int = 3,
                 top_k: int = 4,
                 union: bool = True, n_components: int = 10) -> list[dict[str, Any]]:
    """The flip regions of both directions over the pooled rows: one dict per region with ``key``
    (``flip-<k>``), ``description``, ``rows`` (all pooled rows in the region, both halves) and
    ``tested`` (its rows of the other half, the only rows its test may use), ``chosen_on`` /
    ``tested_on`` (``"A"`` / ``"B"``), and the region's drop and size on the choosing half. A region
    is the union of the picked leaves (``union``: where the tree predicts a drop above ``max_drop``,
    one region per direction) or each picked leaf on its own."""
    X = np.asarray(X, dtype=np.float64)
    d = np.asarray(champ_ok, dtype=np.float64) - np.asarray(cand_ok, dtype=np.float64)
    in_a = split_halves(set_ids, y, seed)
    out: list[dict[str, Any]] = []
    for chosen_on, choose in (("A", in_a), ("B", ~in_a)):
        tested_on, test = ("B", ~in_a) if chosen_on == "A" else ("A", in_a)
        if choose.sum() < 2 * min_size or test.sum() < min_size:
            continue
        Z = _design(X, y, choose, n_components)
        leaf, picked = _leaves(Z, d, choose, score=score, max_drop=max_drop, alpha=alpha, min_size=min_size,
                               max_depth=max_depth, top_k=top_k, seed=seed)
        groups = [[v for v, _, _ in picked]] if union and picked else [[v] for v, _, _ in picked]
        for leaves in groups:
            member = np.isin(leaf, leaves)
            tested = np.flatnonzero(test & member)
            if len(tested) < min_size:
                continue
            k = len(out)
            what = f"{len(leaves)} tree leaves" if len(leaves) > 1 else "tree leaf"
            out.append({"key": f"flip-{k}", "rows": np.flatnonzero(member), "tested": tested,
                        "chosen_on": chosen_on, "tested_on": tested_on,
                        "drop_on_chosen_half": float(d[choose & member].mean()),
                        "n_chosen_half": int((choose & member).sum()),
                        "description": f"flip region {k} ({what} chosen on half {chosen_on}, tested on half "
                                       f"{tested_on})"})
    return out
