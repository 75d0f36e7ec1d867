"""Manifest helpers of the training-set builder: categorical lineage columns built from runs
(no Python object per row), parent groups for the validation split, counts."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["categorical", "count_by", "parent_groups"]


def count_by(mask: np.ndarray, block_of: np.ndarray, names: list[str]) -> dict[str, int]:
    counts = np.bincount(block_of[mask], minlength=len(names)) if mask.any() else np.zeros(len(names), int)
    out: dict[str, int] = {}
    for name, c in zip(names, counts):
        out[name] = out.get(name, 0) + int(c)
    return out


def categorical(pieces: list[Any], n: int) -> pd.Categorical:
    """One categorical column from constant runs ``(value, count)`` and per-row string arrays."""
    cats: dict[str, int] = {}
    codes = np.empty(n, dtype=np.int32)
    at = 0
    for p in pieces:
        if isinstance(p, tuple):
            value, k = p
            code = cats.setdefault(value, len(cats))
            codes[at : at + k] = code
            at += k
        else:
            for v in p:  # augmented rows only (small)
                cats.setdefault(v, len(cats))
            codes[at : at + len(p)] = [cats[v] for v in p]
            at += len(p)
    return pd.Categorical.from_codes(codes, categories=list(cats))


def parent_groups(manifest: pd.DataFrame, aug_rows: np.ndarray) -> np.ndarray:
    """Group id per row: generated rows share a group with their parents (union-find over parent links;
    a parent that is not in the set still ties its children together)."""
    n = len(manifest)
    parent: dict[int, int] = {}

    def find(a: int) -> int:
        root = a
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(a, a) != root:  # path compression
            parent[a], a = root, parent[a]
        return root

    pids = manifest["parent_ids"].to_numpy()
    links = [(r, p) for r in aug_rows.tolist() for p in json.loads(pids[r])]
    hits = pd.Index(manifest["row_id"].to_numpy()).get_indexer([p for _, p in links]) if links else []
    virtual: dict[str, int] = {}
    for (r, p), hit in zip(links, hits):
        node = int(hit) if hit >= 0 else virtual.setdefault(p, n + len(virtual))
        ra, rb = find(r), find(node)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    group = np.arange(n, dtype=np.int64)
    for node in list(parent):
        if node < n:
            group[node] = find(node)
    return group
