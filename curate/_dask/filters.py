"""Leakage, dedup, split, weights and the manifest of the Dask engine, per partition.

Exact keys are two independent 64-bit row hashes (:func:`curakit.dedup.exact_key_pairs`).
Leakage drops rows whose key is in an evaluation set's key table (small, sent to every
worker); with ``exclude(near=...)``, the rows near an evaluation row (:mod:`curate._dask.near`). Dedup groups the keys of all blocks with a Dask shuffle (``groupby`` on the keys) and
brings back only the keys that repeat, with the first row's rank (priority new > old > replay
> augmented, then position); each partition then drops its rows that are not first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from curakit import dedup as _dedup
from curakit.optional import import_optional

from .near import near_leak
from .select import AllRows, Parts, compute_many, compute_parts

__all__ = ["Block", "aug_block", "filters", "keep_rows", "row_keys", "unsupported_filters"]

_RANK_SHIFT = 40


@dataclass(eq=False)
class Block:
    """Rows of one source in the training set: ``mask`` over its prepared partitions."""

    name: str  # new / old / replay / aug<k>
    src: Any
    parts: list[Any]
    mask: Any
    code: int = 0  # dedup priority (position in the pandas engine's block list)
    kept: int = 0
    counts: list[int] = field(default_factory=list)  # kept rows per partition
    spec: Any = None  # what keep_rows needs for this block's partitions
    full: Any = None  # partitions with every used column when ``parts`` hold only a few (out of core)


def aug_block(b: Any, src: Any) -> Block:
    """An augmented source (pandas, small) as one prepared partition."""
    dask = import_optional("dask")
    frame = src.frame[[*b.features, b.target]].reset_index(drop=True).copy()
    if b.time is not None:
        frame[b.time] = src.time_values.reset_index(drop=True)
    frame["_t"] = np.asarray(src.t)
    frame["_pos"] = np.arange(len(frame), dtype=np.int64)
    return Block(src.name, src, Parts([dask.delayed(frame)], rows=len(frame)), AllRows())


def _eval_tables(b: Any) -> dict[str, pd.DataFrame]:
    out = {}
    for name, ev in b._plan.eval_sets.items():
        if hasattr(ev, "to_delayed"):
            got = compute_parts(_pairs, ev.to_delayed())
            k0, k1 = np.concatenate([g[0] for g in got]), np.concatenate([g[1] for g in got])
        else:
            k0, k1 = _dedup.exact_key_pairs(ev)
        t = pd.DataFrame({"k0": k0, "k1": k1})
        out[name] = t.groupby(["k0", "k1"]).size().rename("mult").reset_index()
    return out


def _pairs(part: pd.DataFrame):
    return _dedup.exact_key_pairs(part)


def row_keys(part: pd.DataFrame, features: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The two exact keys of a partition's rows: held in ``_k0`` / ``_k1`` by the few-column
    partitions of an out-of-core build, else hashed from the features."""
    if "_k0" in part.columns:
        return part["_k0"].to_numpy(), part["_k1"].to_numpy()
    return _dedup.exact_key_pairs(part[features])


def keep_rows(part: pd.DataFrame, blk: dict[str, Any]) -> dict[str, Any]:
    """Which rows of one partition stay: in the block's mask, not leaked, not a later duplicate."""
    m = blk["mask"](part)
    out: dict[str, Any] = {"leak": np.zeros(len(part), bool), "dup": np.zeros(len(part), bool), "matches": {}}
    if blk.get("near") is not None:  # near an evaluation row (curate._dask.near)
        out["leak"] |= m & np.isin(part["_pos"].to_numpy(), blk["near"])
    if blk["tables"] or blk["dups"] is not None:
        k0, k1 = row_keys(part, blk["features"])
        keys = pd.DataFrame({"k0": k0, "k1": k1})
        for name, table in blk["tables"].items():
            mult = keys.merge(table, on=["k0", "k1"], how="left")["mult"].fillna(0).to_numpy(np.int64)
            mult[~m] = 0
            out["matches"][name] = int((mult > 0).sum())  # rows matching, as the pandas engine counts
            out["leak"] |= mult > 0
        if blk["dups"] is not None:
            rmin = keys.merge(blk["dups"], on=["k0", "k1"], how="left")["rmin"].to_numpy(np.float64)
            rank = (blk["code"] << _RANK_SHIFT) + part["_pos"].to_numpy()
            out["dup"] = m & ~out["leak"] & ~np.isnan(rmin) & (rank != np.nan_to_num(rmin, nan=-1).astype(np.int64))
        out["k0"], out["k1"] = k0, k1
    out["keep"] = m & ~out["leak"] & ~out["dup"]
    return out


def _key_frame(part: pd.DataFrame, blk: dict[str, Any]) -> pd.DataFrame:
    r = keep_rows(part, {**blk, "dups": None})
    live = r["keep"]
    k0, k1 = row_keys(part, blk["features"])
    k0, k1 = k0[live], k1[live]
    return pd.DataFrame({"k0": k0, "k1": k1, "rank": (blk["code"] << _RANK_SHIFT) + part["_pos"].to_numpy()[live]})


def _counts(part: pd.DataFrame, blk: dict[str, Any]) -> dict[str, Any]:
    r = keep_rows(part, blk)
    return {"kept": int(r["keep"].sum()), "leak": int(r["leak"].sum()), "dup": int(r["dup"].sum()),
            "matches": r["matches"]}


def _buckets(part: pd.DataFrame, blk: dict[str, Any], n_buckets: int) -> list[pd.DataFrame]:
    kf = _key_frame(part, blk)
    b = (kf["k0"].to_numpy() % np.uint64(n_buckets)).astype(np.int64)
    return [kf[b == k] for k in range(n_buckets)]


def _bucket_dups(*pieces: pd.DataFrame) -> pd.DataFrame:
    kf = pd.concat(pieces, ignore_index=True)
    g = kf.groupby(["k0", "k1"], sort=False)["rank"].agg(["min", "count"])
    return g[g["count"] > 1]["min"].rename("rmin").reset_index()


def _dup_table(b: Any, blocks: list[Block], specs: list[dict[str, Any]]) -> pd.DataFrame:
    """The keys that repeat over all blocks, with the rank of their first row: a hash shuffle
    (every partition splits its keys into buckets by key; each bucket finds its repeats)."""
    dask = import_optional("dask")
    parts = [(p, spec) for blk, spec in zip(blocks, specs) for p in blk.parts]
    n_buckets = max(1, min(64, len(parts) // 2))
    split = [dask.delayed(_buckets, pure=False, nout=n_buckets)(p, spec, n_buckets) for p, spec in parts]
    dups = [dask.delayed(_bucket_dups, pure=False)(*[sp[k] for sp in split]) for k in range(n_buckets)]
    got = dask.compute(*dups)
    return pd.concat(got, ignore_index=True) if got else pd.DataFrame({"k0": [], "k1": [], "rmin": []})


def _filtered(part: pd.DataFrame, spec: dict[str, Any]):
    r = keep_rows(part, spec)
    counts = {"kept": int(r["keep"].sum()), "leak": int(r["leak"].sum()), "dup": int(r["dup"].sum()),
              "matches": r["matches"]}
    return part[r["keep"]].reset_index(drop=True), counts


def _persist_kept(b: Any, blocks: list[Block], specs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Keep only each block's kept rows on the workers (one pass computing the keys), so later
    passes need no keys; the per-partition counts come back."""
    dask = import_optional("dask")
    import operator

    tasks = [[dask.delayed(_filtered, pure=False)(p, spec) for p in blk.parts] for blk, spec in zip(blocks, specs)]
    packed = dask.persist(*[t for group in tasks for t in group])
    counts = dask.compute(*[dask.delayed(operator.getitem, pure=False)(x, 1) for x in packed])
    results, at = [], 0
    for blk, spec in zip(blocks, specs):
        mine, got = packed[at : at + len(blk.parts)], list(counts[at : at + len(blk.parts)])
        at += len(blk.parts)
        blk.parts = Parts([dask.delayed(operator.getitem, pure=False)(x, 0) for x in mine], rows=sum(c["kept"] for c in got))
        blk.full = None  # the kept rows hold every used column
        blk.spec = {"mask": AllRows(), "tables": {}, "dups": None, "features": spec["features"], "code": spec["code"]}
        results.append(got)
    return results


def filters(b: Any, blocks: list[Block]):
    """Leakage and dedup: sets each block's keep rule and counts; (leakage info, dedup info)."""
    for code, blk in enumerate(blocks):
        blk.code = code
    tol = b._plan.exclude_tolerance
    tables = _eval_tables(b) if b._plan.eval_sets and tol == 0 else {}
    dedup = b._plan.dedup is not None
    specs = [{"mask": blk.mask, "tables": tables, "dups": None, "features": list(b.features), "code": blk.code}
             for blk in blocks]
    near_by_set = near_leak(b, blocks, specs, tol) if b._plan.eval_sets and tol > 0 else None
    if dedup:
        dups = _dup_table(b, blocks, specs)
        for spec in specs:
            spec["dups"] = dups
    names = [blk.name for blk in blocks]
    leak_by, dup_by, by_set = dict.fromkeys(names, 0), dict.fromkeys(names, 0), dict.fromkeys(tables, 0)
    if near_by_set is not None:
        by_set = near_by_set
    if all(getattr(blk.src, "persist_kept", True) for blk in blocks):  # room for the kept rows too
        results = _persist_kept(b, blocks, specs)
    else:
        results = compute_many([(_counts, blk.parts, (spec,)) for blk, spec in zip(blocks, specs)])
    for blk, spec, got in zip(blocks, specs, results):
        blk.spec = blk.spec if blk.spec is not None else spec
        blk.counts = [g["kept"] for g in got]
        blk.kept = sum(blk.counts)
        leak_by[blk.name] += sum(g["leak"] for g in got)
        dup_by[blk.name] += sum(g["dup"] for g in got)
        for g in got:
            for name, v in g["matches"].items():
                by_set[name] += v
    leak_info = dedup_info = None
    if b._plan.eval_sets:
        leak_info = {"tolerance": tol, "near": tol > 0, "matches_by_eval_set": by_set,
                     "removed": int(sum(leak_by.values())), "removed_by_block": leak_by}
    if dedup:
        dedup_info = {"tolerance": 0.0, "near": False, "priority": names,
                      "removed": int(sum(dup_by.values())), "removed_by_block": dup_by}
    return leak_info, dedup_info


def unsupported_filters(plan: Any) -> list[str]:
    """The dedup / exclude steps of ``plan`` that the Dask engine does not run yet."""
    off = []
    if plan.dedup is not None and plan.dedup["tolerance"] > 0:
        off.append("dedup(near=...)")
    return off
