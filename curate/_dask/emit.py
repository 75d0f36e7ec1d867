"""The last steps of the Dask build: the group split, recency weights, and the lazy data and
manifest frames (one partition per prepared source partition, in the pandas engine's order:
old, replay, new, augmented)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from augment import LINEAGE_COLUMNS
from curakit.optional import import_optional
from curate._build.selection import SOURCE_CODES, id_hash, order_key, string_id_hash
from curate._build.sources import OWNER
from curate._build_manifest import parent_groups

from .filters import keep_rows
from .latest import latest_rule, latest_val
from .preprocess import fit_preprocess, unsupported_preprocess
from .select import compute_many, compute_parts, kth

__all__ = ["finish", "unsupported_emit"]


@dataclass(frozen=True)
class KeepSingles:
    """Rows a block keeps that are not tied to augmented rows (split singletons)."""

    spec: dict
    linked: np.ndarray  # sorted positions

    def __call__(self, part: pd.DataFrame) -> np.ndarray:
        return keep_rows(part, self.spec)["keep"] & ~np.isin(part["_pos"].to_numpy(), self.linked)


@dataclass(frozen=True)
class _SplitKey:
    source: str
    seed: int

    def __call__(self, part: pd.DataFrame) -> np.ndarray:
        return order_key(id_hash(self.source, part["_pos"].to_numpy()), self.seed)


def _present(part: pd.DataFrame, spec: dict, want: np.ndarray):
    """(position, time, index among the partition's kept rows) of the wanted rows this partition keeps."""
    pos = part["_pos"].to_numpy()
    keep = keep_rows(part, spec)["keep"]
    hit = keep & np.isin(pos, want)
    return pos[hit], part["_t"].to_numpy()[hit], (np.cumsum(keep) - 1)[hit]


def _offsets(blocks: list[Any]) -> dict[str, list[int]]:
    """Output position of each block partition's first kept row (blocks in output order)."""
    out, at = {}, 0
    for blk in blocks:
        starts = np.concatenate([[0], np.cumsum(blk.counts)[:-1]]).astype(np.int64) + at if blk.counts else []
        out[blk.name] = [int(x) for x in starts]
        at += blk.kept
    return out


def _members(blocks: list[Any]):
    """Augmented rows and the parents they name that the set keeps (small, on the client):
    rows [(block, row id, parent ids, time, output position)] and their group codes."""
    aug_rows, named = [], {s: set() for s in SOURCE_CODES}
    offsets = _offsets(blocks)
    for blk in blocks:
        if blk.src.manifest is None:
            continue
        kept = compute_parts(_kept_pos, blk.parts, blk.spec)[0]  # positions: parts may hold only kept rows
        blk.aug_kept = kept
        man = blk.src.manifest.iloc[kept]
        t = np.asarray(blk.src.t)[kept]
        for k, (rid, pids) in enumerate(zip(man["row_id"].astype(str), man["parent_ids"])):
            aug_rows.append((blk.name, rid, pids, t[k], offsets[blk.name][0] + k))
            for p in json.loads(pids):
                src, _, q = str(p).partition(":")
                if src in named and q.isdigit():
                    named[src].add(int(q))
    if not aug_rows:
        return [], np.zeros(0, np.int64), 0, 0
    present = []
    for blk in blocks:
        if blk.src.manifest is None and named[blk.src.name]:
            want = np.array(sorted(named[blk.src.name]), dtype=np.int64)
            for j, (pos, t, local) in enumerate(compute_parts(_present, blk.parts, blk.spec, want)):
                present += [(blk.name, f"{blk.src.name}:{q}", "[]", t[k], offsets[blk.name][j] + local[k])
                            for k, q in enumerate(pos.tolist())]
    rows = present + aug_rows
    mini = pd.DataFrame({"row_id": [r[1] for r in rows], "parent_ids": [r[2] for r in rows]})
    codes, uniq = pd.factorize(parent_groups(mini, np.arange(len(present), len(rows))))
    return rows, codes, len(uniq), len(present)


def _random_keys(rows, codes, n_groups: int, n_present: int, seed: int) -> np.ndarray:
    ident = np.full(n_groups, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(ident, codes, string_id_hash(np.array([r[1] for r in rows], dtype=object)))
    links = [(codes[k], p) for k in range(n_present, len(rows)) for p in json.loads(rows[k][2])]
    if links:
        np.minimum.at(ident, np.array([c for c, _ in links]), string_id_hash(np.array([p for _, p in links], dtype=object)))
    return order_key(ident, seed)


def _lookup(rows, codes, keys) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for k, r in enumerate(rows):
        out.setdefault(r[0], {})[r[1]] = keys[codes[k]]
    return out


def split_rule(b: Any, blocks: list[Any], seed: int):
    """(rule, info): the pandas engine's prefix of groups (in seeded order, or latest first) whose
    sizes add up to at most ``validation`` of the rows; val iff a row's group key is below the cut."""
    plan = b._plan.split
    n = sum(blk.kept for blk in blocks)
    if plan is None or n == 0:
        return None, None
    rows, codes, n_groups, n_present = _members(blocks)
    sizes = np.bincount(codes, minlength=n_groups).astype(np.int64)
    target = int(round(plan["validation"] * n))
    if plan["how"] == "latest":
        rule, val = latest_rule(blocks, rows, codes, n_groups, sizes, target, _offsets(blocks))
    else:
        okeys = _random_keys(rows, codes, n_groups, n_present, seed)
        items = []
        for blk in blocks:
            if blk.src.manifest is None:
                linked = np.array(sorted(r[1] for r in rows if r[0] == blk.name), dtype=object)
                linked = np.array([int(x.split(":")[1]) for x in linked], dtype=np.int64)
                items.append((blk.parts, KeepSingles(blk.spec, linked), _SplitKey(blk.src.name, seed)))
        r = kth(items, target + 1, extra=(okeys, sizes))
        if r is None:
            rule, val = {"v": None, "inclusive": False}, n
        else:
            v, less, eq = r
            inclusive = less == 0 and target > 0
            rule, val = {"v": v, "inclusive": inclusive}, (eq if inclusive else less)
        rule["lookup"] = _lookup(rows, codes, okeys)
    rule["seed"], rule["how"] = seed, plan["how"]
    groups = n - int(sizes.sum()) + n_groups
    info = {"validation": plan["validation"], "how": plan["how"], "val_rows": int(val), "groups": int(groups),
            "grouped_by": "root parent id"}
    return rule, info


def _reason(b: Any, blk: Any, win_desc: Any, alpha: Any, seeds: dict[str, int]):
    win = f" in window {win_desc}" if win_desc else ""
    mix = b._plan.mix
    strat = f", stratified by {b.target}" if mix and mix["stratify"] else ""
    if blk.name == "replay":
        return f"replay buffer ({b._plan.rehearse['how']})", seeds["rehearse"]
    if blk.name == "old" and alpha is not None:
        return (f"old data sampled at alpha={alpha:g}{strat}" + (f" from window {win_desc}" if win_desc else ""),
                seeds["mix"])
    return f"{blk.src.name} data{win}", None


def _emit(part: pd.DataFrame, e: dict[str, Any], slim: pd.DataFrame | None = None):
    """(data, manifest) of one partition's kept rows (decided on ``slim``, the same rows' few
    persisted columns, when given: the full rows are read once, here)."""
    keep = keep_rows(part if slim is None else slim, e["spec"])["keep"]
    p = part[keep]
    pos = p["_pos"].to_numpy()
    data = p[e["cols"]].reset_index(drop=True)
    for c, dt in e["casts"].items():
        data[c] = data[c].astype(dt)
    n = len(p)
    if e["aug"] is None:
        import pyarrow as pa
        import pyarrow.compute as pc

        ids = pc.binary_join_element_wise(pa.scalar(f"{e['origin']}:"), pc.cast(pa.array(pos), pa.string()), "")
        man = pd.DataFrame({"row_id": ids.to_pandas()})
        zeros = pa.array(np.zeros(n, dtype=np.int64))
        for c, v in (("origin", e["origin"]), ("source", e["origin"]), ("parent_ids", "[]"), ("operation", "original"),
                     ("params", "{}"), ("slice_ids", "[]"), ("reason", e["reason"])):
            man[c] = pa.array([v], pa.string()).take(zeros).to_pandas()
        man["seed"] = pd.arrays.IntegerArray(np.full(n, e["seed"] or 0, dtype=np.int64), np.full(n, e["seed"] is None))
    else:
        man = e["aug"].iloc[pos].reset_index(drop=True)
    man = man[list(LINEAGE_COLUMNS)]
    if e["weight"] is not None:
        t_max, span = e["weight"]
        man["weight"] = np.power(0.5, np.maximum(float(t_max) - p["_t"].to_numpy().astype(np.float64), 0.0) / span)
    else:
        man["weight"] = np.ones(n)
    man["split"] = _split(p, e, man)
    return data, man


def _split(p: pd.DataFrame, e: dict[str, Any], man: pd.DataFrame) -> pd.Series:
    import pyarrow as pa

    rule = e["split"]
    names = pa.array(["train", "val"], pa.string())
    if rule is None or rule["v"] is None:
        return names.take(pa.array(np.full(len(p), 0 if rule is None else 1, dtype=np.int64))).to_pandas()
    if rule["how"] == "latest":
        return names.take(pa.array(latest_val(p, e, man, rule).astype(np.int64))).to_pandas()
    okey = order_key(string_id_hash(man["row_id"].to_numpy()) if e["aug"] is not None
                     else id_hash(e["origin"], p["_pos"].to_numpy()), rule["seed"])
    linked = rule["lookup"].get(e["name"], {})
    if linked:
        rid = man["row_id"].to_numpy()
        for k in np.flatnonzero(pd.Index(rid).isin(list(linked))):
            okey[k] = linked[rid[k]]
    val = okey <= rule["v"] if rule["inclusive"] else okey < rule["v"]
    return names.take(pa.array(val.astype(np.int64))).to_pandas()


def _casts(b: Any, blocks: list[Any], cols: list[Any]) -> dict[Any, Any]:
    """Numeric columns whose dtype differs between blocks get the dtype pandas' concat would give."""
    metas = []
    for blk in blocks:
        if blk.src.manifest is None:
            d = blk.src.dtypes.copy()
            if b.time is not None and b._axis.kind == "datetime":
                d[b.time] = np.dtype("datetime64[ns]")
            metas.append(d)
        else:
            metas.append(blk.aug_frame_dtypes)
    out = {}
    for c in cols:
        ds = [m[c] for m in metas]
        num = all(pd.api.types.is_numeric_dtype(d) and not pd.api.types.is_bool_dtype(d) for d in ds)
        if num and len({str(d) for d in ds}) > 1:
            out[c] = pd.concat([pd.Series([], dtype=d) for d in ds]).dtype
    return out


def _aug_manifest(blk: Any) -> pd.DataFrame:
    man = blk.src.manifest.reset_index(drop=True)
    out = pd.DataFrame({"row_id": pd.array(man["row_id"].astype(str).tolist(), dtype="str")})
    for c in LINEAGE_COLUMNS:
        if c not in ("row_id", "seed"):
            out[c] = pd.array(man[c].astype(str).tolist(), dtype="str")
    out["seed"] = pd.array(man["seed"], dtype="Int64")
    return out


def finish(b: Any, blocks: list[Any], info: dict[str, Any], seeds: dict[str, int], win_desc: Any, alpha: Any):
    """Split, weights, counts and the lazy frames: the :class:`DaskTrainingSet`."""
    dask, dd = import_optional("dask"), import_optional("dask.dataframe")
    from .trainingset import DaskTrainingSet

    weight = None
    if b._plan.recency is not None:
        span = float(b._axis.span(b._plan.recency["half_life"], f"{OWNER}.recency", "half_life"))
        weight = (max(b.old.t_max, b.new.t_max), span)
    rule, info["split"] = split_rule(b, blocks, seeds["split"])
    cols = [*b.features, b.target] + ([b.time] if b.time is not None else [])
    for blk in blocks:
        if blk.src.manifest is not None:
            blk.aug_frame_dtypes = blk.src.frame.dtypes.reindex(cols).fillna(np.dtype(object))
            if b.time is not None:
                blk.aug_frame_dtypes[b.time] = blk.src.time_values.dtype
    casts = _casts(b, blocks, cols)
    offsets = _offsets(blocks)
    outs, counts = [], {"by_origin": {}, "by_reason": {}}
    for blk in blocks:
        reason, seed = _reason(b, blk, win_desc, alpha, seeds)
        e = {"spec": blk.spec, "cols": cols, "casts": casts, "origin": blk.src.name, "name": blk.name,
             "reason": reason, "seed": seed, "aug": None if blk.src.manifest is None else _aug_manifest(blk),
             "weight": weight, "split": rule}
        if e["aug"] is None:
            _add(counts["by_origin"], blk.src.name, blk.kept)
            _add(counts["by_reason"], reason, blk.kept)
        else:
            kept = e["aug"].iloc[blk.aug_kept] if hasattr(blk, "aug_kept") else _kept_aug(blk, e["aug"])
            for col, key in (("origin", "by_origin"), ("reason", "by_reason")):
                for k, v in kept[col].value_counts(sort=False).items():
                    _add(counts[key], str(k), int(v))
        slims = blk.parts if blk.full is not None and blk.full is not blk.parts else [None] * len(blk.parts)
        outs += [dask.delayed(_emit, pure=False)(p, {**e, "offset": off}, slim)
                 for p, slim, off in zip(blk.full or blk.parts, slims, offsets[blk.name])]
    n = sum(blk.kept for blk in blocks)
    info["recency"] = None if weight is None else _weight_info(b, blocks, weight)
    data_meta, man_meta = _emit(_empty_part(b, blocks), {**e, "aug": e["aug"].iloc[:0] if e["aug"] is not None else None,
                                                         "spec": {**e["spec"], "tables": {}, "dups": None}, "offset": 0})
    pre, info["preprocess"] = fit_preprocess(b, outs, data_meta, getattr(b.old, "persisted", True))
    info["counts"] = {"rows": int(n), **counts, "val": 0 if info["split"] is None else info["split"]["val_rows"]}
    frame = dd.from_delayed([dask.delayed(lambda x: x[0], pure=False)(o) for o in outs], meta=data_meta, verify_meta=False)
    manifest = dd.from_delayed([dask.delayed(lambda x: x[1], pure=False)(o) for o in outs], meta=man_meta,
                               verify_meta=False)
    return DaskTrainingSet(kind="tabular", target=b.target, frame=frame, manifest=manifest, features=list(b.features),
                           time=b.time, info=info, n_rows=int(n), preprocessor=pre)


def _add(d: dict[str, int], k: str, v: int) -> None:
    if v:
        d[k] = d.get(k, 0) + int(v)


def _kept_pos(part: pd.DataFrame, spec: dict) -> np.ndarray:
    """Source positions of the rows a partition keeps."""
    return part["_pos"].to_numpy()[keep_rows(part, spec)["keep"]]


def _kept_aug(blk: Any, man: pd.DataFrame) -> pd.DataFrame:
    return man.iloc[compute_parts(_kept_pos, blk.parts, blk.spec)[0]]


def _empty_part(b: Any, blocks: list[Any]) -> pd.DataFrame:
    blk = blocks[-1]
    part = compute_parts(lambda p: p.iloc[:0], (blk.full or blk.parts)[:1])[0]
    return part


def _weight_info(b: Any, blocks: list[Any], weight: tuple[Any, float]) -> dict[str, Any]:
    t_max, span = weight
    lo = None
    total, n = 0.0, 0
    for got in compute_many([(_wstats, blk.parts, (blk.spec, t_max, span)) for blk in blocks]):
        for cnt, s, mn in got:
            if cnt:
                total, n = total + s, n + cnt
                lo = mn if lo is None else min(lo, mn)
    return {"half_life": str(b._plan.recency["half_life"]), "reference": b._axis.format(t_max),
            "min_weight": lo, "mean_weight": total / n if n else None}


def _wstats(part: pd.DataFrame, spec: dict, t_max: Any, span: float):
    keep = keep_rows(part, spec)["keep"]
    w = np.power(0.5, np.maximum(float(t_max) - part["_t"].to_numpy()[keep].astype(np.float64), 0.0) / span)
    return int(len(w)), float(w.sum()), (float(w.min()) if len(w) else None)


def unsupported_emit(plan: Any) -> list[str]:
    """The steps of ``plan`` applied when rows are written that the Dask engine does not run yet."""
    return unsupported_preprocess(plan)
