"""``TrainingSetBuilder.build`` on Dask: the pandas engine's steps, partition-wise.

Every decision that needs all the rows (a window's reference time, the ``k`` rows of smallest
seeded rank, class counts, duplicate keys) is taken from counts, histograms or small key tables
computed on the workers; the rows themselves stay there. The result is a lazy
:class:`curate._dask.trainingset.DaskTrainingSet` whose ``save`` runs the graph.
"""

from __future__ import annotations

import logging
from typing import Any

from curakit.exceptions import DataError, ParameterError
from curakit.optional import import_optional
from curakit.seeds import child_seed, resolve_seed
from curate._build.sources import OWNER
from curate._build.steps import balanced_take
from curate._windows import TimeAxis

from .emit import finish, unsupported_emit
from .filters import Block, aug_block, filters, unsupported_filters
from .inputs import dask_sources
from .nearest import nearest_pick
from .search import search_alpha, search_window
from .select import AllRows, And, ClassIs, HashKey, IndexKey, Not, Or, select_k
from .steps import alpha_select, summaries, value_counts, window_masks

__all__ = ["dask_build", "dask_init"]

logger = logging.getLogger("curate._builder")


def dask_init(builder: Any, old: Any, new: Any, time: str | None, features: Any, storage_options: Any = None) -> None:
    """Parse Dask inputs into ``builder`` (old / new sources, features, time axis, task)."""
    builder.kind, builder.engine = "tabular", "dask"
    extra = {} if storage_options is None else {"storage_options": storage_options}  # None: the engine's default
    builder.old, builder.new = dask_sources(builder, old, new, time, features, **extra)
    kinds = {builder.old.axis_kind, builder.new.axis_kind}
    if len(kinds) > 1:
        raise DataError(
            f"The time column {builder.time!r} holds dates in one source and numbers in the other. "
            "Give both the same kind of time."
        )
    builder._axis = TimeAxis(kinds.pop())


def _check_supported(b: Any) -> None:
    plan = b._plan
    off = unsupported_filters(plan) + unsupported_emit(plan)
    if off:
        raise ParameterError(
            f"{', '.join(off)} do(es) not run on the Dask engine yet. Drop the step, or build from pandas DataFrames."
        )


# -- window ------------------------------------------------------------------------------------
def do_window(b: Any, seed: int):
    plan = b._plan.window
    if plan is None:
        return AllRows(), AllRows(), None, None, len(b.old)
    if plan["mode"] == "auto":
        spec, info = search_window(b, plan, seed)
    else:
        spec, info = plan["spec"], {"mode": "fixed"}
    mo, mn = window_masks(b, spec)
    (co, lo_o, hi_o), (cn, lo_n, hi_n) = summaries([(b.old.parts, mo), (b.new.parts, mn)])
    if co + cn == 0:
        raise DataError(f"window({spec.label()}) selects no rows of old or new data. Widen the window or check the time column.")
    if b._axis.kind == "order":
        desc = spec.label()
    else:
        lo = min(v for v in (lo_o, lo_n) if v is not None)
        hi = max(v for v in (hi_o, hi_n) if v is not None)
        desc = f"{b._axis.format(lo)}..{b._axis.format(hi)}"
    info.update({"window": spec.label(), "spec": spec.to_dict(), "span": desc, "rows": {"old": int(co), "new": int(cn)}})
    return mo, mn, desc, info, co


# -- mix and rehearse ----------------------------------------------------------------------------
def do_mix(b: Any, old_mask: Any, new_mask: Any, n_avail: int, seed: int):
    plan = b._plan.mix
    if plan is None:
        return old_mask, n_avail, None, None
    info: dict[str, Any] = {"stratify": plan["stratify"], "old_rows_available": int(n_avail)}
    if plan["mode"] == "auto":
        alpha = search_alpha(b, plan, old_mask, new_mask, n_avail, seed, info)
    else:
        alpha = plan["alpha"]
        info["mode"] = "fixed"
    sel, k = alpha_select(b, old_mask, n_avail, alpha, seed, plan["stratify"])
    info.update({"alpha": alpha, "old_rows": int(k)})
    return sel, k, alpha, info


def do_rehearse(b: Any, old_sel: Any, new_mask: Any, n_sel: int, seed: int):
    plan = b._plan.rehearse
    if plan is None:
        return None, None
    cand = Not(old_sel)
    n_cand = len(b.old) - n_sel
    n = plan["n"] if plan["n"] is not None else int(round(plan["fraction"] * len(b.old)))
    if n < 1:
        raise DataError(f"rehearse(fraction={plan['fraction']}) selects no rows of {len(b.old)} old rows. Raise fraction.")
    if n > n_cand:
        raise DataError(
            f"rehearse asks for {n} old rows but only {n_cand} old rows are left out of the training set "
            "by window() / mix(). Lower n or fraction."
        )
    key1, key2 = HashKey("old", seed), IndexKey(0)
    if plan["how"] == "random":
        pick = select_k([(b.old.parts, cand, key1, key2)], n)[0]
    elif plan["how"] == "nearest":
        pick = nearest_pick(b, cand, new_mask, n, plan["max_candidates"], seed)
    else:
        avail = value_counts(b.old.parts, cand, b.target)
        take = balanced_take(avail.to_numpy(), n)
        pick = Or(tuple(select_k([(b.old.parts, And((cand, ClassIs(b.target, c))), key1, key2)], int(k))[0]
                        for c, k in zip(avail.index, take) if k))
    by_class = value_counts(b.old.parts, pick, b.target)
    info = {"how": plan["how"], "rows": int(n), "n": plan["n"], "fraction": plan["fraction"],
            "candidates": int(n_cand), "by_class": {str(k): int(v) for k, v in by_class.items()}}
    return pick, info


# -- build -------------------------------------------------------------------------------------------
def dask_build(b: Any, random_state: Any):
    """The Dask engine's ``build``: a lazy training set selecting exactly the pandas engine's rows."""
    _check_supported(b)
    seed = resolve_seed(random_state, f"{OWNER}.build")
    seeds = {k: child_seed(seed, k) for k in ("window", "mix", "rehearse", "split")}
    info: dict[str, Any] = {
        "schema_version": 1, "engine": "dask", "random_state": seed, "seeds": seeds, "kind": "tabular",
        "task": "classification" if b._classification else "regression",
        "sources": {"old": {"rows": len(b.old)}, "new": {"rows": len(b.new)}}, "time_axis": b._axis.kind,
    }
    old_m, new_m, win_desc, info["window"], n_avail = do_window(b, seeds["window"])
    old_m, n_sel, alpha, info["mix"] = do_mix(b, old_m, new_m, n_avail, seeds["mix"])
    replay, info["rehearse"] = do_rehearse(b, old_m, new_m, n_sel, seeds["rehearse"])
    blocks = [Block("new", b.new, b.new.parts, new_m, full=b.new.full),
              Block("old", b.old, b.old.parts, old_m, full=b.old.full)]
    if replay is not None:
        blocks.append(Block("replay", b.old, b.old.parts, replay, full=b.old.full))
    blocks += [aug_block(b, src) for src in b._plan.added]
    info["augmented"] = [
        {"name": src.name, "rows": len(src), "parents": src.parents,
         "operations": sorted(map(str, src.manifest["operation"].unique()))}
        for src in b._plan.added
    ]
    info["leakage"], info["dedup"] = filters(b, blocks)
    if sum(blk.kept for blk in blocks) == 0:
        raise DataError("The training set is empty after the window, mix, leakage and dedup steps. Widen the window.")
    order = {"old": 0, "replay": 1, "new": 2}
    blocks.sort(key=lambda blk: order.get(blk.name, 3))
    return finish(b, blocks, info, seeds, win_desc, alpha)


def require_dask() -> Any:
    return import_optional("dask.dataframe")
