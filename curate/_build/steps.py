"""The build steps of :class:`curate.TrainingSetBuilder` (window, mix, rehearse, filters,
manifest, weights, split, preprocessing) as plain functions of the builder; the class binds
each one as a method, so ``b._do_window(seed)`` is ``do_window(b, seed)``."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from augment import LINEAGE_COLUMNS
from curakit import dedup as _dedup
from curakit.exceptions import DataError
from curakit.seeds import child_seed
from curate._build_manifest import categorical, count_by, parent_groups
from curate._windows import WindowSpec

from .nearness import design_ref, design_rows, nearest_draws, nearest_order
from .search import choose_alpha, downsample_pixels
from .selection import id_hash, order_key, smallest, string_id_hash
from .sources import OWNER
from .sources import Source as _Source

logger = logging.getLogger("curate._builder")  # the builder's log, as before the steps moved here


# -- window ------------------------------------------------------------------------------
def span_desc(builder: Any, t_sel: np.ndarray, spec: WindowSpec) -> str:
    if builder._axis.kind == "order" or len(t_sel) == 0:
        return spec.label()
    return f"{builder._axis.format(t_sel.min())}..{builder._axis.format(t_sel.max())}"

def do_window(builder: Any, seed: int):
    plan = builder._plan.window
    all_old = np.arange(len(builder.old), dtype=np.int64)
    all_new = np.arange(len(builder.new), dtype=np.int64)
    if plan is None:
        return all_old, all_new, None, None
    owner = f"{OWNER}.window"
    t_all = np.concatenate([builder.old.t, builder.new.t])
    info: dict[str, Any]
    if plan["mode"] == "auto":
        spec, info = builder._search_window(plan, t_all, seed)
    else:
        spec = plan["spec"]
        info = {"mode": "fixed"}
    m = spec.mask(t_all, builder._axis, owner)
    n_old = len(builder.old)
    old_in, new_in = np.flatnonzero(m[:n_old]), np.flatnonzero(m[n_old:])
    if len(old_in) + len(new_in) == 0:
        raise DataError(f"window({spec.label()}) selects no rows of old or new data. Widen the window or check the time column.")
    desc = builder._span_desc(t_all[m], spec)
    info.update({"window": spec.label(), "spec": spec.to_dict(), "span": desc,
                 "rows": {"old": int(len(old_in)), "new": int(len(new_in))}})
    return old_in, new_in, desc, info

def rows_xy(builder: Any, parts: list[tuple[_Source, np.ndarray]]):
    y = np.concatenate([src.frame[builder.target].to_numpy()[rows] for src, rows in parts])
    if builder.kind == "images":
        return np.concatenate([src.images[rows] for src, rows in parts]), y
    X = pd.concat([src.frame[builder.features].iloc[rows] for src, rows in parts], ignore_index=True)
    return X, y

def cap(builder: Any, parts: list[tuple[_Source, np.ndarray]], max_rows: int, seed: int):
    """At most ``max_rows`` of the rows of ``parts``: those of smallest seeded rank (partition-invariant)."""
    total = sum(len(r) for _, r in parts)
    if total <= max_rows:
        return parts
    keys = np.concatenate([order_key(id_hash(src.name, rows), seed) for src, rows in parts])
    pick = np.zeros(total, dtype=bool)
    pick[smallest(keys, max_rows)] = True
    out, at = [], 0
    for src, rows in parts:
        out.append((src, rows[pick[at : at + len(rows)]]))
        at += len(rows)
    return out

def holdout_split(builder: Any, rows: np.ndarray, t: np.ndarray, holdout: float, method: str):
    """(train rows, test rows): the latest ``holdout`` fraction of ``rows`` by time is the test."""
    k = int(round(holdout * len(rows)))
    if len(rows) < 2 or k < 1 or k >= len(rows):
        raise DataError(
            f"{OWNER}.{method} search needs new rows to hold out: {len(rows)} new row(s) with holdout={holdout}. "
            "Pass more new data or a larger holdout."
        )
    order = np.argsort(t[rows], kind="stable")
    return np.sort(rows[order[:-k]]), np.sort(rows[order[-k:]])

def search_window(builder: Any, plan: dict[str, Any], t_all: np.ndarray, seed: int):
    owner = f"{OWNER}.window"
    n_old = len(builder.old)
    _, test_new = builder._holdout_split(np.arange(len(builder.new)), builder.new.t, plan["holdout"], "window")
    pool = np.ones(len(t_all), dtype=bool)
    pool[n_old + test_new] = False
    ref = t_all[pool].max()
    test_parts = builder._cap([(builder.new, test_new)], plan["max_rows"], seed)
    X_test, y_test = builder._rows_xy(test_parts)
    results = []
    for spec in plan["candidates"]:
        m = spec.mask(t_all, builder._axis, owner, ref=ref) & pool
        o, nw = np.flatnonzero(m[:n_old]), np.flatnonzero(m[n_old:])
        entry = {"window": spec.label(), "train_rows": int(len(o) + len(nw)), "score": None}
        if len(o) + len(nw) > 0:
            parts = builder._cap([(builder.old, o), (builder.new, nw)], plan["max_rows"], seed)
            X_tr, y_tr = builder._rows_xy(parts)
            entry["score"] = plan["scorer"](X_tr, y_tr, X_test, y_test)
        results.append(entry)
    scored = [(k, r["score"]) for k, r in enumerate(results) if r["score"] is not None and np.isfinite(r["score"])]
    if not scored:
        raise DataError(
            f"No candidate window of {owner}('auto') holds rows before the latest period. Pass wider candidates."
        )
    best = max(scored, key=lambda kv: (kv[1], -kv[0]))[0]
    info = {"mode": "auto", "candidates": results, "chosen": results[best]["window"],
            "holdout": plan["holdout"], "holdout_rows": int(len(test_new)), "model": plan["scorer"].describe()}
    return plan["candidates"][best], info

# -- mix -----------------------------------------------------------------------------------
def alpha_sample(builder: Any, old_rows: np.ndarray, alpha: float, perm: np.ndarray, stratify: bool) -> np.ndarray:
    """The first ``alpha`` share of ``old_rows`` in the seeded order ``perm`` (per class if stratified)."""
    if not stratify:
        k = int(round(alpha * len(old_rows)))
        return np.sort(old_rows[perm[:k]])
    y = builder.old.frame[builder.target].to_numpy()[old_rows[perm]]
    codes, uniq = pd.factorize(y)
    counts = np.bincount(codes, minlength=len(uniq))
    quota = np.round(alpha * counts).astype(np.int64)
    rank = pd.Series(codes).groupby(codes).cumcount().to_numpy()
    return np.sort(old_rows[perm[rank < quota[codes]]])

def do_mix(builder: Any, old_in: np.ndarray, new_in: np.ndarray, seed: int):
    plan = builder._plan.mix
    if plan is None:
        return old_in, None, None
    keys = order_key(id_hash("old", old_in), seed)  # seeded, partition-invariant order
    need = len(old_in)
    if plan["mode"] == "fixed" and not plan["stratify"]:
        need = int(round(plan["alpha"] * len(old_in)))  # only the first share is taken
    perm = smallest(keys, need)
    info: dict[str, Any] = {"stratify": plan["stratify"], "old_rows_available": int(len(old_in))}
    if plan["mode"] == "auto":
        alpha = builder._search_alpha(plan, old_in, new_in, perm, seed, info)
    else:
        alpha = plan["alpha"]
        info["mode"] = "fixed"
    sel = builder._alpha_sample(old_in, alpha, perm, plan["stratify"])
    info.update({"alpha": alpha, "old_rows": int(len(sel))})
    return sel, alpha, info

def search_alpha(builder: Any, plan, old_in, new_in, perm, seed, info) -> float:
    train_new, test_new = builder._holdout_split(new_in, builder.new.t, plan["holdout"], "mix")
    X_test, y_test = builder._rows_xy(builder._cap([(builder.new, test_new)], plan["max_rows"], child_seed(seed, "cap")))
    scores = []
    for alpha in plan["grid"]:
        old_rows = builder._alpha_sample(old_in, alpha, perm, plan["stratify"])
        parts = builder._cap([(builder.new, train_new), (builder.old, old_rows)], plan["max_rows"],
                             child_seed(seed, "cap-train"))
        X_tr, y_tr = builder._rows_xy(parts)
        scores.append(plan["scorer"](X_tr, y_tr, X_test, y_test))
    return choose_alpha(plan, scores, info, holdout_rows=len(test_new), n_old=len(old_in), owner=OWNER)

# -- rehearse --------------------------------------------------------------------------------
def do_rehearse(builder: Any, old_in: np.ndarray, new_in: np.ndarray, seed: int):
    plan = builder._plan.rehearse
    if plan is None:
        return None, None
    mask = np.ones(len(builder.old), dtype=bool)
    mask[old_in] = False
    cand = np.flatnonzero(mask)
    n = plan["n"] if plan["n"] is not None else int(round(plan["fraction"] * len(builder.old)))
    if n < 1:
        raise DataError(f"rehearse(fraction={plan['fraction']}) selects no rows of {len(builder.old)} old rows. Raise fraction.")
    if n > len(cand):
        raise DataError(
            f"rehearse asks for {n} old rows but only {len(cand)} old rows are left out of the training set "
            "by window() / mix(). Lower n or fraction."
        )
    how = plan["how"]
    if how == "random":
        pick = np.sort(cand[smallest(order_key(id_hash("old", cand), seed), n)])
    elif how == "class_balanced":
        pick = builder._class_balanced(cand, n, seed)
    else:
        pick = builder._nearest(cand, new_in, n, plan["max_candidates"], np.random.default_rng(seed))
    y = builder.old.frame[builder.target].to_numpy()[pick]
    by_class = pd.Series(y).value_counts(sort=False)
    info = {"how": how, "rows": int(len(pick)), "n": plan["n"], "fraction": plan["fraction"],
            "candidates": int(len(cand)), "by_class": {str(k): int(v) for k, v in by_class.items()}}
    return pick, info

def balanced_take(avail: np.ndarray, n: int) -> np.ndarray:
    """Rows to take per class: equal shares, classes short of rows giving theirs to the others."""
    uniq = avail
    take = np.zeros(len(uniq), dtype=np.int64)
    left = n
    while left > 0:
        open_ = np.flatnonzero(take < avail)
        share = max(1, left // len(open_))
        for c in open_:
            add = min(share, avail[c] - take[c], left)
            take[c] += add
            left -= add
            if left == 0:
                break
    return take

def class_balanced(builder: Any, cand: np.ndarray, n: int, seed: int) -> np.ndarray:
    y = builder.old.frame[builder.target].to_numpy()[cand]
    codes, uniq = pd.factorize(y, sort=True)
    take = balanced_take(np.bincount(codes, minlength=len(uniq)), n)
    keys = order_key(id_hash("old", cand), seed)
    picks = []
    for c in range(len(uniq)):
        members = np.flatnonzero(codes == c)
        if take[c]:
            picks.append(cand[members[smallest(keys[members], take[c])]])
    return np.sort(np.concatenate(picks))

def design(builder: Any, src: _Source, rows: np.ndarray, ref: _Source, ref_rows: np.ndarray) -> np.ndarray:
    """Rows as float vectors: standardised numbers and one-hot top categories (tables), 8x8 pixels (images)."""
    if builder.kind == "images":
        return downsample_pixels(src.images[rows]).astype(np.float64)
    frame = src.frame[builder.features].iloc[rows]
    stats = design_ref(builder.features, ref.frame[builder.features].iloc[ref_rows], [frame.dtypes])
    return design_rows(builder.features, frame, stats)

def nearest(builder: Any, cand: np.ndarray, new_in: np.ndarray, n: int, max_candidates: int, rng) -> np.ndarray:
    from scipy.spatial import cKDTree

    pool, anchors = nearest_draws(len(cand), len(new_in), n, max_candidates, rng)
    pool = cand if pool is None else cand[pool]
    anchors = new_in if anchors is None else new_in[anchors]
    A = builder._design(builder.new, anchors, builder.new, anchors)
    B = builder._design(builder.old, pool, builder.new, anchors)
    dist, _ = cKDTree(A).query(B, k=1)
    return nearest_order(dist, pool, n)

# -- leakage and dedup -------------------------------------------------------------------------
def take(builder: Any, blocks, idx: np.ndarray):
    """Feature rows (tables) or images at positions ``idx`` of the concatenated blocks."""
    sizes = np.array([len(r) for _, _, r in blocks], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    which = np.searchsorted(starts, idx, side="right") - 1
    order = np.argsort(which, kind="stable")
    pieces = []
    for b in np.unique(which):
        _, src, rows = blocks[b]
        local = rows[idx[which == b] - starts[b]]
        pieces.append(src.images[local] if builder.kind == "images" else src.frame[builder.features].iloc[local])
    if builder.kind == "images":
        out = np.concatenate(pieces) if pieces else np.zeros((0, *builder.old.images.shape[1:]), np.uint8)
        return out[np.argsort(order, kind="stable")]
    out = pd.concat(pieces, ignore_index=True) if pieces else builder.old.frame[builder.features].iloc[:0]
    return out.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)

def block_keys(builder: Any, blocks) -> np.ndarray:
    keys = []
    for _, src, rows in blocks:
        if builder.kind == "images":
            keys.append(_dedup.exact_keys(src.images, rows=rows))
        else:
            keys.append(_dedup.exact_keys(src.frame[builder.features], rows=rows))
    return np.concatenate(keys) if keys else np.zeros(0, np.uint64)

def do_filters(builder: Any, blocks):
    total = sum(len(r) for _, _, r in blocks)
    drop = np.zeros(total, dtype=bool)
    kind = "images" if builder.kind == "images" else "frame"
    tol_leak = builder._plan.exclude_tolerance
    dedup = builder._plan.dedup
    need_exact = (builder._plan.eval_sets and tol_leak == 0.0) or (dedup is not None and dedup["tolerance"] == 0.0)
    need_near = (builder._plan.eval_sets and tol_leak > 0.0) or (dedup is not None and dedup["tolerance"] > 0.0)
    keys = builder._block_keys(blocks) if need_exact else None
    X_all = builder._take(blocks, np.arange(total)) if need_near else None
    origin_of = np.concatenate([np.full(len(r), k) for k, (_, _, r) in enumerate(blocks)]) if total else np.zeros(0, int)
    names = [name for name, _, _ in blocks]

    leak_info = None
    if builder._plan.eval_sets:
        by_set = {}
        for name, ev in builder._plan.eval_sets.items():
            if tol_leak == 0.0:
                pairs = _dedup.matches_from_keys(
                    keys, lambda r: builder._take(blocks, r), _dedup.exact_keys(ev),
                    lambda r, ev=ev: _dedup.take_kind(ev, r, kind), kind,
                )
                ci = pairs[:, 0]
            else:
                scale = X_all if kind == "frame" else None  # training spread: eval sets may be tiny
                ci = _dedup.find_duplicates(X_all, ev, tolerance=tol_leak, scale_from=scale)[:, 0]
            by_set[name] = int(len(ci))
            drop[ci] = True
        leak_info = {"tolerance": tol_leak, "near": tol_leak > 0, "matches_by_eval_set": by_set,
                     "removed": int(drop.sum()), "removed_by_block": count_by(drop, origin_of, names)}
        logger.info("leakage: removed %d training row(s) duplicating evaluation rows", int(drop.sum()))

    dedup_info = None
    if dedup is not None:
        live = np.flatnonzero(~drop)
        if dedup["tolerance"] == 0.0:
            dup = _dedup.duplicated_from_keys(keys[live], lambda r: builder._take(blocks, live[r]), kind)
            dup_local = np.flatnonzero(dup)
        else:
            sub = X_all[live] if kind == "images" else X_all.iloc[live].reset_index(drop=True)
            dup_local = np.flatnonzero(_dedup.duplicated(sub, tolerance=dedup["tolerance"]))
        dmask = np.zeros(total, dtype=bool)
        dmask[live[dup_local]] = True
        drop |= dmask
        dedup_info = {"tolerance": dedup["tolerance"], "near": dedup["tolerance"] > 0, "priority": names,
                      "removed": int(dmask.sum()), "removed_by_block": count_by(dmask, origin_of, names)}
        logger.info("dedup: removed %d duplicate row(s)", int(dmask.sum()))
    keep, at = [], 0
    for _, _, rows in blocks:
        keep.append(~drop[at : at + len(rows)])
        at += len(rows)
    return keep, leak_info, dedup_info

# -- assembly ----------------------------------------------------------------------------------
def assemble(builder: Any, blocks):
    cols = ([builder.target] if builder.kind == "images" else [*builder.features, builder.target])
    data: dict[str, Any] = {}
    for c in cols:
        data[c] = pd.concat([src.frame[c].take(rows) for _, src, rows in blocks], ignore_index=True)
    if builder.time is not None:
        data[builder.time] = pd.concat([src.time_values.take(rows) for _, src, rows in blocks], ignore_index=True)
    frame = pd.DataFrame(data, copy=False)
    images = np.concatenate([src.images[rows] for _, src, rows in blocks]) if builder.kind == "images" else None
    return frame, images

def manifest(builder: Any, blocks, win_desc, mix_alpha, seeds) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.compute as pc

    win = f" in window {win_desc}" if win_desc else ""
    mix = builder._plan.mix
    strat = f", stratified by {builder.target}" if mix and mix["stratify"] else ""
    reh = builder._plan.rehearse
    n = sum(len(r) for _, _, r in blocks)
    pieces: dict[str, list[Any]] = {c: [] for c in LINEAGE_COLUMNS}
    ids = []
    seed_vals, seed_na = [], []
    for name, src, rows in blocks:
        k = len(rows)
        if src.manifest is not None:
            man = src.manifest.iloc[rows]
            for c in LINEAGE_COLUMNS:
                if c not in ("row_id", "seed"):
                    pieces[c].append(man[c].astype(str).to_numpy())
            ids.append(pa.array(man["row_id"].astype(str).tolist(), pa.string()))
            seeds_aug = pd.array(man["seed"], dtype="Int64")
            seed_vals.append(seeds_aug.to_numpy(dtype=np.int64, na_value=0))
            seed_na.append(seeds_aug.isna())
            continue
        origin = src.name
        if name == "replay":
            reason, s = f"replay buffer ({reh['how']})", seeds["rehearse"]
        elif name == "old" and mix_alpha is not None:
            reason = f"old data sampled at alpha={mix_alpha:g}{strat}" + (f" from window {win_desc}" if win_desc else "")
            s = seeds["mix"]
        else:
            reason, s = f"{origin} data{win}", None
        for c, v in (("origin", origin), ("source", origin), ("parent_ids", "[]"), ("operation", "original"),
                     ("params", "{}"), ("slice_ids", "[]"), ("reason", reason)):
            pieces[c].append((v, k))
        ids.append(pc.binary_join_element_wise(pa.scalar(f"{origin}:"), pc.cast(pa.array(rows), pa.string()), ""))
        seed_vals.append(np.full(k, 0 if s is None else s, dtype=np.int64))
        seed_na.append(np.full(k, s is None))
    row_id = pd.Series(pd.array(pa.chunked_array(ids, pa.string()), dtype="str"))
    out: dict[str, Any] = {"row_id": row_id}
    for c in LINEAGE_COLUMNS:
        if c not in ("row_id", "seed"):
            out[c] = categorical(pieces[c], n)
    out["seed"] = pd.arrays.IntegerArray(np.concatenate(seed_vals), np.concatenate(seed_na))
    manifest = pd.DataFrame(out, columns=list(LINEAGE_COLUMNS), copy=False)
    return manifest

def weights(builder: Any, blocks):
    n = sum(len(r) for _, _, r in blocks)
    plan = builder._plan.recency
    if plan is None:
        return np.ones(n), None
    span = float(builder._axis.span(plan["half_life"], f"{OWNER}.recency", "half_life"))
    t_max = max(builder.old.t.max(), builder.new.t.max())
    t = np.concatenate([src.t[rows] for _, src, rows in blocks]).astype(np.float64)
    age = np.maximum(float(t_max) - t, 0.0)
    w = np.power(0.5, age / span)
    info = {"half_life": str(plan["half_life"]), "reference": builder._axis.format(t_max),
            "min_weight": float(w.min()) if n else None, "mean_weight": float(w.mean()) if n else None}
    return w, info

def do_split(builder: Any, blocks, manifest: pd.DataFrame, seed: int):
    n = len(manifest)
    plan = builder._plan.split
    if plan is None or n == 0:
        return np.zeros(n, dtype=np.int8), None
    group = np.arange(n, dtype=np.int64)
    aug_rows = np.flatnonzero(manifest["operation"].to_numpy() != "original")
    if len(aug_rows):
        group = parent_groups(manifest, aug_rows)
    t = np.concatenate([src.t[rows] for _, src, rows in blocks]).astype(np.float64)
    codes, uniq = pd.factorize(group)
    sizes = np.bincount(codes)
    target = int(round(plan["validation"] * n))
    if plan["how"] == "random":
        order = smallest(order_key(group_idents(blocks, manifest, codes, len(uniq)), seed), len(uniq))
    else:
        gtime = np.full(len(uniq), -np.inf)
        np.maximum.at(gtime, codes, t)
        order = np.argsort(-gtime, kind="stable")
    cum = np.cumsum(sizes[order])
    val_groups = order[cum <= target]
    if len(val_groups) == 0 and target > 0:
        val_groups = order[:1]
    is_val = np.zeros(len(uniq), dtype=bool)
    is_val[val_groups] = True
    split = is_val[codes].astype(np.int8)
    info = {"validation": plan["validation"], "how": plan["how"], "val_rows": int(split.sum()),
            "groups": int(len(uniq)), "grouped_by": "root parent id"}
    return split, info

def fit_preprocess(builder: Any, frame: pd.DataFrame, train: np.ndarray):
    plan = builder._plan.preprocess
    if plan is None:
        return None, None
    from sklearn.base import clone

    from curate._preprocess import default_preprocessor, preprocessor_to_dict

    rows = frame.loc[train, builder.features]
    if plan["steps"] is None:
        pre = default_preprocessor(rows, builder.features, impute=plan["impute"], scale=plan["scale"])
    else:
        pre = clone(plan["steps"])
    pre.fit(rows)
    preprocessor_to_dict(pre)  # fail now, not at save time, when a step cannot be saved as JSON
    names = [str(c) for c in getattr(pre, "get_feature_names_out", lambda: [])()]
    info = {"steps": "default" if plan["steps"] is None else type(plan["steps"]).__name__,
            "impute": plan["impute"], "scale": plan["scale"], "fitted_on": "train rows",
            "fitted_rows": int(len(rows)), "output_features": names}
    return pre, info


def group_idents(blocks, manifest: pd.DataFrame, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """One identity hash per split group: the smallest identity hash of its rows and of the parents it
    names (a parent outside the set counts too), so a group ranks the same on every engine."""
    ident = np.concatenate([
        id_hash(src.name, rows) if src.manifest is None else string_id_hash(src.manifest["row_id"].to_numpy()[rows])
        for _, src, rows in blocks
    ]) if blocks else np.zeros(0, np.uint64)
    aug = np.flatnonzero(manifest["operation"].to_numpy() != "original")
    if not len(aug) and n_groups == len(ident):  # one group per row, in row order
        return ident
    out = np.full(n_groups, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(out, codes, ident)
    if len(aug):
        import json

        pids = manifest["parent_ids"].to_numpy()
        rows = [r for r in aug.tolist() for _ in json.loads(pids[r])]
        names = [p for r in aug.tolist() for p in json.loads(pids[r])]
        if names:
            np.minimum.at(out, codes[np.asarray(rows, dtype=np.int64)], string_id_hash(np.asarray(names, dtype=object)))
    return out
