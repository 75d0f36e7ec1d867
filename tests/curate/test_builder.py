"""TrainingSetBuilder on tables: windows, alpha mix, replay, recency, augmented rows, leakage,
dedup, group split, preprocessing, manifest and reproducibility."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression

import curate
from augment._lineage import LINEAGE_COLUMNS, LineageRow, lineage_frame
from curate._builder import REHEARSE_HOW


@pytest.fixture(scope="module")
def wine():
    d = load_wine(as_frame=True).frame
    d = d.sample(frac=1.0, random_state=0).reset_index(drop=True)  # mix classes over time
    d["when"] = pd.date_range("2014-01-01", periods=len(d), freq="3D")
    return d.iloc[:120].reset_index(drop=True), d.iloc[120:].reset_index(drop=True)


def drift_frames(n_old=600, n_new=300, seed=0):
    """Old rows follow y = [x0 + x1 > 0]; new rows follow y = [x0 - x1 > 0] (concept drift)."""
    rng = np.random.default_rng(seed)

    def part(n, sign, start):
        X = rng.normal(size=(n, 3))
        f = pd.DataFrame(X, columns=["a", "b", "c"])
        f["y"] = (X[:, 0] + sign * X[:, 1] > 0).astype(int)
        f["t"] = pd.date_range(start, periods=n, freq="D")
        return f

    old = part(n_old, 1, "2010-01-01")
    new = part(n_new, -1, pd.Timestamp("2010-01-01") + pd.Timedelta(days=n_old))
    return old, new


class FakeAugmentedSet:
    """An object following the augment.AugmentedSet contract (X / images, labels, manifest)."""

    def __init__(self, X=None, images=None, labels=None, manifest=None):
        self.X, self.images, self.labels, self.manifest = X, images, labels, manifest


def tabular_augmented(old: pd.DataFrame, parents: list[int], features: list[str], slice_id="rules-1a2b"):
    X = old.loc[parents, features].reset_index(drop=True) + 0.5
    rows = [
        LineageRow(row_id=f"aug:{slice_id}:{k}", origin="augmented", source="augment.offline", parent_ids=(str(p),),
                   operation="jitter", params={"scale": 0.5}, slice_ids=(slice_id,), seed=11)
        for k, p in enumerate(parents)
    ]
    man = lineage_frame(rows)
    man["parent"] = np.asarray(parents, dtype=np.int64)
    man["path"] = None
    return FakeAugmentedSet(X=X, labels=old.loc[parents, "target"].to_numpy(), manifest=man)


# -- windows ---------------------------------------------------------------------------------------
def test_fixed_window_last_keeps_latest_span(wine):
    old, new = wine
    ts = curate.TrainingSetBuilder(old, new, target="target", time="when").window(last="180D").build()
    t_max = max(old.when.max(), new.when.max())
    assert (ts.frame["when"] > t_max - pd.Timedelta("180D")).all()
    expected = ((old.when > t_max - pd.Timedelta("180D")).sum(), (new.when > t_max - pd.Timedelta("180D")).sum())
    assert (ts.mask(origins=["old"]).sum(), ts.mask(origins=["new"]).sum()) == expected
    span = ts.info["window"]["span"]
    assert span == f"{ts.frame.when.min().date()}..{ts.frame.when.max().date()}"
    assert set(ts.manifest["reason"]) <= {f"new data in window {span}", f"old data in window {span}"}
    assert ts.info["window"]["mode"] == "fixed"


def test_window_last_n_and_start_end(wine):
    old, new = wine
    ts = curate.TrainingSetBuilder(old, new, target="target", time="when").window(last_n=70).build()
    assert len(ts) == 70 and ts.frame.when.min() == pd.concat([old.when, new.when]).nlargest(70).min()
    ts = curate.TrainingSetBuilder(old, new, target="target", time="when").window(start="2014-06-01", end="2014-09-29").build()
    assert ts.frame.when.min() >= pd.Timestamp("2014-06-01") and ts.frame.when.max() <= pd.Timestamp("2014-09-29")
    all_t = pd.concat([old.when, new.when])
    assert len(ts) == int(((all_t >= "2014-06-01") & (all_t <= "2014-09-29")).sum())


def test_window_without_time_column_uses_arrival_order(wine):
    old, new = wine
    ts = curate.TrainingSetBuilder(old.drop(columns="when"), new.drop(columns="when"), target="target").window(last_n=80).build()
    # the 58 new rows and the 22 last old rows
    assert ts.mask(origins=["new"]).sum() == len(new)
    assert sorted(ts.manifest.row_id[ts.mask(origins=["old"])]) == sorted(f"old:{i}" for i in range(98, 120))


def test_auto_window_prefers_the_current_concept():
    old, new = drift_frames()
    seen = []

    def score(X_tr, y_tr, X_te, y_te):
        seen.append(len(X_tr))
        m = LogisticRegression().fit(X_tr, y_tr)
        return float((m.predict(X_te) == y_te).mean())

    b = curate.TrainingSetBuilder(old, new, target="y", time="t")
    ts = b.window("auto", candidates=["200D", None], score=score).build()
    info = ts.info["window"]
    scores = {c["window"]: c["score"] for c in info["candidates"]}
    assert info["mode"] == "auto" and info["chosen"] == "last=200D"
    assert scores["last=200D"] > scores["all"] + 0.1
    assert len(seen) == 2 and info["holdout_rows"] == 60
    # the chosen window is applied relative to the latest time
    assert (ts.frame.t > new.t.max() - pd.Timedelta("200D")).all()
    # the default model finds the same ordering
    ts2 = curate.TrainingSetBuilder(old, new, target="y", time="t").window("auto", candidates=["200D", None]).build()
    assert ts2.info["window"]["chosen"] == "last=200D" and "LogisticRegression" in ts2.info["window"]["model"]


# -- alpha ----------------------------------------------------------------------------------------
def test_mix_fixed_alpha_samples_old_rows(wine):
    old, new = wine
    ts = curate.TrainingSetBuilder(old, new, target="target", time="when").mix(alpha=0.25).build(random_state=3)
    n_old = ts.mask(origins=["old"]).sum()
    assert n_old == round(0.25 * len(old)) and ts.mask(origins=["new"]).sum() == len(new)
    reasons = set(ts.manifest.reason[ts.mask(origins=["old"])])
    assert reasons == {"old data sampled at alpha=0.25"}
    assert ts.info["mix"] == {"stratify": False, "old_rows_available": 120, "mode": "fixed", "alpha": 0.25, "old_rows": 30}
    assert (ts.manifest.seed[ts.mask(origins=["old"])] == ts.info["seeds"]["mix"]).all()


def test_mix_stratified_keeps_class_shares(wine):
    old, new = wine
    ts = curate.TrainingSetBuilder(old, new, target="target").mix(alpha=0.5, stratify=True).build()
    got = ts.frame.target[ts.mask(origins=["old"])].value_counts().sort_index()
    want = np.round(old.target.value_counts().sort_index() * 0.5).astype(int)
    assert (got == want).all()


def test_auto_alpha_rejects_contradicting_old_data():
    old, new = drift_frames()
    ts = curate.TrainingSetBuilder(old, new, target="y", time="t").mix(alpha="auto", grid=[0.0, 0.5, 1.0]).build()
    info = ts.info["mix"]
    assert info["mode"] == "auto" and info["grid"] == [0.0, 0.5, 1.0] and len(info["scores"]) == 3
    assert info["alpha"] == 0.0 and info["scores"][0] > info["scores"][2] + 0.1
    assert ts.mask(origins=["old"]).sum() == 0
    # with a user estimator, the old concept helps when it equals the new one
    same_old, _ = drift_frames(seed=1)
    same_old["y"] = (same_old.a - same_old.b > 0).astype(int)
    small_new = new.iloc[:60].reset_index(drop=True)
    ts = (curate.TrainingSetBuilder(same_old, small_new, target="y", time="t")
          .mix(alpha="auto", grid=[0.0, 1.0], model=LogisticRegression()).build())
    assert ts.info["mix"]["model"] == "model=LogisticRegression"
    assert ts.info["mix"]["scores"][1] >= ts.info["mix"]["scores"][0]


# -- replay, recency ----------------------------------------------------------------------------
@pytest.mark.parametrize("how", REHEARSE_HOW)
def test_rehearse_adds_left_out_old_rows(wine, how):
    old, new = wine
    ts = curate.TrainingSetBuilder(old, new, target="target", time="when").mix(alpha=0.1).rehearse(n=15, how=how).build()
    replay = ts.manifest.reason == f"replay buffer ({how})"
    sampled = ts.manifest.reason.str.startswith("old data sampled")
    assert replay.sum() == 15 and sampled.sum() == 12
    assert not set(ts.manifest.row_id[replay]) & set(ts.manifest.row_id[sampled])
    assert ts.info["rehearse"]["rows"] == 15 and ts.info["rehearse"]["how"] == how
    if how == "class_balanced":
        assert sorted(ts.frame.target[replay.to_numpy()].value_counts().tolist()) == [5, 5, 5]


def test_rehearse_nearest_is_nearer_than_random(wine):
    old, new = drift_frames()
    new = new.copy()
    new["a"] += 2.0  # new data sits in one corner of the old data
    near = curate.TrainingSetBuilder(old, new, target="y").mix(alpha=0.0).rehearse(n=50, how="nearest").build()
    rand = curate.TrainingSetBuilder(old, new, target="y").mix(alpha=0.0).rehearse(n=50, how="random").build()
    a_near = near.frame.a[near.mask(origins=["old"])].mean()
    a_rand = rand.frame.a[rand.mask(origins=["old"])].mean()
    assert a_near > a_rand + 1.0


def test_recency_weights_halve_every_half_life(wine):
    old, new = wine
    ts = curate.TrainingSetBuilder(old, new, target="target", time="when").recency("30D").build()
    age_days = (ts.frame.when.max() - ts.frame.when).dt.days.to_numpy()
    np.testing.assert_allclose(ts.weights, 0.5 ** (age_days / 30.0))
    assert ts.weights.max() == 1.0 and ts.info["recency"]["half_life"] == "30D"


# -- augmented rows, split ----------------------------------------------------------------------
def test_add_augmented_set_maps_parents_and_groups_split(wine):
    old, new = wine
    features = [c for c in old.columns if c not in ("target", "when")]
    aug = tabular_augmented(old, list(range(0, 40, 2)), features)
    ts = curate.TrainingSetBuilder(old, new, target="target", time="when").add(aug).split(0.3).build(random_state=1)
    m = ts.manifest
    augm = m[m.origin == "augmented"]
    assert len(augm) == 20 and set(augm.reason) == {"augmented fill of slice rules-1a2b"}
    assert json.loads(augm.parent_ids.iloc[1]) == ["old:2"]
    split_of = dict(zip(m.row_id, m.split))
    for rid, pids in zip(augm.row_id, augm.parent_ids):
        assert split_of[rid] == split_of[json.loads(pids)[0]]
    assert 0.2 < (m.split == "val").mean() < 0.35
    # children carry the parent's time
    pos = np.flatnonzero(m.row_id == "aug:rules-1a2b:3")[0]
    assert ts.frame.when.iloc[pos] == old.when.iloc[6]
    rec = ts.why("aug:rules-1a2b:3")
    assert rec["params"] == {"scale": 0.5} and rec["seed"] == 11 and rec["operation"] == "jitter"
    assert ts.info["augmented"][0]["rows"] == 20


def test_add_oversample_tuple_takes_only_synthetic_rows(wine):
    old, new = wine
    features = [c for c in old.columns if c not in ("target", "when")]
    X2 = pd.concat([old[features], old.loc[[0, 1], features] + 0.1], ignore_index=True)
    y2 = np.concatenate([old.target.to_numpy(), old.target.to_numpy()[[0, 0]]])
    prov = lineage_frame(
        [LineageRow(row_id=f"old:{i}", origin="old", source="old") for i in range(len(old))]
        + [LineageRow(row_id=f"aug:class-0:{k}", origin="synthetic", source="old", parent_ids=(str(a), str(b)),
                      operation="smote", params={"factor": 0.3}, seed=5) for k, (a, b) in enumerate([(0, 4), (0, 9)])]
    )
    ts = (curate.TrainingSetBuilder(old, new, target="target", time="when")
          .add((X2, y2, prov), parents="old").split(0.5, how="latest").build())
    syn = ts.manifest[ts.manifest.origin == "synthetic"]
    assert len(syn) == 2 and list(map(json.loads, syn.parent_ids)) == [["old:0", "old:4"], ["old:0", "old:9"]]
    assert set(syn.reason) == {"synthetic smote oversampling of old data"}
    split_of = dict(zip(ts.manifest.row_id, ts.manifest.split))
    assert len({split_of[r] for r in ("old:0", "old:4", "old:9", *syn.row_id)}) == 1


def test_add_real_oversample_output(wine):
    oversample = pytest.importorskip("augment._oversample").oversample
    old, new = wine
    features = [c for c in old.columns if c not in ("target", "when")]
    X2, y2, prov = oversample(old[features], old.target.to_numpy(), method="smote", n={0: 6}, random_state=0)
    ts = curate.TrainingSetBuilder(old, new, target="target", time="when").add((X2, y2, prov)).build()
    syn = ts.manifest[ts.manifest.origin == "synthetic"]
    assert len(syn) == 6 and all(p.startswith("old:") for ids in syn.parent_ids for p in json.loads(ids))


# -- leakage, dedup --------------------------------------------------------------------------------
def test_exclude_removes_rows_leaking_into_eval_sets(wine):
    old, new = wine
    ev = pd.concat([new.iloc[:5], old.iloc[[7]]], ignore_index=True)
    near_ev = old.iloc[[10, 11]].copy()
    features = [c for c in old.columns if c not in ("target", "when")]
    near_ev[features] = near_ev[features] * 1.0001
    ts = curate.TrainingSetBuilder(old, new, target="target", time="when", eval_sets={"test": ev, "drift": near_ev}).build()
    assert ts.info["leakage"]["matches_by_eval_set"] == {"test": 6, "drift": 0}
    assert ts.info["leakage"]["removed"] == 6 and len(ts) == len(old) + len(new) - 6
    assert not {"new:0", "old:7"} & set(ts.manifest.row_id)
    ts = curate.TrainingSetBuilder(old, new, target="target").exclude({"drift": near_ev}, near=0.01).build()
    assert ts.info["leakage"]["matches_by_eval_set"] == {"drift": 2} and "old:10" not in set(ts.manifest.row_id)


def test_dedup_keeps_new_over_old_and_counts(wine):
    old, new = wine
    old2 = pd.concat([old, new.iloc[[0, 1]], old.iloc[[3]]], ignore_index=True)  # 2 copies of new rows, 1 old repeat
    old2.loc[len(old) + 2, "when"] = old2.when.iloc[3]
    ts = curate.TrainingSetBuilder(old2, new, target="target", time="when").dedup().build()
    assert ts.info["dedup"]["removed"] == 3
    assert ts.info["dedup"]["removed_by_block"] == {"new": 0, "old": 3}
    assert {"new:0", "new:1", "old:3"} <= set(ts.manifest.row_id)
    assert not {f"old:{len(old)}", f"old:{len(old) + 1}", f"old:{len(old) + 2}"} & set(ts.manifest.row_id)
    # dedup compares features: a copy with a different time is still a duplicate; near copies need near=
    old3 = pd.concat([old, old.iloc[[5]].assign(alcohol=old.alcohol.iloc[5] + 1e-4)], ignore_index=True)
    exact = curate.TrainingSetBuilder(old3, new, target="target").dedup().build()
    near = curate.TrainingSetBuilder(old3, new, target="target").dedup(near=True).build()
    assert exact.info["dedup"]["removed"] == 0 and near.info["dedup"]["removed"] == 1
    assert f"old:{len(old)}" not in set(near.manifest.row_id)


def test_dedup_drops_augmented_copies_of_originals(wine):
    old, new = wine
    features = [c for c in old.columns if c not in ("target", "when")]
    aug = tabular_augmented(old, [1, 2], features)
    aug.X = old.loc[[1, 2], features].reset_index(drop=True)  # identical to their parents
    ts = curate.TrainingSetBuilder(old, new, target="target", time="when").add(aug).dedup().build()
    assert ts.info["dedup"]["removed_by_block"]["aug0"] == 2 and ts.mask(origins=["augmented"]).sum() == 0


# -- preprocessing, manifest, reproducibility, persistence -----------------------------------------
def test_preprocess_fitted_on_train_rows_only_and_saved(tmp_path, wine):
    old, new = wine
    old = old.copy()
    old.loc[:9, "alcohol"] = np.nan
    old["region"] = np.where(old.index % 3 == 0, "north", "south")
    new = new.assign(region=np.where(new.index % 2 == 0, "east", "south"))
    ts = curate.TrainingSetBuilder(old, new, target="target", time="when").split(0.25).preprocess().build()
    train = ts.frame[ts.mask(split="train")]
    scaler = ts.preprocessor.named_transformers_["numeric"].named_steps["scale"]
    imputer = ts.preprocessor.named_transformers_["numeric"].named_steps["impute"]
    assert imputer.statistics_[0] == pytest.approx(train.alcohol.median())
    filled = train.alcohol.fillna(train.alcohol.median())
    assert scaler.mean_[0] == pytest.approx(filled.mean())
    out = ts.preprocessor.transform(ts.X)
    assert not np.isnan(out).any() and out.shape[1] == len(ts.features) - 1 + 3
    ts.save(tmp_path / "ts")
    back = curate.TrainingSet.load(tmp_path / "ts")
    np.testing.assert_array_equal(back.preprocessor.transform(ts.X), out)
    assert (tmp_path / "ts" / "preprocess.json").is_file()


def test_manifest_explains_every_row(wine):
    old, new = wine
    features = [c for c in old.columns if c not in ("target", "when")]
    ts = (curate.TrainingSetBuilder(old, new, target="target", time="when").window(last="300D").mix(alpha=0.5)
          .rehearse(n=5).add(tabular_augmented(old, [100, 101], features)).build())
    m = ts.manifest
    assert list(m.columns[: len(LINEAGE_COLUMNS)]) == list(LINEAGE_COLUMNS)
    assert m.row_id.is_unique and (m.reason.astype(str).str.len() > 0).all()
    assert set(m.origin) == {"old", "new", "augmented"}
    assert m.parent_ids[m.origin.isin(["old", "new"])].eq("[]").all()
    counts = ts.info["counts"]["by_reason"]
    assert sum(counts.values()) == len(ts) and any(k.startswith("old data sampled at alpha=0.5 from window") for k in counts)
    assert ts.why("old:119")["origin"] == "old"


def test_same_seed_same_training_set(wine):
    old, new = wine

    def build(seed):
        return (curate.TrainingSetBuilder(old, new, target="target", time="when").mix(alpha=0.3)
                .rehearse(n=10, how="class_balanced").split(0.2).dedup().build(random_state=seed))

    a, b, c = build(7), build(7), build(8)
    assert a.fingerprint() == b.fingerprint() and a.info == b.info
    assert a.fingerprint() != c.fingerprint()


def test_save_load_round_trip(tmp_path, wine):
    old, new = wine
    ts = curate.TrainingSetBuilder(old, new, target="target", time="when").mix(alpha=0.5).recency("60D").split(0.2).build()
    ts.save(tmp_path / "a")
    back = curate.TrainingSet.load(tmp_path / "a")
    assert back.fingerprint() == ts.fingerprint() and back.info == json.loads(json.dumps(ts.info))
    pd.testing.assert_frame_equal(back.frame, ts.frame)
    assert back.why("new:3") == ts.why("new:3")


def test_add_fill_with_parents_in_old_and_new(wine):
    old, new = wine
    features = [c for c in old.columns if c not in ("target", "when")]
    both = pd.concat([old, new], ignore_index=True)
    n_old = len(old)
    aug = tabular_augmented(both, [0, n_old - 1, n_old, n_old + 3], features)
    ts = curate.TrainingSetBuilder(old, new, target="target", time="when").add(aug, parents="old+new").build()
    augm = ts.manifest[ts.manifest.origin == "augmented"]
    assert list(map(json.loads, augm.parent_ids)) == [["old:0"], [f"old:{n_old - 1}"], ["new:0"], ["new:3"]]
    pos = np.flatnonzero(ts.manifest.row_id == augm.row_id.iloc[3])[0]
    assert ts.frame.when.iloc[pos] == new.when.iloc[3]
    assert ts.info["augmented"][0]["parents"] == "old+new"


def test_add_fill_naming_parents_by_row_id(wine):
    old, new = wine
    features = [c for c in old.columns if c not in ("target", "when")]
    aug = tabular_augmented(old, [0, 1, 2], features)
    aug.manifest = aug.manifest.drop(columns="parent")
    aug.manifest["parent_ids"] = [json.dumps(["old:5", "new:2"]), json.dumps(["new:0"]), json.dumps([f"old:{len(old) - 1}"])]
    ts = curate.TrainingSetBuilder(old, new, target="target", time="when").add(aug, parents="ids").split(0.3).build()
    augm = ts.manifest[ts.manifest.origin == "augmented"]
    assert list(map(json.loads, augm.parent_ids)) == [["old:5", "new:2"], ["new:0"], [f"old:{len(old) - 1}"]]
    pos = np.flatnonzero(ts.manifest.row_id == augm.row_id.iloc[1])[0]
    assert ts.frame.when.iloc[pos] == new.when.iloc[0]  # a child takes its first parent's time
    split = dict(zip(ts.manifest.row_id, ts.manifest.split))
    assert split[augm.row_id.iloc[0]] == split["old:5"] == split["new:2"]  # one group with both parents
    aug.manifest["parent_ids"] = [json.dumps([f"new:{len(new)}"])] * 3
    with pytest.raises(curate.DataError, match=rf"^A parent id names new row {len(new)} but new has {len(new)} rows"):
        curate.TrainingSetBuilder(old, new, target="target", time="when").add(aug, parents="ids")
    aug.manifest["parent_ids"] = [json.dumps(["17"])] * 3
    with pytest.raises(curate.DataError, match=r"^With parents='ids' every parent id must be 'old:<position>'"):
        curate.TrainingSetBuilder(old, new, target="target", time="when").add(aug, parents="ids")


def test_random_picks_rank_rows_by_their_own_hash(wine):
    """Each row's seeded rank depends on the row id and the seed only: more new rows leave the alpha
    sample of old rows unchanged, and the sample is the rows of smallest rank (the Dask engine's rule)."""
    from curate._build.selection import id_hash, order_key

    old, new = wine
    a = curate.TrainingSetBuilder(old, new, target="target", time="when").mix(alpha=0.3).build(random_state=9)
    b = curate.TrainingSetBuilder(old, pd.concat([new, new.iloc[:20]], ignore_index=True), target="target",
                                  time="when").mix(alpha=0.3).build(random_state=9)
    pick = lambda ts: sorted(int(r.split(":")[1]) for r in ts.manifest.row_id if r.startswith("old:"))  # noqa: E731
    assert pick(a) == pick(b) and len(pick(a)) == round(0.3 * len(old))
    ranks = order_key(id_hash("old", np.arange(len(old))), a.info["seeds"]["mix"])
    assert pick(a) == sorted(np.argsort(ranks, kind="stable")[: len(pick(a))].tolist())
    c = curate.TrainingSetBuilder(old, new, target="target", time="when").mix(alpha=0.3).build(random_state=10)
    assert pick(c) != pick(a)
