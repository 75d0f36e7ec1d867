"""Development only: which regression-search design refuses the most planted harms for the fewest
wrong refusals, on Fashion-MNIST seeds 130-149 (already seen by the class sub-cluster and the
pre-projection validations of bench_gate_regressions.py; never to be reported as validation).

The models, eval sets and candidates are exactly those of ``bench_gate_regressions.py``'s five
Fashion scenarios (``_fashion``), trained once and kept in a cache folder, so each design costs only
its k-means and tests. Designs (all at max_slice_drop 0.05, alpha 0.05, seed = the scenario seed):

- space: ``head`` (the input of the head, the default), ``conv`` (``backbone.8``, before the
  projection), ``conv+head`` (conv, plus the 8 k-means clusters of all rows in the head's input);
- ``cc``: class sub-clusters per class (8, the default, or 4);
- ``split``: one BH family (``None``, the gate), or two families, the coarse regions (clusters and
  classes) at ``alpha * split`` and the class sub-clusters at ``alpha * (1 - split)``.

Counted per design: harmful candidates refused for a regression, harmless candidates refused for a
regression whose flagged regions do not drop on the 3,000 unseen rows, null candidates likewise
(``bench_gate_regressions._confirmed``).

    .venv/bin/python benchmarks/bench_gate_design_space.py CACHE_DIR  ->  results/gate_design_space.json
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import bench_gate_regressions as B  # noqa: E402

from curate._regressions import _bh, _clusters, _pool, _region_slices, _regions, paired_drop  # noqa: E402

MAX_DROP, ALPHA = 0.05, 0.05
SEEDS = range(130, 150)
SCENARIOS = (("fashion_fine", B.FASHION_SIZES), ("fashion_hidden", B.FASHION_SIZES),
             ("fashion_hidden_rare", B.FASHION_SIZES), ("fashion_hidden" + B.WEAK, B.FASHION_WEAK_SIZES),
             ("fashion_hidden_rare" + B.WEAK, B.FASHION_WEAK_SIZES))
SPACES = ("head", "conv", "conv+head")


def _case(cache: Path, scenario: str, sizes: dict, seed: int):
    """(preds, feats, harmed) of one scenario and seed, trained once and cached."""
    path = cache / f"{scenario}_{seed}.pkl"
    if not path.exists():
        preds, feats, harmed, _ = B._fashion(seed, scenario, sizes)
        path.with_suffix(".tmp").write_bytes(pickle.dumps((preds, feats, harmed)))
        os.replace(path.with_suffix(".tmp"), path)
    return pickle.loads(path.read_bytes())


def _region_sets(P: dict, seed: int, cc: int, head: np.ndarray | None) -> tuple[list, list]:
    """(coarse regions: clusters, classes and with ``head`` its clusters; class sub-clusters)."""
    coarse = _regions(P["X"], P["y"], min_size=10, n_clusters=8, seed=seed, class_clusters=0)
    full = _regions(P["X"], P["y"], min_size=10, n_clusters=8, seed=seed, class_clusters=cc)
    keys = {r[0] for r in coarse}
    fine = [r for r in full if r[0] not in keys]
    if head is not None:
        seen = {r[2].tobytes() for r in full}
        coarse += [r for r in _clusters(head, min_size=10, n_clusters=8, seed=seed, key="head-")
                   if len(r[2]) >= 10 and r[2].tobytes() not in seen]
    return coarse, fine


def _decide(P: dict, coarse: list, fine: list, split: float | None):
    """An object with ``.regressions`` (``diagnose.Slice`` per failing region and set), as the gate's."""
    families = [(coarse + fine, ALPHA)] if split is None else [(coarse, ALPHA * split), (fine, ALPHA * (1 - split))]
    regs = []
    for regions, level in families:
        tests = [paired_drop(P["champ_ok"][rows], P["cand_ok"][rows], max_drop=MAX_DROP, alpha=ALPHA)
                 for _, _, rows in regions]
        for (key, what, rows), t, q in zip(regions, tests, _bh(np.array([t["p"] for t in tests]))):
            if q <= level and t["drop"] > MAX_DROP:
                regs += _region_slices(P, key, what, rows, {**t, "q": float(q), "n": len(rows)}, MAX_DROP)
    return types.SimpleNamespace(regressions=regs)


def _judge_case(preds: dict, feats: dict, seed: int, totals: dict) -> None:
    champ = {k: preds["champion"][k] for k in ("new", "old")}
    head = {k: feats[k] for k in ("new", "old")}
    for space in SPACES:
        conv = space.startswith("conv")
        searched = {k: feats["conv:" + k] for k in ("new", "old")} if conv else head
        unseen = {**searched, "independent": feats["conv:independent" if conv else "independent"]}
        pools = {c: _pool({k: preds[c][k] for k in ("new", "old")}, champ, searched) for c in ("harmful", "harmless", "null")}
        X2 = np.concatenate([head["new"], head["old"]]) if space == "conv+head" else None  # _pool's order: sorted names
        for cc in (8, 4):
            coarse, fine = _region_sets(pools["harmful"], seed, cc, X2)
            for split in (None, 0.5, 0.3):
                t = totals.setdefault(f"{space} cc={cc} split={split}", {"harmful_refused": 0, "harmful": 0,
                                                                        "harmless_wrong": 0, "null_wrong": 0})
                for cand, P in pools.items():
                    dec = _decide(P, coarse, fine, split)
                    if cand == "harmful":
                        t["harmful_refused"] += bool(dec.regressions)
                        t["harmful"] += 1
                    elif dec.regressions and not B._confirmed(dec, preds, unseen, ("new", "old"), cand):
                        t[f"{cand}_wrong"] += 1


def main(cache: Path) -> None:
    t0 = time.perf_counter()
    cache.mkdir(parents=True, exist_ok=True)
    out: dict = {}
    for group in (range(130, 140), range(140, 150)):
        totals: dict = {}
        for seed in group:
            for scenario, sizes in SCENARIOS:
                preds, feats, _ = _case(cache, scenario, sizes, seed)
                _judge_case(preds, feats, seed, totals)
        out[f"seeds_{group.start}_{group.stop - 1}"] = totals
    res = {**out, "_meta": {"wall_s": round(time.perf_counter() - t0, 1), "note": "development only (seen seeds)"}}
    path = Path(__file__).parent / "results" / "gate_design_space.json"
    path.write_text(json.dumps(res, indent=2))
    for group, totals in out.items():
        print(group)
        for design, t in totals.items():
            print(f"  {design:28s} refused {t['harmful_refused']}/{t['harmful']}, wrong {t['harmless_wrong']} harmless "
                  f"+ {t['null_wrong']} null")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
