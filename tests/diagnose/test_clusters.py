"""Cluster slices: UMAP + HDBSCAN, split confirmation with BH, centroid re-application,
under-representation. One UMAP fit is shared by most tests (the clustering never looks at errors,
so the same clustering serves every error pattern)."""

from __future__ import annotations

import numpy as np
import pytest

import diagnose
from diagnose import DataError, ParameterError
from diagnose._clusters import cluster_diagnoser, cluster_embeddings
from diagnose._diagnosers import AnalysisInput

CENTERS = np.random.default_rng(42).uniform(-10, 10, size=(6, 16))
SIZES = [110, 110, 110, 110, 110, 30]  # blob 5 is the small one


def blobs(sizes, seed):
    rng = np.random.default_rng(seed)
    X = np.vstack([CENTERS[i] + rng.normal(size=(s, 16)) for i, s in enumerate(sizes)])
    blob = np.repeat(np.arange(len(sizes)), sizes)
    return X, blob


@pytest.fixture(scope="module")
def data():
    X, blob = blobs(SIZES, 0)
    y = blob % 3  # three classes
    res = cluster_embeddings(X, n_epochs=60, random_state=0)
    return X, blob, y, res


def make_inp(X, y, errors, res=None, **kw):
    pred = np.where(errors, (y + 1) % 3, y)
    extra = {} if res is None else {"cluster_result": res}
    return AnalysisInput(y_true=y, y_pred=pred, errors=errors, embeddings=X, extra=extra, **kw)


def jaccard(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_clusters_recover_blobs_and_contains_agrees(data):
    X, blob, _, res = data
    # the blob centres are far apart next to the unit noise, so any UMAP layout separates them
    # (1.0 on every seed tried); 0.9 leaves room for rows HDBSCAN calls noise
    for b in range(6):
        best = max(jaccard(res.labels == c, blob == b) for c in res.clusters)
        assert best >= 0.9
    # the centroid rule (what Slice.contains applies) recovers HDBSCAN's members: the radius is the
    # 0.99 quantile of the members' distances, so at least 29 of 30 members are inside it
    rule = res.assign(X)
    for c in res.clusters:
        assert jaccard(rule == c, res.labels == c) >= 0.9


def test_planted_error_cluster_is_found_and_reapplied(data):
    X, blob, y, res = data
    rng = np.random.default_rng(1)
    errors = rng.random(len(y)) < 0.05
    errors[blob == 5] = rng.random((blob == 5).sum()) < 0.6
    inp = make_inp(X, y, errors, res)
    slices = cluster_diagnoser(inp)
    assert slices, "the planted cluster must be reported"
    s = slices[0]
    assert s.method == "clusters" and s.definition["kind"] == "centroid"
    assert jaccard(s.mask(), blob == 5) >= 0.8
    assert "high_error" in s.evidence["reasons"]
    assert s.evidence["test_scheme"] == "split" and s.q_value <= 0.05
    lo, hi = s.error_ci
    assert lo <= s.error_rate <= hi and s.error_rate > 0.4
    # re-application: on the analysed rows (agreement recorded), and on fresh rows of the same blobs
    got = s.contains(embeddings=X)
    agreement = jaccard(got, s.mask())
    assert agreement == pytest.approx(s.evidence["contains_agreement"])
    assert agreement >= 0.9
    # Fresh rows: the radius is the 0.99 quantile of the members' distances to sub-centroids fitted
    # on those members, so fresh rows fall outside it more often (recall 0.77-0.89 over UMAP seeds
    # 0-4 on 300 fresh rows); the blobs are far apart, so no row of another blob is ever inside.
    X_new, blob_new = blobs(SIZES[:5] + [300], 7)
    got_new = s.contains(embeddings=X_new)
    assert got_new[blob_new != 5].sum() == 0
    assert got_new[blob_new == 5].mean() >= 0.6
    # the stored (pruned) definition decides exactly like the full centroid set
    probe = np.vstack([X_new, X_new + np.random.default_rng(3).normal(scale=2.0, size=X_new.shape)])
    np.testing.assert_array_equal(s.contains(embeddings=probe), res.assign(probe) == s.evidence["cluster"])
    # JSON round trip keeps the definition usable
    s2 = diagnose.Slice.from_json(s.to_json())
    np.testing.assert_array_equal(s2.contains(embeddings=X_new), s.contains(embeddings=X_new))


def test_random_errors_report_no_cluster(data):
    """Errors independent of the embedding: screening + BH keeps noise out (20 error draws).

    With every hypothesis null, BH at alpha=0.05 reports anything with probability <= 0.05 per
    draw, so of 20 independent draws P(4 or more report a slice) < 0.02 (binomial bound): the
    bound holds whatever UMAP layout a CPU gives, unlike a count next to one machine's value."""
    X, _, y, res = data
    runs_with_slices = 0
    for seed in range(20):
        errors = np.random.default_rng(200 + seed).random(len(y)) < 0.15
        runs_with_slices += bool(cluster_diagnoser(make_inp(X, y, errors, res)))
    assert runs_with_slices <= 3
    # the all-rows scheme as well
    runs_with_slices = 0
    for seed in range(20):
        errors = np.random.default_rng(300 + seed).random(len(y)) < 0.15
        runs_with_slices += bool(cluster_diagnoser(make_inp(X, y, errors, res), confirm="all"))
    assert runs_with_slices <= 3


def test_under_represented_cluster_is_flagged_before_errors_are_high(data):
    X, blob, y, res = data
    errors = np.random.default_rng(5).random(len(y)) < 0.1  # no error excess anywhere
    X_train, _ = blobs([220, 220, 220, 220, 220, 3], 11)  # blob 5 nearly absent in training
    slices = cluster_diagnoser(make_inp(X, y, errors, res, train_embeddings=X_train))
    flagged = [s for s in slices if "under_represented" in s.evidence["reasons"]]
    assert len(flagged) == 1
    s = flagged[0]
    assert jaccard(s.mask(), blob == 5) >= 0.8
    assert "high_error" not in s.evidence["reasons"]
    assert s.train_share == pytest.approx(s.contains(embeddings=X_train).mean())
    assert s.evidence["representation"] < 0.2
    assert s.severity > 0 and s.evidence["severity_extra"] > 0
    # training rows from the same distribution: nothing is under-represented
    X_same, _ = blobs([220, 220, 220, 220, 220, 60], 12)
    assert cluster_diagnoser(make_inp(X, y, errors, res, train_embeddings=X_same)) == []


def test_find_slices_is_deterministic_and_keeps_coords(data):
    X, blob, y, _ = data
    rng = np.random.default_rng(1)
    errors = rng.random(len(y)) < 0.05
    errors[blob == 5] = rng.random((blob == 5).sum()) < 0.6
    pred = np.where(errors, (y + 1) % 3, y)
    kw = dict(embeddings=X, methods=["clusters"], random_state=3, clusters={"n_epochs": 60})
    d1 = diagnose.find_slices(y, pred, **kw)
    d2 = diagnose.find_slices(y, pred, **kw)
    assert [s.to_dict() for s in d1.slices] == [s.to_dict() for s in d2.slices]
    np.testing.assert_array_equal(d1.coords, d2.coords)
    assert d1.coords_.shape == (len(y), 2)
    np.testing.assert_array_equal(d1.errors_, errors)
    assert d1.info["clusters"]["mean_contains_agreement"] >= 0.9
    assert jaccard(d1.slices[0].mask(), blob == 5) >= 0.8


def test_parameter_and_data_errors(data):
    X, blob, y, res = data
    errors = np.zeros(len(y), dtype=bool)
    errors[:10] = True
    with pytest.raises(ParameterError, match=r"The 'confirm' parameter of the clusters diagnoser must be one of \['auto', 'split', 'all'\]. Got 'half' instead."):
        cluster_diagnoser(make_inp(X, y, errors, res), confirm="half")
    with pytest.raises(ParameterError, match=r"The 'alpha' parameter of the clusters diagnoser must be a float in the range \(0.0, 1.0\)"):
        cluster_diagnoser(make_inp(X, y, errors, res), alpha=1.0)
    with pytest.raises(ParameterError, match=r"The 'min_cluster_size' parameter of the clusters diagnoser must be an int in the range \[2, inf\)\. Got 1 instead\."):
        cluster_embeddings(X, min_cluster_size=1)
    with pytest.raises(ParameterError, match=r"The 'alpha' parameter of the clusters diagnoser must be a float .* Got 'high' instead"):
        cluster_diagnoser(make_inp(X, y, errors, res), alpha="high")  # a string is a one-line error, not float()'s
    with pytest.raises(ParameterError, match=r"The 'screen_alpha' parameter of the clusters diagnoser must be a float in the range \(0\.0, 1\.0\]"):
        cluster_diagnoser(make_inp(X, y, errors, res), screen_alpha=0.0)
    with pytest.raises(ParameterError, match=r"The 'min_split_rows' parameter .* must be an int in the range \[2, inf\)"):
        cluster_diagnoser(make_inp(X, y, errors, res), min_split_rows=1.5)
    with pytest.raises(ParameterError, match=r"The 'radius_quantile' parameter .* must be a float in the range \[0\.5, 1\.0\]"):
        cluster_embeddings(X, radius_quantile=0.2)
    with pytest.raises(ParameterError, match=r"The 'cluster_selection' parameter .* must be one of \['eom', 'leaf'\]"):
        cluster_embeddings(X, cluster_selection="best")
    with pytest.raises(DataError, match="Cluster slices need at least 20 analysed rows. Got 5 instead."):
        cluster_embeddings(X[:5])
    planted = cluster_diagnoser(make_inp(X, y, blob == 5, res))
    assert planted
    with pytest.raises(DataError, match=r"was found in a 16-d embedding space; got embeddings of shape \(3, 4\)"):
        planted[0].contains(embeddings=np.zeros((3, 4)))
