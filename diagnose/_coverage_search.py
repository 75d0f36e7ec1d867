"""Exhaustive rule search over the representation gap (the ``"coverage"`` diagnoser's rule finder).

For every feature the pooled rows (training + analysed) are sorted once; a cumulative count of
analysed and training rows along that order gives, for every threshold between two distinct values,
the shares on both sides of ``x <= t`` and ``x > t`` (categorical columns: prefixes of their levels
ordered by share ratio, ``x in {...}``). Every candidate is scored by its representation gap,
the analysed share's Wilson lower bound minus the training share's Wilson upper bound (and the
reverse for regions that vanished), and the best threshold per (feature, operator) is kept.
Two-predicate rules come from a beam: within each of the ``beam`` best one-predicate rules (chosen
without the ``max_support`` bound, which applies to the final rules only) the same scan runs again
over every feature (the same feature again gives an interval).

The largest gap that this very search finds when the training / analysed labels are shuffled
(``n_null`` permutations, seeded) is the null level: a region is listed only when its gap exceeds
it, so searching thousands of thresholds does not turn noise into slices.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._stats import wilson_bounds

__all__ = ["GapSearch"]


class GapSearch:
    """Rule search over encoded tables ``xa`` (analysed) and ``xt`` (training), NaN = missing."""

    def __init__(self, xa: np.ndarray, xt: np.ndarray, columns: list[str], cats: dict[str, list], *,
                 min_support: int, max_support: float, beam: int = 6, statistic: str = "llr"):
        self.statistic = statistic
        self.x = np.vstack([xt, xa])
        self.n_t, self.n_a = len(xt), len(xa)
        self.columns, self.cats = columns, cats
        self.cat_cols = {j for j, c in enumerate(columns) if c in cats}
        self.orders = [np.argsort(self.x[:, j], kind="stable") for j in range(self.x.shape[1])]
        self.min_support, self.max_support, self.beam = int(min_support), float(max_support), int(beam)

    # -- one feature ---------------------------------------------------------------------
    def _scan_numeric(self, j: int, member: np.ndarray, lab: np.ndarray):
        o = self.orders[j]
        o = o[member[o]]
        v = self.x[o, j]
        o, v = o[~np.isnan(v)], v[~np.isnan(v)]
        if v.size < 2:
            return []
        a = lab[o]
        ka, kt = np.cumsum(a), np.cumsum(1 - a)
        cut = np.flatnonzero(v[1:] != v[:-1])
        if cut.size == 0:
            return []
        thr = np.column_stack([v[cut], v[cut + 1]])  # any t with lower <= t < upper splits the same way
        le_a, le_t = ka[cut], kt[cut]
        return [(j, "<=", thr, le_a, le_t), (j, ">", thr, ka[-1] - le_a, kt[-1] - le_t)]

    def _scan_categorical(self, j: int, member: np.ndarray, lab: np.ndarray):
        col = self.x[member, j]
        a = lab[member]
        ok = ~np.isnan(col)
        codes, a = col[ok].astype(np.int64), a[ok]
        n_lev = len(self.cats[self.columns[j]])
        ca = np.bincount(codes, weights=a, minlength=n_lev)
        ct = np.bincount(codes, weights=1 - a, minlength=n_lev)
        ratio = (ca + 0.5) / self.n_a / ((ct + 0.5) / self.n_t)
        out = []
        for op, order in (("in", np.argsort(-ratio, kind="stable")), ("in_low", np.argsort(ratio, kind="stable"))):
            order = order[(ca + ct)[order] > 0][:-1]  # a prefix of all levels is no rule
            if order.size:
                out.append((j, op, [order[: i + 1] for i in range(order.size)], np.cumsum(ca[order]),
                            np.cumsum(ct[order])))
        return out

    def _scan(self, member: np.ndarray, lab: np.ndarray):
        out = []
        for j in range(self.x.shape[1]):
            if j in self.cat_cols:
                out.extend(self._scan_categorical(j, member, lab))
            else:
                out.extend(self._scan_numeric(j, member, lab))
        return out

    # -- scoring -------------------------------------------------------------------------
    def _gaps(self, ka: np.ndarray, kt: np.ndarray, cap: bool = True) -> tuple[np.ndarray, np.ndarray]:
        ka, kt = np.asarray(ka, dtype=np.float64), np.asarray(kt, dtype=np.float64)
        if self.statistic == "llr":
            llr = scan_llr(ka, kt, self.n_a, self.n_t)
            up = ka * self.n_t > kt * self.n_a
            under_s, vanished_s = np.where(up, llr, -1.0), np.where(up, -1.0, llr)
        else:
            a_lo, a_hi = wilson_bounds(ka, self.n_a)
            t_lo, t_hi = wilson_bounds(kt, self.n_t)
            under_s, vanished_s = a_lo - t_hi, t_lo - a_hi
        small = ka <= self.max_support * self.n_a if cap else np.ones(ka.shape, dtype=bool)
        under = np.where((ka >= self.min_support) & small, under_s, -1.0)
        vanished = np.where((kt >= self.min_support) & small, vanished_s, -1.0)
        return under, vanished

    def _best(self, scans, base: list[dict[str, Any]], cap: bool = True):
        """The best candidate per (feature, operator, direction): (gap, direction, conditions);
        ``cap=False`` lifts the ``max_support`` bound (beam seeds: a band is the intersection of two
        half-lines that each cover most rows)."""
        out = []
        for j, op, thr, ka, kt in scans:
            for direction, gap in zip(("under_represented", "vanished"), self._gaps(ka, kt, cap)):
                i = int(np.argmax(gap))
                if gap[i] <= 0:
                    continue
                out.append((float(gap[i]), direction, base + [self._condition(j, op, thr[i])]))
        return out

    def _condition(self, j: int, op: str, value: Any) -> dict[str, Any]:
        col = self.columns[j]
        if op in ("in", "in_low"):
            levels = self.cats[col]
            return {"feature": col, "op": "in", "value": sorted(levels[int(k)] for k in value)}
        lower, upper = float(value[0]), float(value[1])
        return {"feature": col, "op": op, "value": rounded_threshold((lower + upper) / 2.0, lower, upper)}

    def _member(self, cond: dict[str, Any]) -> np.ndarray:
        j = self.columns.index(cond["feature"])
        col = self.x[:, j]
        with np.errstate(invalid="ignore"):
            if cond["op"] == "in":
                codes = [self.cats[cond["feature"]].index(v) for v in cond["value"]]
                return np.isin(col, codes)
            return col <= cond["value"] if cond["op"] == "<=" else col > cond["value"]

    # -- the search ----------------------------------------------------------------------
    def search(self, lab: np.ndarray) -> list[tuple[float, str, list[dict[str, Any]]]]:
        """(gap, direction, conditions) of the best one- and two-predicate rules for labels ``lab``
        (1 = analysed row, 0 = training row, in pooled order)."""
        everyone = np.ones(len(lab), dtype=bool)
        scans = self._scan(everyone, lab)
        first = self._best(scans, [])
        seeds = sorted((c for c in self._best(scans, [], cap=False) if c[1] == "under_represented"),
                       key=lambda c: -c[0])[: self.beam]
        out = list(first)
        for _, _, conds in seeds:
            member = self._member(conds[0])
            out.extend(c for c in self._best(self._scan(member, lab), conds) if c[1] == "under_represented")
        return out

    def null_levels(self, n_null: int, rng: np.random.Generator) -> dict[str, float]:
        """The largest score that the search finds on shuffled labels (max over ``n_null``
        permutations), per direction and rule length: keys ``"under_represented:1"``,
        ``"under_represented:2"``, ``"vanished:1"`` (a one-predicate rule is held to the level of
        the one-predicate search, which tests fewer rules)."""
        lab = np.r_[np.zeros(self.n_t), np.ones(self.n_a)]
        level = {"under_represented:1": 0.0, "under_represented:2": 0.0, "vanished:1": 0.0, "vanished:2": 0.0}
        for _ in range(int(n_null)):
            for gap, direction, conds in self.search(rng.permutation(lab)):
                key = f"{direction}:{min(len(conds), 2)}"
                level[key] = max(level[key], gap)
        level["under_represented:2"] = max(level["under_represented:2"], level["under_represented:1"])
        level["vanished:2"] = max(level["vanished:2"], level["vanished:1"])
        return level

    def observed(self) -> list[tuple[float, str, list[dict[str, Any]]]]:
        return self.search(np.r_[np.zeros(self.n_t), np.ones(self.n_a)])


def scan_llr(ka: Any, kt: Any, n_a: int, n_t: int) -> np.ndarray:
    """Kulldorff's Bernoulli scan statistic: the log-likelihood ratio of "the region's analysed
    fraction differs from the rest's" against "one fraction everywhere" (0 when they are equal)."""
    ka, kt = np.asarray(ka, dtype=np.float64), np.asarray(kt, dtype=np.float64)
    ra, rt = n_a - ka, n_t - kt

    def xlogy(x, y):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, x * np.log(np.where(y > 0, y, 1.0)), 0.0)

    m_in, m_out, n = ka + kt, ra + rt, n_a + n_t
    inside = xlogy(ka, ka / np.maximum(m_in, 1)) + xlogy(kt, kt / np.maximum(m_in, 1))
    outside = xlogy(ra, ra / np.maximum(m_out, 1)) + xlogy(rt, rt / np.maximum(m_out, 1))
    pooled = n_a * math.log(n_a / n) + n_t * math.log(n_t / n)
    return np.maximum(inside + outside - pooled, 0.0)


def rounded_threshold(value: float, lower: float, upper: float) -> float:
    """The shortest decimal ``r`` with ``lower <= r < upper`` near ``value`` (a readable threshold
    that splits the rows exactly as ``value`` does)."""
    if not (math.isfinite(lower) and math.isfinite(upper)) or lower >= upper:
        return value
    for digits in range(1, 16):
        r = float(f"{value:.{digits}g}")
        if lower <= r < upper:
            return r
    return value
