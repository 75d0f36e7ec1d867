"""``window("auto")`` and ``mix(alpha="auto")`` on Dask: the pandas engine's search, with the
held-out latest rows and the ``max_rows`` caps chosen partition-wise (same rows, same order),
so only the capped training and test samples (at most ``max_rows`` rows each) reach the client
where the scorer runs."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError
from curakit.seeds import child_seed
from curate._build.search import choose_alpha
from curate._build.sources import OWNER

from .select import AllRows, And, HashKey, IndexKey, Not, TimeKey, compute_many, select_k
from .steps import alpha_select, summaries, summary, window_masks

__all__ = ["search_alpha", "search_window"]

logger = logging.getLogger("curate._builder")


def _holdout(b: Any, mask: Any, n_rows: int, holdout: float, method: str):
    """(train mask, test mask) of new rows in ``mask``: the latest ``holdout`` share is the test."""
    k = int(round(holdout * n_rows))
    if n_rows < 2 or k < 1 or k >= n_rows:
        raise DataError(
            f"{OWNER}.{method} search needs new rows to hold out: {n_rows} new row(s) with holdout={holdout}. "
            "Pass more new data or a larger holdout."
        )
    test = select_k([(b.new.parts, mask, TimeKey(True), IndexKey(0, True))], k)[0]
    return And((mask, Not(test))), test


def _take(part: pd.DataFrame, mask: Any, cols: list[Any]) -> pd.DataFrame:
    return part[cols][mask(part)]


def _count(part: pd.DataFrame, mask: Any) -> int:
    return int(mask(part).sum())


def _capped_xy(b: Any, parts: list[tuple[Any, Any]], max_rows: int, seed: int):
    """X, y of at most ``max_rows`` rows of ``parts`` = [(source, mask)], as the pandas engine's cap + rows_xy."""
    totals = [sum(got) for got in compute_many([(_count, src.parts, (m,)) for src, m in parts])]
    if sum(totals) > max_rows:
        items, offset = [], 0
        for src, m in parts:
            items.append((src.parts, m, HashKey(src.name, seed), IndexKey(offset)))
            offset += len(src)
        masks = select_k(items, max_rows)
        parts = [(src, sel) for (src, _), sel in zip(parts, masks)]
    cols = [*b.features, b.target]
    frames = [f for got in compute_many([(_take, src.full, (m, cols)) for src, m in parts]) for f in got]
    data = pd.concat(frames, ignore_index=True)
    return data[b.features], data[b.target].to_numpy()


def search_window(b: Any, plan: dict[str, Any], seed: int):
    owner = f"{OWNER}.window"
    pool, test = _holdout(b, AllRows(), len(b.new), plan["holdout"], "window")
    _, _, new_max = summary(b.new.parts, pool)
    ref = b.old.t_max if new_max is None else max(b.old.t_max, new_max)
    X_test, y_test = _capped_xy(b, [(b.new, test)], plan["max_rows"], seed)
    results = []
    for spec in plan["candidates"]:
        mo, mn = window_masks(b, spec, ref=ref)
        mn = And((mn, pool))
        (co, _, _), (cn, _, _) = summaries([(b.old.parts, mo), (b.new.parts, mn)])
        entry = {"window": spec.label(), "train_rows": int(co + cn), "score": None}
        if co + cn > 0:
            X_tr, y_tr = _capped_xy(b, [(b.old, mo), (b.new, mn)], plan["max_rows"], seed)
            entry["score"] = plan["scorer"](X_tr, y_tr, X_test, y_test)
        results.append(entry)
    scored = [(k, r["score"]) for k, r in enumerate(results) if r["score"] is not None and np.isfinite(r["score"])]
    if not scored:
        raise DataError(f"No candidate window of {owner}('auto') holds rows before the latest period. Pass wider candidates.")
    best = max(scored, key=lambda kv: (kv[1], -kv[0]))[0]
    n_test = int(round(plan["holdout"] * len(b.new)))
    info = {"mode": "auto", "candidates": results, "chosen": results[best]["window"],
            "holdout": plan["holdout"], "holdout_rows": n_test, "model": plan["scorer"].describe()}
    return plan["candidates"][best], info


def search_alpha(b: Any, plan: dict[str, Any], old_mask: Any, new_mask: Any, n_avail: int, seed: int,
                 info: dict[str, Any]) -> float:
    n_new = summary(b.new.parts, new_mask)[0]
    train_new, test_new = _holdout(b, new_mask, n_new, plan["holdout"], "mix")
    X_test, y_test = _capped_xy(b, [(b.new, test_new)], plan["max_rows"], child_seed(seed, "cap"))
    scores = []
    for alpha in plan["grid"]:
        old_rows, _ = alpha_select(b, old_mask, n_avail, alpha, seed, plan["stratify"])
        X_tr, y_tr = _capped_xy(b, [(b.new, train_new), (b.old, old_rows)], plan["max_rows"],
                                child_seed(seed, "cap-train"))
        scores.append(plan["scorer"](X_tr, y_tr, X_test, y_test))
    return choose_alpha(plan, scores, info, holdout_rows=round(plan["holdout"] * n_new), n_old=n_avail, owner=OWNER)
