"""``curate.compare_strategies``: every strategy on the same training set and eval sets, side by side."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from curakit.exceptions import DataError, ParameterError, StrategyError
from curakit.html import frame_html
from curakit.io import atomic_write_text
from curakit.progress import progress as progress_iter
from curakit.records import json_ready
from curakit.validation import UNSET, renamed

from ._naive import NAIVE_GUARDS, naive_columns, naive_strategy, naive_training_set, selection_rows
from ._retrain import RetrainResult, _check_model, check_strategy, retrain
from ._strategies import STRATEGIES, supported_strategies

__all__ = ["ComparisonTable", "compare_strategies", "vs_naive"]

#: prefix of the eval sets that hold the selection part of a split eval set
SELECT = "select_"

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ComparisonTable:
    """Strategies side by side.

    frame : one row per strategy: ``<eval set>`` scores (``old``, ``new``, ...), ``forgetting``
        (drop on ``old`` against ``do_nothing``; positive = forgot), ``gain_new`` (against
        ``do_nothing``), ``train_time`` (seconds), ``n_train``, ``slice:<id>:<eval set>``, and
        ``vs_naive:<eval set>`` (with ``:low`` / ``:high``: 95% paired-bootstrap interval), and
        ``negative_flips:<eval set>`` (share of rows the incumbent got right and this model gets wrong).
        The ``do_nothing`` and ``naive`` rows are the two baselines.
    results : the :class:`RetrainResult` of every strategy.
    metric : the metric's name.
    slice_names : slice id -> readable description (from the ``Slice`` objects compared on).
    selection : with ``compare_strategies(selection_split=...)``: ``{"fraction", "random_state",
        "rows": {eval set: {"select": positions, "score": positions}}}`` (positions in the eval set as
        given); the ``<set>`` columns then score the scoring part, ``select_<set>`` the selection part
        and ``select_forgetting`` is the drop on ``select_old``. Empty without a split.
    """

    frame: pd.DataFrame
    results: dict[str, RetrainResult] = field(default_factory=dict)
    metric: str = "accuracy"
    slice_names: dict[str, str] = field(default_factory=dict)
    selection: dict[str, Any] = field(default_factory=dict)

    def best(self, by: str = "new", *, max_forgetting: float | None = None, baselines: bool = True,
             on: str | None = None) -> str:
        """The strategy with the highest score on eval set ``by`` among those forgetting at most
        ``max_forgetting`` on ``old`` (any when None); ``baselines=False`` leaves ``naive`` out (the
        candidate to promote is then a curated strategy or ``do_nothing``). The same rule holds for
        every row, ``naive`` included.

        ``on="selection"`` picks on the selection part of the eval sets (``select_<by>`` and
        ``select_forgetting``), so the scores the pick is then judged on (``<by>``, the gate) are
        not the ones it was made on; ``on="holdout"`` picks on the scored sets themselves (the
        behaviour of tables without a split). Default: ``"selection"`` when the table has a
        selection split, else ``"holdout"``."""
        score, forget = self._pick_columns(by, on)
        frame = self.frame if baselines else self.frame[self.frame["strategy"] != "naive"]
        if max_forgetting is not None:
            frame = frame[frame[forget].fillna(0.0) <= max_forgetting]
        frame = frame.dropna(subset=[score])
        if frame.empty:
            raise ParameterError(
                f"No strategy forgets at most {max_forgetting} on 'old'. Raise max_forgetting or add strategies."
            )
        # ties: the strategy listed first wins (do_nothing first); never wall-clock time, which
        # would make the choice differ between identical runs
        order = frame.sort_values([score], ascending=[False], kind="mergesort")
        return str(order.iloc[0]["strategy"])

    def _pick_columns(self, by: str, on: str | None) -> tuple[str, str]:
        """(score column, forgetting column) that :meth:`best` picks on."""
        if on is None:
            on = "selection" if self.selection else "holdout"
        if on not in ("selection", "holdout"):
            raise ParameterError(f"The 'on' parameter of ComparisonTable.best must be 'selection' or 'holdout'. "
                                 f"Got {on!r} instead.")
        if on == "selection" and not self.selection:
            raise ParameterError("ComparisonTable.best(on='selection') needs a table with a selection split: "
                                 "run compare_strategies(..., selection_split=0.5).")
        cols = [c for c in self.frame.columns if c not in ("strategy", "forgetting", "gain_new", "train_time",
                                                             "n_train", "error", "select_forgetting")
                and not c.startswith(("slice:", "vs_naive:", "negative_flips:", SELECT))]
        score = f"{SELECT}{by}" if on == "selection" else by
        if by not in cols or score not in self.frame.columns:
            raise ParameterError(f"The 'by' parameter of ComparisonTable.best must be one of {cols}. Got {by!r} instead.")
        return score, ("select_forgetting" if on == "selection" else "forgetting")

    def fair_picks(self, by: str = "new", *, max_forgetting: float | None = None, on: str | None = None) -> dict:
        """What a user following one rule gets from the curation and from the naive baseline.

        ``"curated"``: :meth:`best` among the curated strategies and ``do_nothing`` (``do_nothing``
        when no curated strategy keeps the rule); ``"naive"``: ``naive`` when it keeps the same rule,
        else ``do_nothing``; ``"naive_keeps_rule"`` / ``"naive_forgetting"``: whether and how much it
        forgot (on the part the pick is made on)."""
        score, forget = self._pick_columns(by, on)
        curated = self.frame[~self.frame["strategy"].isin(["naive"])]
        pick = self.best(by, max_forgetting=max_forgetting, baselines=False, on=on)
        naive = self.frame[self.frame["strategy"] == "naive"].dropna(subset=[score])
        forgot = None if naive.empty else float(naive[forget].fillna(0.0).iloc[0])
        keeps = forgot is not None and (max_forgetting is None or forgot <= max_forgetting)
        return {"curated": pick, "naive": "naive" if keeps else "do_nothing", "naive_keeps_rule": keeps,
                "naive_forgetting": forgot, "curated_candidates": int(curated["strategy"].ne("do_nothing").sum()),
                "by": score, "forgetting": forget, "max_forgetting": max_forgetting}

    def vs_naive(self, strategy: str, sets: Sequence[str] = ("new", "old")) -> dict[str, float | None]:
        """``strategy`` against ``naive`` on each of ``sets``: ``{"vs_naive:<set>": difference,
        "vs_naive:<set>:low": ..., "vs_naive:<set>:high": ...}`` (None where it was not measured)."""
        return vs_naive(self.frame, strategy, sets)

    def scoring_sets(self, eval_sets: Mapping[str, Any]) -> dict[str, Any]:
        """The eval sets as the table scored them: with a selection split, each set's scoring part
        (pass these to ``Registry.promote_if_better(eval_sets=...)``) ; else the sets as given."""
        if not self.selection:
            return dict(eval_sets)
        return {name: _rows_of(value, self.selection["rows"][name]["score"]) if name in self.selection["rows"]
                else value for name, value in eval_sets.items()}

    def scoring_slices(self, strategy: str) -> dict[str, dict[str, Any]]:
        """``strategy``'s named-slice masks (``RetrainResult.slice_masks``) on the scored sets only: with a
        selection split the ``select_<set>`` parts are left out, so ``Registry.promote_if_better(slices=...)``
        judges the named slices on the rows the table scores, not on those the pick was made on."""
        masks = self.results[strategy].slice_masks if strategy in self.results else {}
        return {sid: {name: m for name, m in per_set.items() if not str(name).startswith(SELECT)}
                for sid, per_set in masks.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "rows": json_rows(self.frame), "slice_names": dict(self.slice_names),
                "selection": json_ready(self.selection),
                "intervals": json_rows(self.intervals()),
                "results": {k: v.to_dict() for k, v in self.results.items()}}

    def figure(self):
        """Scores per strategy with 95% intervals and the old-vs-new plane (see :meth:`intervals`)."""
        from ._compare_figures import comparison_figure

        return comparison_figure(self)

    def slice_figure(self, strategy: str | None = None):
        """Per-slice before (``do_nothing``) / after (``strategy``, default the best candidate on
        ``new``) bars with intervals and row counts; None when no slice has rows."""
        from ._compare_figures import slice_figure

        return slice_figure(self, strategy)

    def intervals(self) -> pd.DataFrame:
        """Every score with its 95% interval and row count: one row per (strategy, eval set, slice);
        Wilson intervals for accuracy, a seeded bootstrap for other metrics (whole eval sets only)."""
        from ._compare_figures import score_intervals

        return score_intervals(self)

    def to_frame(self) -> pd.DataFrame:
        """The table as the report shows it: slice columns named ``<description> (<eval set>)``."""
        from ._compare_report import readable_columns

        frame = self.frame.copy()
        for col in frame.columns:  # slice scores: NaN (not None) where a holdout has no rows of the slice
            if frame[col].dtype == object and col not in ("strategy", "error"):
                frame[col] = pd.to_numeric(frame[col], errors="coerce")
        return readable_columns(frame, self.slice_names)

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text (NaN as null)."""
        import json

        return json.dumps(self.to_dict(), sort_keys=True)

    def to_html(self, path: str | Path | None = None, *, decision: Any = None) -> str:
        """A self-contained report (table, plot and, given a :class:`GateDecision`, the gate's
        verdict); written atomically when ``path`` is given."""
        from ._compare_report import comparison_html

        doc = comparison_html(self, decision)
        if path is not None:
            atomic_write_text(path, doc)
        return doc

    def _repr_html_(self) -> str:
        return frame_html(self.frame)

    def __repr__(self) -> str:
        return f"ComparisonTable(metric={self.metric!r}, strategies={list(self.frame['strategy'])})"


def vs_naive(frame: pd.DataFrame, strategy: str, sets: Sequence[str] = ("new", "old")) -> dict[str, float | None]:
    """``strategy``'s ``vs_naive:<set>``, ``vs_naive:<set>:low`` and ``vs_naive:<set>:high`` (its accuracy
    minus naive's on the same rows, with the 95% paired-bootstrap interval that :func:`compare_strategies`
    writes) for each of ``sets``, read from a comparison frame: None where the frame lacks the column, the
    strategy's row or its value (naive or the strategy did not run)."""
    row = frame[frame["strategy"] == strategy] if "strategy" in frame.columns else frame.iloc[:0]
    out: dict[str, float | None] = {}
    for s in sets:
        for suffix in ("", ":low", ":high"):
            col = f"vs_naive:{s}{suffix}"
            value = row.iloc[0][col] if len(row) and col in frame.columns else None
            out[col] = None if value is None or pd.isna(value) else float(value)
    return out


def json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The table's rows as JSON values (curakit's one policy: NaN -> null, +-inf -> "inf"/"-inf")."""
    return json_ready(frame.to_dict("records"))


def compare_strategies(
    model: Any,
    ts: Any,
    *,
    strategies: Sequence[str] | None = None,
    eval_sets: Mapping[str, Any] | None = None,
    slices: Any = None,
    metric: str | Callable = "accuracy",
    random_state: int | None = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    errors: str = "raise",
    progress: bool | None = None,
    progress_bar: Any = UNSET,
    selection_split: float | None = None,
    **common_params: Any,
) -> ComparisonTable:
    """Run every chosen strategy (default: every strategy the model supports) on the same
    training set with the same seed, and score each on every eval set and slice.

    ``do_nothing`` is always included. ``common_params`` (``epochs=``, ``lr=``, ...) go to every
    strategy that takes them; ``params={"continue_new": {"replay": 0.2}}`` to one strategy.
    ``errors="record"`` keeps going when a strategy cannot run on this data (a curakit
    ``StrategyError`` / ``DataError``): its row has no scores and the message in ``error``.

    Two baselines are always in the table: ``do_nothing`` (the incumbent) and ``naive`` (the same
    strategy family, ``continue_all`` or else ``scratch_all``, on the plain old + new rows of ``ts``:
    no fills, replay or weights, see :mod:`curate._naive`). ``vs_naive:<set>`` is each strategy's
    accuracy minus naive's on the same rows, with a 95% paired-bootstrap interval in
    ``vs_naive:<set>:low`` / ``:high``. ``progress=`` draws a progress bar (``progress_bar=`` is the
    old name).

    ``selection_split=0.5`` holds that share of each eval set's rows apart (stratified by label,
    seeded by ``random_state``) as ``select_<set>``: the ``<set>`` columns, the results'
    predictions and so the gate then see only the scoring part, and :meth:`ComparisonTable.best`
    picks on the selection part, so a pick is not judged on the rows it was made on (see
    :attr:`ComparisonTable.selection`, :meth:`ComparisonTable.scoring_sets`). Default None: no
    split (as before).
    """
    show = renamed("compare_strategies", "progress_bar", "progress", progress_bar, progress)
    _check_model(model)
    if errors not in ("raise", "record"):
        raise ParameterError(
            f"The 'errors' parameter of compare_strategies must be 'raise' or 'record'. Got {errors!r} instead."
        )
    names = _strategy_names(model, strategies)
    selection: dict[str, Any] = {}
    if selection_split is not None:
        eval_sets, slices, selection = _split_eval_sets(eval_sets, slices, ts.target, selection_split, random_state)
    params = dict(params or {})
    _check_compare_params(names, params, common_params)
    results: dict[str, RetrainResult] = {}
    failed: dict[str, str] = {}
    for name in progress_iter(names, desc="strategies", total=len(names), enabled=show, unit="strategy"):
        allowed = STRATEGIES.meta(name)["params"]
        kw = {k: v for k, v in common_params.items() if k in allowed}
        kw.update(params.get(name, {}))
        try:
            results[name] = retrain(model, ts, strategy=name, eval_sets=eval_sets, slices=slices, metric=metric,
                                    random_state=random_state, **kw)
        except (StrategyError, DataError) as exc:
            if errors == "raise" or name == "do_nothing":
                raise
            failed[name] = str(exc)
            logger.warning("compare: %s cannot run on this data: %s", name, exc)
            continue
        logger.info("compare: %r", results[name])
    _run_naive(model, ts, results, failed, eval_sets=eval_sets, slices=slices, metric=metric,
               random_state=random_state, common_params=common_params)
    table = _table([*names, "naive"], results, failed)
    return dataclasses.replace(table, slice_names=_slice_names(slices), selection=selection)


def _labels_of(value: Any, target: str) -> Any:
    if isinstance(value, pd.DataFrame):
        if target not in value.columns:
            raise DataError(f"An eval set lacks the target column {target!r}. Pass a DataFrame with the target column.")
        return value[target].to_numpy()
    if isinstance(value, Mapping) and "labels" in value:
        return value["labels"]
    if isinstance(value, tuple) and len(value) == 2:
        return value[1]
    raise DataError("compare_strategies(selection_split=...) needs eval sets as DataFrames with the target column, "
                    f"(images, labels) tuples or {{'images', 'labels'}} mappings. Got {type(value).__name__} instead.")


def _rows_of(value: Any, rows: Any) -> Any:
    """Rows ``rows`` (positions) of an eval set, in the same form."""
    import numpy as np

    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(value, pd.DataFrame):
        return value.iloc[rows].reset_index(drop=True)
    if isinstance(value, Mapping):
        return {**value, "images": np.asarray(value["images"])[rows], "labels": np.asarray(value["labels"])[rows]}
    return (np.asarray(value[0])[rows], np.asarray(value[1])[rows])


def _split_eval_sets(eval_sets: Any, slices: Any, target: str, fraction: float,
                     random_state: Any) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """Each eval set as its scoring part (same name) and its selection part (``select_<name>``);
    mask slices split the same way; the rows record for :attr:`ComparisonTable.selection`."""
    import numpy as np

    if not isinstance(eval_sets, Mapping) or not eval_sets:
        raise ParameterError("compare_strategies(selection_split=...) needs eval_sets={'old': ..., 'new': ...}.")
    seed = random_state if isinstance(random_state, int) else 0
    out: dict[str, Any] = {}
    rows: dict[str, dict[str, list[int]]] = {}
    for k, (name, value) in enumerate(eval_sets.items()):
        if str(name).startswith(SELECT):
            raise ParameterError(f"Eval set {name!r} starts with {SELECT!r}, which names selection parts. Rename it.")
        sel, score = selection_rows(_labels_of(value, target), fraction, seed + 7919 * k)
        out[name], out[f"{SELECT}{name}"] = _rows_of(value, score), _rows_of(value, sel)
        rows[str(name)] = {"select": [int(i) for i in sel], "score": [int(i) for i in score]}
    if isinstance(slices, Mapping):
        split = {}
        for sid, per_set in slices.items():
            split[sid] = {}
            for name, mask in (per_set.items() if isinstance(per_set, Mapping) else ()):
                mask = np.asarray(mask, dtype=bool)
                if name in rows and mask.shape == (len(rows[name]["select"]) + len(rows[name]["score"]),):
                    split[sid][name] = mask[rows[name]["score"]]
                    split[sid][f"{SELECT}{name}"] = mask[rows[name]["select"]]
                else:  # retrain names the problem (unknown set, wrong length)
                    split[sid][name] = mask
        slices = split
    return out, slices, {"fraction": float(fraction), "random_state": seed, "rows": rows}


def _slice_names(slices: Any) -> dict[str, str]:
    """Slice id -> description for ``Slice``-like objects; a mapping's keys name themselves."""
    if slices is None:
        return {}
    if isinstance(slices, Mapping):
        return {str(k): str(k) for k in slices}
    return {str(s.id): str(getattr(s, "description", s.id)) for s in slices if hasattr(s, "id")}


def _run_naive(model: Any, ts: Any, results: dict[str, RetrainResult], failed: dict[str, str], *,
               common_params: Mapping[str, Any], **kw: Any) -> None:
    """The ``naive`` row: the model family's all-data strategy on the plain old + new rows."""
    strategy = naive_strategy(model)
    if strategy is None:
        failed["naive"] = "no naive baseline: the model supports neither continue_all nor scratch_all"
        return
    allowed = STRATEGIES.meta(strategy)["params"]
    params = {k: v for k, v in common_params.items() if k in allowed and k not in NAIVE_GUARDS}
    try:
        results["naive"] = retrain(model, naive_training_set(ts), strategy=strategy, **kw, **params)
    except (StrategyError, DataError) as exc:
        failed["naive"] = str(exc)
        logger.warning("compare: the naive baseline cannot run on this data: %s", exc)


def _strategy_names(model: Any, strategies: Sequence[str] | None) -> list[str]:
    """The strategies to compare, checked, ``do_nothing`` first, each once."""
    names = [n for n in (supported_strategies(model) if strategies is None else strategies) if n != "naive"]
    if strategies is not None and not names and "naive" in strategies:
        names = ["do_nothing"]
    if not names and strategies is not None:
        raise ParameterError("The 'strategies' parameter of compare_strategies must name at least one strategy.")
    for name in names:
        check_strategy(model, name)
    if "do_nothing" not in names:
        names.insert(0, "do_nothing")
    return list(dict.fromkeys(names))


def _check_compare_params(names: list[str], params: Mapping[str, Any], common_params: Mapping[str, Any]) -> None:
    for name in params:
        if name not in names:
            raise ParameterError(f"params names strategy {name!r}, which is not compared ({', '.join(names)}).")
    accepted = {p for n in names for p in STRATEGIES.meta(n)["params"]}
    for key in common_params:
        if key not in accepted:
            from curakit.plugins import did_you_mean

            raise ParameterError(
                f"No compared strategy takes the parameter {key!r}.{did_you_mean(key, sorted(accepted))}"
            )


def _table(names: list[str], results: dict[str, RetrainResult], failed: dict[str, str]) -> ComparisonTable:
    """One row per strategy: scores per eval set, forgetting, gain on new, slices (or the error)."""
    first = next(iter(results.values()))
    metric_name = first.metric
    base = results["do_nothing"].metrics
    rows = []
    set_names = [k for k in first.metrics if k != "slices"]
    for name in names:
        if name in failed:
            rows.append({"strategy": name, "error": failed[name]})
            continue
        r = results[name]
        row: dict[str, Any] = {"strategy": name}
        for s in set_names:
            row[s] = r.metrics[s][metric_name]
        if "old" in set_names:
            row["forgetting"] = _diff(base["old"][metric_name], r.metrics["old"][metric_name])
        if f"{SELECT}old" in set_names:
            row["select_forgetting"] = _diff(base[f"{SELECT}old"][metric_name], r.metrics[f"{SELECT}old"][metric_name])
        if "new" in set_names:
            row["gain_new"] = _diff(r.metrics["new"][metric_name], base["new"][metric_name])
        row["train_time"] = r.train_time
        row["n_train"] = int(r.info.get("n_train", 0))
        for sid, per_set in r.metrics.get("slices", {}).items():
            for s, m in per_set.items():
                row[f"slice:{sid}:{s}"] = m[metric_name]
        for s, preds in r.predictions.items():  # the share of rows the update breaks
            base_p = r.baseline_predictions.get(s)
            if base_p is not None and len(base_p.y_true) == len(preds.y_true):
                row[f"negative_flips:{s}"] = float(((base_p.y_pred == base_p.y_true)
                                                    & (preds.y_pred != preds.y_true)).mean())
        row.update(naive_columns(results, name))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if failed:
        frame = frame[[c for c in frame.columns if c != "error"] + ["error"]]
    return ComparisonTable(frame=frame, results=results, metric=metric_name)


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else float(a) - float(b)
