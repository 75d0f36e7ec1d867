"""Partition-invariant random selection for the training-set builder.

Every random pick of the builder (the ``alpha`` share of old rows, the replay buffer, the
``max_rows`` cap of the searches, the validation groups) ranks rows by a 64-bit hash of the
row's identity (its source and position, or its row id) and the step's seed, and takes the
smallest ranks. A row's rank depends on nothing but the row and the seed, so the pandas and
the Dask engines pick exactly the same rows whatever the partitioning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["SOURCE_CODES", "id_hash", "mix64", "order_key", "smallest", "string_id_hash"]

SOURCE_CODES = {"old": 1, "new": 2}
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_ID_KEY = "curakit-row-ids!"  # 16 bytes, pandas hash key for string row ids


def mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 wrap-around is intended)."""
    h = np.asarray(h, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


def id_hash(source: str, pos: np.ndarray) -> np.ndarray:
    """The identity hash of rows ``"<source>:<pos>"`` of old / new (no seed)."""
    code = np.uint64(SOURCE_CODES[source] << 56)
    with np.errstate(over="ignore"):
        return mix64(np.asarray(pos, dtype=np.int64).astype(np.uint64) * _GOLDEN + code)


def string_id_hash(ids: np.ndarray) -> np.ndarray:
    """The identity hash of row ids given as strings: ``"old:12"`` hashes as :func:`id_hash`
    (so a parent named by id ranks as the row itself); other ids by their text."""
    ids = np.asarray(ids, dtype=object)
    out = pd.util.hash_array(ids.astype(str).astype(object), hash_key=_ID_KEY).astype(np.uint64)
    for source in SOURCE_CODES:
        s = pd.Series(ids, dtype=object).astype(str)
        hit = s.str.startswith(f"{source}:").to_numpy()
        if hit.any():
            tail = s[hit].str.slice(len(source) + 1)
            ok = tail.str.fullmatch(r"\d+").to_numpy()
            where = np.flatnonzero(hit)[ok]
            out[where] = id_hash(source, tail[ok].astype(np.int64).to_numpy())
    return out


def order_key(ident: np.ndarray, seed: int) -> np.ndarray:
    """The seeded rank of rows with identity hashes ``ident`` (smaller ranks are picked first)."""
    s = mix64(np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF) ^ _GOLDEN)
    return mix64(np.asarray(ident, dtype=np.uint64) ^ s)


def smallest(keys: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` smallest ``keys``, in ascending key order (ties: lower position first)."""
    k = max(int(k), 0)
    if 0 < k < len(keys) // 4:  # partial selection, then order the k (ties by position, as a stable sort)
        part = np.argpartition(keys, k - 1)[:k]
        cut = keys[part].max()
        part = np.flatnonzero(keys <= cut)  # every tie at the cut, in position order
        order = np.argsort(keys[part], kind="stable")
        return part[order][:k]
    return np.argsort(keys, kind="stable")[:k]
