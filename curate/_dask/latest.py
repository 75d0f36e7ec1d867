"""``split(how="latest")`` on Dask: the latest groups (a group's time is its latest row's; ties in
output order) go to validation until their sizes reach ``validation`` of the rows, as the pandas
engine does. Rows are ranked by (time descending, output position): two narrowing passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .filters import keep_rows
from .select import And, Parts, _orderable, kth

__all__ = ["latest_rule", "latest_val"]


def _time_key(t: np.ndarray) -> np.ndarray:
    """Latest first; times compared as float64, as the pandas engine's split does."""
    return ~_orderable(np.asarray(t, dtype=np.float64))


@dataclass(frozen=True)
class _TimeDesc:
    def __call__(self, part: pd.DataFrame) -> np.ndarray:
        return _time_key(part["_t"].to_numpy())


@dataclass(frozen=True)
class _OutIndex:
    """A kept row's position in the training set: the partition's first output position + its rank."""

    spec: dict
    offset: int

    def __call__(self, part: pd.DataFrame) -> np.ndarray:
        keep = keep_rows(part, self.spec)["keep"]
        return (self.offset + np.cumsum(keep) - 1).astype(np.uint64)


@dataclass(frozen=True)
class _Singles:
    spec: dict
    linked: np.ndarray

    def __call__(self, part: pd.DataFrame) -> np.ndarray:
        return keep_rows(part, self.spec)["keep"] & ~np.isin(part["_pos"].to_numpy(), self.linked)


@dataclass(frozen=True)
class _Is:
    key: Any
    value: Any

    def __call__(self, part: pd.DataFrame) -> np.ndarray:
        return self.key(part) == self.value


def latest_rule(blocks: list[Any], rows: list[tuple], codes: np.ndarray, n_groups: int, sizes: np.ndarray,
                target: int, offsets: dict[str, list[int]]):
    """(rule, val rows) of the latest split; ``rows`` / ``codes`` are the linked groups' members."""
    gt = np.full(n_groups, -np.inf)
    gp = np.full(n_groups, np.iinfo(np.int64).max, dtype=np.int64)
    if n_groups:
        np.maximum.at(gt, codes, np.array([float(r[3]) for r in rows]))
        np.minimum.at(gp, codes, np.array([int(r[4]) for r in rows], dtype=np.int64))
    g1, g2 = _time_key(gt), gp.astype(np.uint64)
    first, second = [], []
    for blk in blocks:
        if blk.src.manifest is not None:
            continue
        linked = np.array(sorted(int(r[1].split(":")[1]) for r in rows if r[0] == blk.name), dtype=np.int64)
        for j, part in enumerate(blk.parts):
            one = Parts([part], rows=blk.counts[j])
            mask = _Singles(blk.spec, linked)
            first.append((one, mask, _TimeDesc()))
            second.append((one, mask, _OutIndex(blk.spec, offsets[blk.name][j])))
    n = sum(blk.kept for blk in blocks)
    r1 = kth(first, target + 1, extra=(g1, sizes))
    if r1 is None:
        return {"v": None, "inclusive": False}, n
    v1, less1, _ = r1
    tie = g1 == v1
    second = [(p, And((m, _Is(_TimeDesc(), v1))), k) for p, m, k in second]
    v2, less2, eq2 = kth(second, target + 1 - less1, extra=(g2[tie], sizes[tie]))
    val = less1 + less2
    inclusive = val == 0 and target > 0
    lookup: dict[str, dict[str, Any]] = {}
    for k, r in enumerate(rows):
        lookup.setdefault(r[0], {})[r[1]] = (g1[codes[k]], g2[codes[k]])
    rule = {"v": (v1, v2), "inclusive": inclusive, "lookup": lookup}
    return rule, (eq2 if inclusive else val)


def latest_val(p: pd.DataFrame, e: dict[str, Any], man: pd.DataFrame, rule: dict[str, Any]) -> np.ndarray:
    """Validation flags of one partition's kept rows ``p`` (manifest ``man``)."""
    k1 = _time_key(p["_t"].to_numpy())
    k2 = (e["offset"] + np.arange(len(p))).astype(np.uint64)
    linked = rule["lookup"].get(e["name"], {})
    if linked:
        rid = man["row_id"].to_numpy()
        for k in np.flatnonzero(pd.Index(rid).isin(list(linked))):
            k1[k], k2[k] = linked[rid[k]]
    v1, v2 = rule["v"]
    second = (k2 <= v2) if rule["inclusive"] else (k2 < v2)
    return (k1 < v1) | ((k1 == v1) & second)
