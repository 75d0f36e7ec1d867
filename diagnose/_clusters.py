"""Embedding-cluster slices: UMAP to 2-D, density clustering (HDBSCAN), tested for errors and
for under-representation in training; the ``"clusters"`` diagnoser.

How it works (``cluster_diagnoser``)
------------------------------------
1. **Map and cluster.** The analysed embeddings (n, d) go through UMAP to 2-D (umap-learn,
   ``random_state`` derived with ``child_seed(random_state, "umap")``), then
   ``sklearn.cluster.HDBSCAN`` on the 2-D map (``min_cluster_size`` default: 2.5% of the rows,
   clipped to [15, 250]; smaller values split a sub-population into fragments, see
   benchmarks/bench_diagnose_quality.py). Embeddings with at most 2 dimensions are clustered as
   they are, without UMAP. Neither step looks at labels or errors, so the clusters are not
   chosen for their errors.
2. **Re-applicable definition.** Each cluster is summarised in the ORIGINAL embedding space by
   k-means sub-centroids (about one per ``sub_size`` members, at most ``max_sub``); noise rows
   get sub-centroids of their own so they are not swallowed. A row belongs to cluster ``c``
   when its nearest sub-centroid belongs to ``c`` and lies within ``c``'s radius (the
   ``radius_quantile`` of its members' distances). This is the ``"centroid"`` definition that
   :meth:`Slice.contains` applies; a slice stores its own sub-centroids plus every competing
   sub-centroid within twice the radius (the only ones that can win for a row inside the radius,
   so the pruning is exact). The agreement (Jaccard) between this rule and the HDBSCAN members
   on the analysed rows is recorded in ``evidence["contains_agreement"]``.
3. **Error test, discovery vs confirmation.** With at least ``min_split_rows`` rows
   (``confirm="auto"``) the rows are split at random into two halves. The *discovery* half
   screens clusters: a cluster is a candidate when its one-sided Fisher exact p-value (errors
   in the cluster vs the rest) on that half is at most ``screen_alpha``. The *confirmation* half,
   untouched by the screen, tests the candidates again; Benjamini-Hochberg runs over the
   candidates' confirmation p-values (non-candidates get ``q = 1``). ``p_value`` / ``q_value``
   are the confirmation half's; ``error_rate`` and its Wilson interval use all members. With
   fewer rows (or ``confirm="all"``) every cluster is tested once on all rows, BH over all.
4. **Under-representation.** With ``train_embeddings``, training rows are assigned by the same
   rule as ``contains`` (step 2) and compared with the analysed rows assigned by that rule:
   a one-sided binomial test of "fewer training rows than the analysed share predicts", BH over
   clusters. A cluster whose q is at most ``alpha`` and whose representation (train share /
   analysed share) is at most ``max_representation`` is flagged ``"under_represented"`` even
   when its errors are not (yet) high. ``"isolated"`` is added when the nearest other cluster is
   more than ``isolation_threshold`` times the cluster's median member distance away. Isolation
   alone never reports a slice (so data with random errors yields none).
5. **Severity** = excess errors / n (see :mod:`diagnose._stats`) plus, for an under-represented
   cluster, ``baseline * (analysed share - train share)`` (x1.5 when isolated): the errors the
   missing training rows would carry at the baseline rate.

A slice is reported when it is ``"high_error"`` (q <= ``alpha``) or ``"under_represented"``.
The 2-D coordinates, cluster labels and a per-cluster table are left in
``inp.extra["artifacts"]["clusters"]`` for the report.
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError
from curakit.optional import import_optional
from curakit.records import json_ready
from curakit.seeds import child_seed
from curakit.validation import check_choice, check_interval

from ._confusion import _named
from ._diagnosers import DIAGNOSERS, AnalysisInput
from ._slice import Slice, slice_id
from ._stats import bh_adjust, binom_less, excess_severity, hypergeom_greater, wilson_interval

__all__ = ["MIN_ROWS", "ClusterResult", "assign_centroids", "cluster_diagnoser", "cluster_embeddings"]

logger = logging.getLogger(__name__)

#: Fewest analysed rows the clusters diagnoser accepts.
MIN_ROWS = 20


@dataclass(frozen=True, kw_only=True)
class ClusterResult:
    """UMAP coordinates, HDBSCAN labels (-1 = noise) and the centroid summary of each cluster."""

    coords: np.ndarray  # (n, 2)
    labels: np.ndarray  # (n,) int, -1 noise
    centroids: np.ndarray  # (K, d) original space
    centroid_cluster: np.ndarray  # (K,) cluster of each sub-centroid (-1 noise)
    radii: dict[int, float]
    umap_seed: int
    timings: dict[str, float] | None = None  # seconds: umap, hdbscan, summary

    @property
    def clusters(self) -> list[int]:
        return sorted(int(c) for c in np.unique(self.labels) if c >= 0)

    def assign(self, embeddings: np.ndarray) -> np.ndarray:
        """Cluster of each row by the ``contains`` rule (-1 for none)."""
        return assign_centroids(embeddings, self.centroids, self.centroid_cluster, self.radii)


def _nearest(emb: np.ndarray, centroids: np.ndarray, block: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Index of and distance to the nearest centroid, in blocks (same arithmetic as contains)."""
    emb = np.asarray(emb, dtype=np.float64)
    c = np.asarray(centroids, dtype=np.float64)
    c2 = (c**2).sum(1)
    idx = np.empty(len(emb), dtype=np.int64)
    dist = np.empty(len(emb))
    for start in range(0, len(emb), block):
        b = emb[start : start + block]
        d2 = (b**2).sum(1)[:, None] - 2 * b @ c.T + c2[None, :]
        nn = d2.argmin(1)
        idx[start : start + block] = nn
        dist[start : start + block] = np.sqrt(np.maximum(d2[np.arange(len(b)), nn], 0.0))
    return idx, dist


def assign_centroids(
    embeddings: np.ndarray, centroids: np.ndarray, centroid_cluster: np.ndarray, radii: dict[int, float]
) -> np.ndarray:
    nn, dist = _nearest(embeddings, centroids)
    cl = np.asarray(centroid_cluster)[nn]
    rad = np.array([radii.get(int(c), -1.0) if c >= 0 else -1.0 for c in range(int(cl.max(initial=-1)) + 1)])
    ok = cl >= 0
    ok[ok] = dist[ok] <= rad[cl[ok]]
    return np.where(ok, cl, -1)


def _check_cluster_params(n_neighbors, min_cluster_size, sub_size, max_sub, radius_quantile, cluster_selection):
    owner = "the clusters diagnoser"
    for name, val, lo in (("n_neighbors", n_neighbors, 2), ("min_cluster_size", min_cluster_size, 2),
                          ("sub_size", sub_size, 1), ("max_sub", max_sub, 1)):
        check_interval(val, name, owner, kind=int, low=lo)
    check_interval(radius_quantile, "radius_quantile", owner, low=0.5, high=1.0)
    check_choice(cluster_selection, "cluster_selection", owner, ("eom", "leaf"))


def _umap_coords(emb: np.ndarray, *, n_neighbors, min_dist, n_epochs, seed) -> np.ndarray:
    """2-D coordinates: the embeddings themselves when they have at most two columns, else UMAP."""
    n, d = emb.shape
    if d <= 2:
        return emb.copy() if d == 2 else np.column_stack([emb[:, 0], np.zeros(n)])
    with warnings.catch_warnings():  # umap imports tqdm.auto, which in Jupyter without ipywidgets warns
        warnings.filterwarnings("ignore", message=".*IProgress not found.*")  # (it never draws a bar here)
        umap = import_optional("umap")
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(int(n_neighbors), n - 1),
        min_dist=float(min_dist),
        n_epochs=n_epochs,
        random_state=seed,
    )
    # numba's OpenMP layer resets the process-wide OpenMP thread count during UMAP's fit; restore
    # torch's, or later torch training in this process runs with other threads (other floats).
    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*overridden to 1 by setting random_state.*")
            return np.asarray(reducer.fit_transform(emb), dtype=np.float64)
    finally:
        if torch_threads is not None and torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)


def _centroid_summary(emb, labels, *, sub_size, max_sub, radius_quantile, random_state):
    """(sub-centroids, cluster of each, radius per cluster): KMeans inside each cluster and the noise."""
    from sklearn.cluster import KMeans

    centroids, owner = [], []
    for c in [*sorted(int(v) for v in np.unique(labels) if v >= 0), -1]:
        rows = emb[labels == c]
        if len(rows) == 0:
            continue
        k = int(np.clip(math.ceil(len(rows) / sub_size), 1, max_sub if c >= 0 else 4 * max_sub))
        k = min(k, len(rows))
        if k == 1:
            cents = rows.mean(0, keepdims=True)
        else:
            km = KMeans(n_clusters=k, n_init=1, random_state=child_seed(random_state, "kmeans", c + 1))
            cents = km.fit(rows).cluster_centers_
        centroids.append(cents)
        owner.extend([c] * len(cents))
    cent = np.vstack(centroids) if centroids else np.zeros((0, emb.shape[1]))
    owner_arr = np.asarray(owner, dtype=np.int64)
    nn, dist = _nearest(emb, cent)
    radii: dict[int, float] = {}
    for c in sorted(int(v) for v in np.unique(labels) if v >= 0):
        sel = (labels == c) & (owner_arr[nn] == c)
        radii[c] = float(np.quantile(dist[sel], radius_quantile)) if sel.any() else 0.0
    return cent, owner_arr, radii


def cluster_embeddings(
    embeddings: np.ndarray,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.0,
    n_epochs: int | None = None,
    min_cluster_size: int | None = None,
    min_samples: int | None = None,
    cluster_selection: str = "eom",
    sub_size: int = 25,
    max_sub: int = 16,
    radius_quantile: float = 0.99,
    random_state: int = 0,
) -> ClusterResult:
    """UMAP (2-D) + HDBSCAN on ``embeddings`` and the centroid summary (module docstring)."""
    emb = np.asarray(embeddings, dtype=np.float64)
    n, d = emb.shape
    if n < MIN_ROWS:
        raise DataError(
            f"Cluster slices need at least {MIN_ROWS} analysed rows. Got {n} instead. "
            "Analyse more rows or leave out method 'clusters'."
        )
    if min_cluster_size is None:
        min_cluster_size = int(np.clip(round(0.025 * n), 15, 250))
    _check_cluster_params(n_neighbors, min_cluster_size, sub_size, max_sub, radius_quantile, cluster_selection)
    seed = child_seed(random_state, "umap")
    t0 = time.perf_counter()
    coords = _umap_coords(emb, n_neighbors=n_neighbors, min_dist=min_dist, n_epochs=n_epochs, seed=seed)
    from sklearn.cluster import HDBSCAN

    t1 = time.perf_counter()
    labels = HDBSCAN(
        min_cluster_size=int(min_cluster_size),
        min_samples=None if min_samples is None else int(min_samples),
        cluster_selection_method=cluster_selection,
        copy=True,
    ).fit_predict(coords)
    labels = np.asarray(labels, dtype=np.int64)
    t2 = time.perf_counter()
    cent, owner_arr, radii = _centroid_summary(
        emb, labels, sub_size=sub_size, max_sub=max_sub, radius_quantile=radius_quantile, random_state=random_state
    )
    timings = {"umap": t1 - t0, "hdbscan": t2 - t1, "summary": time.perf_counter() - t2}
    return ClusterResult(
        coords=coords,
        labels=labels,
        centroids=cent,
        centroid_cluster=owner_arr,
        radii=radii,
        umap_seed=seed,
        timings=timings,
    )


def _definition(res: ClusterResult, c: int) -> dict[str, Any]:
    """The exact-pruned centroid definition of cluster ``c`` (module docstring, step 2)."""
    own = np.flatnonzero(res.centroid_cluster == c)
    radius = res.radii[c]
    others = np.flatnonzero(res.centroid_cluster != c)
    if others.size:
        dmat = np.sqrt(
            np.maximum(
                (res.centroids[others] ** 2).sum(1)[:, None]
                - 2 * res.centroids[others] @ res.centroids[own].T
                + (res.centroids[own] ** 2).sum(1)[None, :],
                0.0,
            )
        )
        others = others[dmat.min(1) <= 2 * radius * (1 + 1e-9) + 1e-12]
    keep = np.concatenate([own, others])
    return {
        "kind": "centroid",
        "centroids": np.round(res.centroids[keep], 10),
        "member": list(range(own.size)),
        "radius": radius,
        "space": "embeddings",
    }


def _isolation(res: ClusterResult, emb: np.ndarray, c: int) -> float:
    own = res.centroid_cluster == c
    other = ~own
    if not other.any():
        return 0.0
    members = emb[res.labels == c]
    centre = members.mean(0)
    spread = float(np.median(np.sqrt(((members - centre) ** 2).sum(1)))) + 1e-12
    gap = float(np.sqrt(((res.centroids[other] - centre) ** 2).sum(1)).min())
    return gap / spread


def _check_cluster_diagnoser_params(alpha, confirm, screen_alpha, min_split_rows, max_representation,
                                    isolation_threshold):
    owner = "the clusters diagnoser"
    check_interval(alpha, "alpha", owner, low=0.0, high=1.0, closed="neither")
    check_choice(confirm, "confirm", owner, ("auto", "split", "all"))
    check_interval(screen_alpha, "screen_alpha", owner, low=0.0, high=1.0, closed="right")
    check_interval(min_split_rows, "min_split_rows", owner, kind=int, low=2)
    check_interval(max_representation, "max_representation", owner, low=0.0, high=1.0)
    check_interval(isolation_threshold, "isolation_threshold", owner, low=0.0, closed="neither")


def _cluster_error_tests(errors, labels, clusters, *, n, split, screen_alpha, random_state) -> dict[str, Any]:
    """The error test: discovery / confirmation halves (``split``), or all rows."""
    sizes = np.array([(labels == c).sum() for c in clusters], dtype=np.int64)
    errs = np.array([errors[labels == c].sum() for c in clusters], dtype=np.int64)
    if split and clusters:
        rng = np.random.default_rng(child_seed(random_state, "confirm-split"))
        half = np.zeros(n, dtype=bool)
        half[rng.permutation(n)[: n // 2]] = True  # True = discovery
        conf = ~half

        def test(part: np.ndarray) -> np.ndarray:
            k_in = np.array([errors[(labels == c) & part].sum() for c in clusters])
            n_in = np.array([((labels == c) & part).sum() for c in clusters])
            return hypergeom_greater(k_in, n_in, int(errors[part].sum()), int(part.sum()))

        p_screen = test(half)
        p_value = test(conf)
        cand = p_screen <= screen_alpha
        q_value = np.ones(len(clusters))
        if cand.any():
            q_value[cand] = bh_adjust(p_value[cand])
        scheme = "split"
    else:
        p_screen = np.full(len(clusters), np.nan)
        p_value = hypergeom_greater(errs, sizes, int(errors.sum()), n) if clusters else np.array([])
        q_value = bh_adjust(p_value)
        scheme = "all"
    return {"sizes": sizes, "errs": errs, "p_screen": p_screen, "p_value": p_value, "q_value": q_value,
            "scheme": scheme}


def _under_representation(res, inp, clusters, rule_sizes):
    """(training share per cluster, BH q-value of under-representation), by the contains rule on both sides."""
    if inp.train_embeddings is None or not clusters:
        return None, None
    t_rule = res.assign(np.asarray(inp.train_embeddings, dtype=np.float64))
    n_train = len(t_rule)
    t_counts = np.array([(t_rule == c).sum() for c in clusters], dtype=np.int64)
    train_share = t_counts / max(n_train, 1)
    p_under = binom_less(t_counts, n_train, np.maximum(rule_sizes / inp.n, 1e-12))
    return train_share, bh_adjust(p_under)


def _cluster_row(j, c, *, res, emb, rule, inp, t, alpha, max_representation, isolation_threshold):
    """The table row of cluster ``c`` and the numbers its Slice needs (``st``)."""
    n, baseline, labels = inp.n, inp.baseline_error_rate, res.labels
    sizes, errs, train_share, q_under = t["sizes"], t["errs"], t["train_share"], t["q_under"]
    members = np.flatnonzero(labels == c)
    in_rule = rule == c
    inter = int((in_rule & (labels == c)).sum())
    agreement = inter / max(int((in_rule | (labels == c)).sum()), 1)
    iso = _isolation(res, emb, c)
    share_rule = t["rule_sizes"][j] / n
    rep = None if train_share is None or share_rule == 0 else float(train_share[j] / share_rule)
    reasons = []
    if t["q_value"][j] <= alpha:
        reasons.append("high_error")
    under = bool(
        q_under is not None and q_under[j] <= alpha and rep is not None and rep <= max_representation
    )
    if under:
        reasons.append("under_represented")
    isolated = iso >= isolation_threshold
    extra = 0.0
    if under:
        extra = baseline * max(0.0, share_rule - float(train_share[j])) * (1.5 if isolated else 1.0)
    severity = excess_severity(errs[j], sizes[j] * baseline, n) + extra
    true_here = inp.y_true[members]
    vals, cnts = np.unique(true_here, return_counts=True)
    top = int(np.argmax(cnts))
    row = {
        "cluster": c,
        "size": int(sizes[j]),
        "errors": int(errs[j]),
        "error_rate": errs[j] / sizes[j],
        "lift": (errs[j] / sizes[j]) / baseline if baseline > 0 else math.nan,
        "p_value": float(t["p_value"][j]),
        "q_value": float(t["q_value"][j]),
        "train_share": None if train_share is None else float(train_share[j]),
        "share": sizes[j] / n,
        "representation": rep,
        "isolation": iso,
        "contains_agreement": agreement,
        "reported": bool(reasons),
    }
    st = {"members": members, "reasons": reasons, "under": under, "isolated": isolated, "extra": extra,
          "severity": severity, "share_rule": share_rule, "top_label": vals[top], "top_count": cnts[top]}
    return row, st


def _cluster_slice(j, c, row, st, *, res, inp, t) -> Slice:
    """The Slice of a reported cluster (``row`` and ``st`` from :func:`_cluster_row`)."""
    n, baseline = inp.n, inp.baseline_error_rate
    sizes, errs, train_share, q_under, scheme = t["sizes"], t["errs"], t["train_share"], t["q_under"], t["scheme"]
    reasons, rep, p_screen = st["reasons"], row["representation"], t["p_screen"]
    if st["isolated"]:
        reasons.append("isolated")
    err_rate = errs[j] / sizes[j]
    desc = (
        f"embedding cluster {c}: {int(sizes[j])} rows, error {err_rate:.0%} vs {baseline:.0%} overall, "
        f"mostly true {_named(json_ready(st['top_label']), t.get('class_names'))} ({st['top_count'] / sizes[j]:.0%})"
    )
    if st["under"]:
        desc += f"; under-represented in training (x{rep:.2f})"
    if st["isolated"]:
        desc += "; isolated"
    definition = _definition(res, c)
    return Slice(
        id=slice_id("clusters", definition),
        method="clusters",
        description=desc,
        indices=st["members"],
        n_analysed=n,
        error_rate=float(err_rate),
        baseline_error_rate=baseline,
        error_ci=wilson_interval(errs[j], sizes[j]),
        train_share=None if train_share is None else float(train_share[j]),
        p_value=float(t["p_value"][j]),
        q_value=float(t["q_value"][j]),
        severity=st["severity"],
        definition=definition,
        evidence={
            "kind": "cluster",
            "cluster": c,
            "reasons": reasons,
            "lift": row["lift"],
            "errors": int(errs[j]),
            "expected_errors": float(sizes[j] * baseline),
            "severity_extra": st["extra"],
            "contains_agreement": row["contains_agreement"],
            "analysed_share_by_rule": float(st["share_rule"]),
            "representation": rep,
            "under_representation_q": None if q_under is None else float(q_under[j]),
            "isolation": row["isolation"],
            "test_scheme": scheme,
            "screen_p_value": None if math.isnan(p_screen[j]) else float(p_screen[j]),
            "test": (
                "one-sided Fisher exact on the confirmation half, BH over the clusters screened in "
                "on the discovery half"
                if scheme == "split"
                else "one-sided Fisher exact on all rows, BH over all clusters"
            ),
            "top_label": json_ready(st["top_label"]),
            "top_label_share": float(st["top_count"] / sizes[j]),
        },
    )


def _cluster_report(inp, res, rows, out, scheme) -> list[Slice]:
    """Store the cluster artefacts (coords, table) on ``inp.extra``, log, and sort the slices."""
    table = pd.DataFrame(rows)
    agreement_all = (
        float(np.mean([r["contains_agreement"] for r in rows])) if rows else math.nan
    )
    inp.extra.setdefault("artifacts", {})["clusters"] = {
        "coords": res.coords,
        "labels": res.labels,
        "table": table,
        "scheme": scheme,
        "mean_contains_agreement": agreement_all,
        "umap_seed": res.umap_seed,
        "timings_s": dict(res.timings or {}),
    }
    logger.info(
        "clusters: %d clusters, %d reported, scheme=%s, mean contains agreement %.3f",
        len(res.clusters),
        len(out),
        scheme,
        agreement_all,
    )
    out.sort(key=lambda s: (-s.severity, s.id))
    return out


@DIAGNOSERS.register("clusters", requires=("embeddings",))
def cluster_diagnoser(
    inp: AnalysisInput,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.0,
    n_epochs: int | None = None,
    min_cluster_size: int | None = None,
    min_samples: int | None = None,
    cluster_selection: str = "eom",
    alpha: float = 0.05,
    confirm: str = "auto",
    screen_alpha: float = 0.25,
    min_split_rows: int = 400,
    max_representation: float = 0.5,
    isolation_threshold: float = 3.0,
    sub_size: int = 25,
    max_sub: int = 16,
    radius_quantile: float = 0.99,
    class_names: Any = None,
) -> list[Slice]:
    """Cluster slices (module docstring); options are passed as ``find_slices(clusters={...})``.
    ``class_names`` (a list by class index, or a mapping label -> name) names the clusters' main class in
    the descriptions ("mostly true 'Shirt'"), as the confusion method's option of that name does."""
    _check_cluster_diagnoser_params(alpha, confirm, screen_alpha, min_split_rows, max_representation,
                                    isolation_threshold)
    emb = np.asarray(inp.embeddings, dtype=np.float64)
    n = inp.n
    res = inp.extra.get("cluster_result")
    if res is None:
        res = cluster_embeddings(
            emb,
            n_neighbors=n_neighbors,
            min_dist=min_dist,
            n_epochs=n_epochs,
            min_cluster_size=min_cluster_size,
            min_samples=min_samples,
            cluster_selection=cluster_selection,
            sub_size=sub_size,
            max_sub=max_sub,
            radius_quantile=radius_quantile,
            random_state=inp.random_state,
        )
    errors = np.asarray(inp.errors, dtype=bool)
    clusters = res.clusters
    rule = res.assign(emb)
    split = confirm == "split" or (confirm == "auto" and n >= min_split_rows)
    t = _cluster_error_tests(errors, res.labels, clusters, n=n, split=split, screen_alpha=screen_alpha,
                             random_state=inp.random_state)
    t["rule_sizes"] = np.array([(rule == c).sum() for c in clusters], dtype=np.int64)
    t["train_share"], t["q_under"] = _under_representation(res, inp, clusters, t["rule_sizes"])
    t["class_names"] = class_names

    rows = []
    out: list[Slice] = []
    for j, c in enumerate(clusters):
        row, st = _cluster_row(j, c, res=res, emb=emb, rule=rule, inp=inp, t=t, alpha=alpha,
                               max_representation=max_representation, isolation_threshold=isolation_threshold)
        rows.append(row)
        if st["reasons"]:
            out.append(_cluster_slice(j, c, row, st, res=res, inp=inp, t=t))
    return _cluster_report(inp, res, rows, out, t["scheme"])
