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
        self.min_support, self.max_support, self.beam = int(min_support), float(max_support), int(beam)
        # numeric columns, sorted once: row r of _order is the pooled rows in the order of column _num[r]
        self._num = np.array([j for j in range(self.x.shape[1]) if j not in self.cat_cols], dtype=np.int64)
        self._order = np.argsort(self.x[:, self._num], axis=0, kind="stable").T
        self._sorted = np.take_along_axis(self.x[:, self._num].T, self._order, axis=1)

    # -- numeric columns, all at once -----------------------------------------------------
    def _best_numeric(self, member: np.ndarray, lab: np.ndarray, base: list, cap: bool) -> dict:
        """{(column, op, direction): (score, conditions)}: the best threshold of every numeric column
        for ``x <= t`` and ``x > t`` among the ``member`` rows (blocks of columns bound the memory)."""
        out: dict = {}
        n = self.x.shape[0]
        step = max(1, 2_000_000 // max(n, 1))
        for b in range(0, self._num.size, step):
            out.update(self._best_numeric_block(slice(b, b + step), member, lab, base, cap))
        return out

    def _best_numeric_block(self, rows: slice, member, lab, base, cap) -> dict:
        order, v = self._order[rows], self._sorted[rows]
        n = order.shape[1]
        m = member[order] & ~np.isnan(v)
        a = lab[order]
        ka, kt = np.cumsum(a * m, axis=1), np.cumsum((1 - a) * m, axis=1)
        # the next member's position (n: none); a cut lies between a member and the next, distinct value
        pos = np.where(m, np.arange(n), n)
        nxt = np.concatenate([np.minimum.accumulate(pos[:, ::-1], axis=1)[:, ::-1][:, 1:],
                              np.full((len(order), 1), n)], axis=1)
        nv = np.take_along_axis(v, np.minimum(nxt, n - 1), axis=1)
        rr, ii = np.nonzero(m & (nxt < n) & (nv != v))  # the cuts, row-major
        out = {}
        if rr.size == 0:
            return out
        le_a, le_t = ka[rr, ii], kt[rr, ii]
        for op, ca, ct in (("<=", le_a, le_t), (">", ka[rr, -1] - le_a, kt[rr, -1] - le_t)):
            for direction, g in zip(("under_represented", "vanished"), self._gaps(ca, ct, cap)):
                # per row: the highest score, the first cut among equal ones (as argmax would)
                o = np.lexsort((ii, -g, rr))
                first = o[np.r_[0, np.flatnonzero(rr[o][1:] != rr[o][:-1]) + 1]]
                for k in first[g[first] > 0]:
                    r, i = int(rr[k]), int(ii[k])
                    cond = self._condition(int(self._num[rows][r]), op, (v[r, i], nv[r, i]))
                    out[(int(self._num[rows][r]), op, direction)] = (float(g[k]), base + [cond])
        return out

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

    def _best_all(self, member: np.ndarray, lab: np.ndarray, base: list, cap: bool = True):
        """(score, direction, conditions) of the best rule per (column, operator, direction), in
        column order."""
        found = self._best_numeric(member, lab, base, cap)
        for j in sorted(self.cat_cols):
            for jj, op, thr, ka, kt in self._scan_categorical(j, member, lab):
                for direction, g in zip(("under_represented", "vanished"), self._gaps(ka, kt, cap)):
                    i = int(np.argmax(g))
                    if g[i] > 0:
                        found[(jj, op, direction)] = (float(g[i]), base + [self._condition(jj, op, thr[i])])
        ops = {"<=": 0, ">": 1, "in": 0, "in_low": 1}
        keys = sorted(found, key=lambda k: (k[0], ops[k[1]], k[2] != "under_represented"))
        return [(found[k][0], k[2], found[k][1]) for k in keys]

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
        first = self._best_all(everyone, lab, [])
        seeds = sorted((c for c in self._best_all(everyone, lab, [], cap=False) if c[1] == "under_represented"),
                       key=lambda c: -c[0])[: self.beam]
        out = list(first)
        for _, _, conds in seeds:
            member = self._member(conds[0])
            out.extend(c for c in self._best_all(member, lab, conds) if c[1] == "under_represented")
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
