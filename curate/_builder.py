"""``TrainingSetBuilder``: the next training set from old data, new data and augmented rows.

Every step is a chainable method that records what to do; :meth:`TrainingSetBuilder.build`
does it, in this order, with child seeds of one ``random_state``:

1. ``window``     keep rows in a time window (fixed, or searched on the latest data);
2. ``mix``        all new rows + a fraction ``alpha`` of the old rows (fixed or searched);
3. ``rehearse``   a replay buffer of old rows left out by 1-2;
4. ``add``        augmented / synthetic rows with their lineage;
5. ``exclude``    drop rows that duplicate (exactly or nearly) a row of an evaluation set;
6. ``dedup``      drop duplicates within the set, keeping new > old > replay > augmented;
7. ``recency``    recency weights (manifest ``weight``);
8. ``split``      a validation split that keeps every parent with its generated children;
9. ``preprocess`` a scikit-learn pipeline fitted on the ``train`` rows only.

The hot path is vectorised (no Python object per row): a build over 10M rows costs a few
column takes, one hash per column and one string column of row ids.
"""

from __future__ import annotations

import copy
import functools
import logging
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.seeds import child_seed, resolve_seed
from curakit.validation import check_choice

from ._build import inputs as _inputs
from ._build import steps as _steps
from ._build.add import augmented_source
from ._build.search import Scorer, is_classification
from ._build.sources import OWNER
from ._build.sources import Source as _Source
from ._build.sources import check_fraction as _check_fraction
from ._build.sources import is_float as _is_float
from ._build.sources import is_image_source as _is_image_source
from ._dask import build as _dask_build
from ._dask.inputs import is_dask_input as _is_dask_input
from ._trainingset import TrainingSet
from ._windows import WindowSpec, _make_window, parse_window

__all__ = ["TrainingSetBuilder"]

logger = logging.getLogger(__name__)

REHEARSE_HOW = ("random", "class_balanced", "nearest")
SPLIT_HOW = ("random", "latest")
DEFAULT_ALPHA_GRID = (0.0, 0.1, 0.25, 0.5, 1.0)
INFO_VERSION = 1


@dataclass
class _Plan:
    window: dict[str, Any] | None = None
    mix: dict[str, Any] | None = None
    rehearse: dict[str, Any] | None = None
    recency: dict[str, Any] | None = None
    dedup: dict[str, Any] | None = None
    split: dict[str, Any] | None = None
    preprocess: dict[str, Any] | None = None
    eval_sets: dict[str, Any] = field(default_factory=dict)
    exclude_tolerance: float = 0.0
    added: list[_Source] = field(default_factory=list)


class TrainingSetBuilder:
    """Build the next training set from ``old`` and ``new`` data.

    Parameters
    ----------
    old, new : DataFrames (tabular), or image sets: a tuple ``(images, labels)`` or a mapping
        ``{"images": uint8 (n, H, W, C), "labels" (or the target key): ..., "time": optional}``.
    target : the label column (tabular) / the name of the label column in the training set
        (images; a mapping may hold the labels under this key).
    time : the time column (tabular) or key (images; ``"time"`` is used when a mapping has it).
        Parsed with pandas (dates) or used as numbers. Without it, "time" is the arrival order:
        old rows, then new rows.
    features : feature columns (tabular); default every column but the target and time.
    eval_sets : evaluation sets whose rows must not leak into training (see :meth:`exclude`).
    storage_options : fsspec options (credentials, endpoint) for URL inputs such as ``"s3://bucket/old/"``
        on the Dask engine; default: the open engine's (:func:`curate.open_engine`), else the
        filesystem's own environment.

    Inputs are validated here, so bad data fails before any work.

    ``old`` / ``new`` may also be Dask DataFrames or paths of Parquet datasets (a file, or a
    folder such as a hive-partitioned ``date=.../part.parquet`` tree): the build then runs
    partition-wise on Dask (see :func:`curate.open_engine`) and selects the same rows.
    """

    def __init__(
        self,
        old: Any,
        new: Any,
        *,
        target: str,
        time: str | None = None,
        features: Sequence[str] | None = None,
        eval_sets: Any = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(target, str) or not target:
            raise ParameterError(f"The 'target' parameter of {OWNER} must be a column name (str). Got {target!r} instead.")
        if time is not None and (not isinstance(time, str) or time == target):
            raise ParameterError(
                f"The 'time' parameter of {OWNER} must be a column name (str) other than the target. Got {time!r} instead."
            )
        self.target = target
        self.engine = "pandas"
        if _is_dask_input(old) or _is_dask_input(new):
            _dask_build.dask_init(self, old, new, time, features, storage_options=storage_options)
            self._plan = _Plan()
            if eval_sets is not None:
                self.exclude(eval_sets)
            return
        if storage_options is not None:
            raise ParameterError(
                f"The 'storage_options' parameter of {OWNER} applies to URL inputs (s3://, gs://, ...) on the Dask engine. "
                "Drop it for in-memory data."
            )
        self.kind = "images" if _is_image_source(old) else "tabular"
        if _is_image_source(new) != (self.kind == "images"):
            raise DataError(
                f"old is {'an image set' if self.kind == 'images' else 'a table'} but new is not. "
                "Pass two DataFrames or two image sets."
            )
        if self.kind == "tabular":
            self.old, self.new = self._tabular_sources(old, new, time, features)
        else:
            if features is not None:
                raise ParameterError(f"The 'features' parameter of {OWNER} applies to tables, not image sets.")
            self.features = []
            self.time = None
            self.old = self._image_source(old, "old", time)
            self.new = self._image_source(new, "new", time)
            if self.old.images.shape[1:] != self.new.images.shape[1:]:
                raise DataError(
                    f"old images are shaped {self.old.images.shape[1:]} but new images {self.new.images.shape[1:]}. "
                    "Resize them to one shape first."
                )
            if (self.old.time_values is None) != (self.new.time_values is None):
                raise DataError("Only one of old / new has a time key. Give both a 'time' entry, or neither.")
            self.time = time or ("time" if self.old.time_values is not None else None)
        self._axis = self._make_axis()
        self._classification = is_classification(pd.concat([self.old.frame[target], self.new.frame[target]]))
        self._plan = _Plan()
        if eval_sets is not None:
            self.exclude(eval_sets)

    # -- input parsing (curate._build.inputs) -------------------------------------------------
    _tabular_sources = _inputs.tabular_sources
    _image_source = _inputs.image_source
    _make_axis = _inputs.make_axis
    _eval_sets = _inputs.eval_sets
    _near = _inputs.near

    # -- chainable steps ------------------------------------------------------------------------
    def window(
        self,
        spec: Any = None,
        *,
        last: Any = None,
        last_n: int | None = None,
        start: Any = None,
        end: Any = None,
        candidates: Sequence[Any] | None = None,
        model: Any = None,
        score: Callable[..., float] | None = None,
        holdout: float = 0.2,
        max_rows: int = 20_000,
    ) -> TrainingSetBuilder:
        """Keep the rows of old and new inside a time window.

        ``window(last="180D")`` (the latest 180 days; a number for numeric time), ``window("180D")``
        (the same), ``window(last_n=5000)`` (the 5000 latest rows), ``window(start=, end=)``
        (inclusive). ``window("auto", candidates=[...])`` tries each candidate (a duration, a dict
        such as ``{"last_n": 5000}``, or None for all rows) by training on the window ending just
        before the latest ``holdout`` fraction of new rows and testing on them; the best score
        wins (ties: the first candidate), and every score is recorded in ``ts.info["window"]``.
        """
        method = "window"
        if spec == "auto":
            if any(v is not None for v in (last, last_n, start, end)):
                raise ParameterError(f"{OWNER}.window('auto') searches candidates=; do not pass last/last_n/start/end too.")
            cands = self._default_candidates() if candidates is None else [parse_window(c, f"{OWNER}.window") for c in candidates]
            if not cands:
                raise ParameterError(f"The 'candidates' parameter of {OWNER}.window must list at least one window.")
            for c in cands:
                c.validate(self._axis, f"{OWNER}.window")
            holdout = _check_fraction(holdout, "holdout", method, low_open=True, high_open=True)
            scorer = Scorer(kind=self.kind, features=self.features, classification=self._classification, model=model,
                            score=score, owner=f"{OWNER}.window")
            self._plan.window = {"mode": "auto", "candidates": cands, "scorer": scorer, "holdout": holdout,
                                 "max_rows": self._check_max_rows(max_rows, method)}
            return self
        if candidates is not None or model is not None or score is not None:
            raise ParameterError(f"candidates=, model= and score= apply to {OWNER}.window('auto') only.")
        if spec is not None:
            if last is not None:
                raise ParameterError(f"{OWNER}.window takes the window once: pass window('180D') or window(last='180D').")
            if isinstance(spec, str) or _is_float(spec):
                last = spec
            else:
                raise ParameterError(
                    f"The first parameter of {OWNER}.window must be 'auto' or a duration such as '180D'. Got {spec!r} instead."
                )
        w = _make_window(f"{OWNER}.window", last=last, last_n=last_n, start=start, end=end)
        if w.is_all:
            raise ParameterError(f"{OWNER}.window needs last=, last_n=, start=/end= or 'auto'.")
        w.validate(self._axis, f"{OWNER}.window")
        if self._axis.kind == "order" and (w.start is not None or w.end is not None):
            raise ParameterError(
                f"{OWNER}.window(start=, end=) needs a time column: pass time= to {OWNER}, or use last_n=."
            )
        self._plan.window = {"mode": "fixed", "spec": w}
        return self

    def _default_candidates(self) -> list[WindowSpec]:
        n = len(self.old) + len(self.new)
        if self._axis.kind == "datetime":
            return [WindowSpec(last=d) for d in ("30D", "90D", "180D", "365D", "730D")] + [WindowSpec()]
        return [WindowSpec(last_n=max(1, int(n * f))) for f in (0.1, 0.25, 0.5)] + [WindowSpec()]

    def _check_max_rows(self, max_rows: Any, method: str) -> int:
        if not isinstance(max_rows, numbers.Integral) or isinstance(max_rows, bool) or max_rows < 10:
            raise ParameterError(
                f"The 'max_rows' parameter of {OWNER}.{method} must be an int in the range [10, inf). Got {max_rows!r} instead."
            )
        return int(max_rows)

    def mix(
        self,
        alpha: float | str = 1.0,
        *,
        stratify: bool = False,
        grid: Sequence[float] | None = None,
        model: Any = None,
        score: Callable[..., float] | None = None,
        holdout: float = 0.2,
        max_rows: int = 20_000,
    ) -> TrainingSetBuilder:
        """All new rows plus a fraction ``alpha`` of the old rows (of those inside the window).

        The old rows are sampled without replacement with the build's seed; ``stratify=True``
        samples ``alpha`` of each class. ``alpha="auto"`` holds out the latest ``holdout``
        fraction of new rows, trains on the rest of the new rows plus ``alpha`` of the old rows
        for each ``alpha`` in ``grid`` (default 0, 0.1, 0.25, 0.5, 1) and keeps the best
        (ties: the smallest alpha); grid and scores go to ``ts.info["mix"]``.
        """
        method = "mix"
        if alpha == "auto":
            grid = list(DEFAULT_ALPHA_GRID if grid is None else grid)
            if not grid:
                raise ParameterError(f"The 'grid' parameter of {OWNER}.mix must list at least one alpha.")
            grid = sorted({_check_fraction(a, "alpha", method) for a in grid})
            holdout = _check_fraction(holdout, "holdout", method, low_open=True, high_open=True)
            scorer = Scorer(kind=self.kind, features=self.features, classification=self._classification, model=model,
                            score=score, owner=f"{OWNER}.mix")
            self._plan.mix = {"mode": "auto", "grid": grid, "scorer": scorer, "holdout": holdout,
                              "stratify": bool(stratify), "max_rows": self._check_max_rows(max_rows, method)}
            return self
        if isinstance(alpha, str) or not _is_float(alpha) or not 0.0 <= alpha <= 1.0:
            extra = " or 'auto'" if isinstance(alpha, str) else ""
            raise ParameterError(
                f"The 'alpha' parameter of {OWNER}.mix must be a float in the range [0.0, 1.0]{extra}. Got {alpha!r} instead."
            )
        if grid is not None or model is not None or score is not None:
            raise ParameterError(f"grid=, model= and score= apply to {OWNER}.mix(alpha='auto') only.")
        self._plan.mix = {"mode": "fixed", "alpha": float(alpha), "stratify": bool(stratify)}
        return self

    def rehearse(
        self, n: int | None = None, *, fraction: float | None = None, how: str = "random", max_candidates: int = 200_000
    ) -> TrainingSetBuilder:
        """A replay buffer: ``n`` old rows (or ``fraction`` of the old rows) left out by window/mix.

        ``how="random"`` samples uniformly; ``"class_balanced"`` takes equal numbers per class
        (classes short of rows give their share to the others); ``"nearest"`` takes the old rows
        nearest to the new data (standardised features / 8x8 pixels; at most ``max_candidates``
        old rows are considered, sampled with the seed; nearness is measured to at most 20,000 new
        rows of the window, sampled with the seed; ties go to the lower old position). On the Dask
        engine the same rows are picked partition-wise: only those anchor rows' features and, per
        old partition, its ``n`` nearest (distance, position) pairs reach the client.
        """
        check_choice(how, "how", f"{OWNER}.rehearse", REHEARSE_HOW)
        if (n is None) == (fraction is None):
            raise ParameterError(f"{OWNER}.rehearse takes one of n= or fraction=.")
        if n is not None and (not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1):
            raise ParameterError(f"The 'n' parameter of {OWNER}.rehearse must be an int in the range [1, inf). Got {n!r} instead.")
        if fraction is not None:
            fraction = _check_fraction(fraction, "fraction", "rehearse", low_open=True)
        self._plan.rehearse = {"n": None if n is None else int(n), "fraction": fraction, "how": how,
                               "max_candidates": self._check_max_rows(max_candidates, "rehearse")}
        return self

    def recency(self, half_life: Any) -> TrainingSetBuilder:
        """Recency weights: ``weight = 0.5 ** (age / half_life)``, age measured back from the latest
        time of old and new (a duration such as ``"90D"``; a number for numeric time or, without
        a time column, a number of rows). Augmented rows take their parent's age."""
        self._axis.span(half_life, f"{OWNER}.recency", "half_life")
        self._plan.recency = {"half_life": half_life}
        return self

    def dedup(self, near: bool | float = False) -> TrainingSetBuilder:
        """Drop duplicate rows (exact; or near duplicates with ``near=True`` / a tolerance, see
        :mod:`augment._dedup`), keeping the first by priority new > old > replay > augmented."""
        self._plan.dedup = {"tolerance": self._near(near, "dedup")}
        return self

    def exclude(self, eval_sets: Any, *, near: bool | float = False) -> TrainingSetBuilder:
        """No leakage: drop training rows that duplicate (exactly, or nearly with ``near``) a row
        of an evaluation set (features for tables, pixels for images). Counts go to ``ts.info``."""
        self._plan.eval_sets.update(self._eval_sets(eval_sets))
        self._plan.exclude_tolerance = self._near(near, "exclude")
        return self

    def split(self, validation: float = 0.1, *, how: str = "random") -> TrainingSetBuilder:
        """Mark a ``validation`` fraction of rows ``"val"`` (``how="random"`` or the ``"latest"``
        rows). Generated rows stay on the side of their root parent (a group split)."""
        validation = _check_fraction(validation, "validation", "split", low_open=True, high_open=True)
        check_choice(how, "how", f"{OWNER}.split", SPLIT_HOW)
        self._plan.split = {"validation": validation, "how": how}
        return self

    def preprocess(self, steps: Any = None, *, impute: str = "median", scale: bool = True) -> TrainingSetBuilder:
        """Fit preprocessing on the ``train`` rows only; stored as ``ts.preprocessor`` (saved as JSON).

        ``steps=None``: numeric features imputed (``impute``: "mean" / "median") and standardised
        (``scale``), other features imputed and one-hot encoded. Or pass an unfitted scikit-learn
        transformer built from SimpleImputer / StandardScaler / MinMaxScaler / OneHotEncoder in a
        Pipeline / ColumnTransformer.
        """
        if self.kind != "tabular":
            raise ParameterError(f"{OWNER}.preprocess applies to tables; image sets are scaled by the model's transform.")
        check_choice(impute, "impute", f"{OWNER}.preprocess", ("mean", "median"))
        if steps is not None and not (hasattr(steps, "fit") and hasattr(steps, "transform")):
            raise ParameterError(
                f"The 'steps' parameter of {OWNER}.preprocess must be a scikit-learn transformer or None. "
                f"Got {type(steps).__name__} instead."
            )
        self._plan.preprocess = {"steps": steps, "impute": impute, "scale": bool(scale)}
        return self

    def add(self, augmented: Any, *, parents: str = "old", prefix: str | None = None) -> TrainingSetBuilder:
        """Rows from augment with their lineage.

        ``augmented``: an ``augment.AugmentedSet`` (``.images`` or ``.X``, ``.labels``,
        ``.manifest`` with a ``parent`` column) or the ``(X2, y2, prov)`` tuple of
        ``augment.oversample`` (only its synthetic rows are taken). Parent positions refer to
        the ``parents`` data ("old", "new", or "old+new": old then new concatenated, in that
        order) as given to this builder and become row ids ``"old:<pos>"`` / ``"new:<pos>"``;
        ``parents="ids"``: the manifest's ``parent_ids`` already hold such row ids (old and new mixed). ``prefix`` renames the row ids ``"<prefix>:<id>"``
        (to add two sets whose ids clash).
        """
        check_choice(parents, "parents", f"{OWNER}.add", ("old", "new", "old+new", "ids"))
        if prefix is not None and (not isinstance(prefix, str) or not prefix or prefix in ("old", "new")):
            raise ParameterError(f"The 'prefix' parameter of {OWNER}.add must be a non-empty str other than 'old'/'new'. Got {prefix!r}.")
        src = augmented_source(self, augmented, parents, prefix, len(self._plan.added))
        self._plan.added.append(src)
        return self

    # -- build -----------------------------------------------------------------------------------
    def build(self, random_state: int | np.random.Generator | None = 0) -> TrainingSet:
        """Do the recorded steps and return the :class:`TrainingSet` (data + manifest + info).

        On Dask inputs (Dask DataFrames or Parquet paths) the result is a lazy
        ``DaskTrainingSet`` holding exactly the rows the pandas engine would select; its
        ``save(dir)`` computes on the cluster and writes partitioned Parquet."""
        if self.engine == "dask":
            return _dask_build.dask_build(self, random_state)
        seed = resolve_seed(random_state, f"{OWNER}.build")
        _release_arrow_memory()
        seeds = {k: child_seed(seed, k) for k in ("window", "mix", "rehearse", "split")}
        info: dict[str, Any] = {
            "schema_version": INFO_VERSION,
            "random_state": seed,
            "seeds": seeds,
            "kind": self.kind,
            "task": "classification" if self._classification else "regression",
            "sources": {"old": {"rows": len(self.old)}, "new": {"rows": len(self.new)}},
            "time_axis": self._axis.kind,
        }
        old_in, new_in, win_desc, info["window"] = self._do_window(seeds["window"])
        old_in, mix_desc, info["mix"] = self._do_mix(old_in, new_in, seeds["mix"])
        replay, info["rehearse"] = self._do_rehearse(old_in, new_in, seeds["rehearse"])

        # blocks in dedup priority order: new > old > replay > augmented
        blocks: list[tuple[str, _Source, np.ndarray]] = [("new", self.new, new_in), ("old", self.old, old_in)]
        if replay is not None:
            blocks.append(("replay", self.old, replay))
        for src in self._plan.added:
            blocks.append((src.name, src, np.arange(len(src), dtype=np.int64)))
        info["augmented"] = [
            {"name": src.name, "rows": len(src), "parents": src.parents,
             "operations": sorted(map(str, src.manifest["operation"].unique()))}
            for src in self._plan.added
        ]
        keep, info["leakage"], info["dedup"] = self._do_filters(blocks)
        blocks = [(name, src, rows[k]) for (name, src, rows), k in zip(blocks, keep)]
        if sum(len(r) for _, _, r in blocks) == 0:
            raise DataError("The training set is empty after the window, mix, leakage and dedup steps. Widen the window.")

        order = {"old": 0, "replay": 1, "new": 2}
        blocks.sort(key=lambda b: order.get(b[0], 3))  # output order: old, replay, new, augmented
        frame, images = self._assemble(blocks)
        manifest = self._manifest(blocks, win_desc, mix_desc, seeds)
        manifest["weight"], info["recency"] = self._weights(blocks)
        split, info["split"] = self._do_split(blocks, manifest, seeds["split"])
        manifest["split"] = pd.Categorical.from_codes(split.astype(np.int8), categories=["train", "val"])
        pre, info["preprocess"] = self._fit_preprocess(frame, split == 0)
        info["counts"] = {
            "rows": int(len(frame)),
            "by_origin": {str(k): int(v) for k, v in manifest["origin"].value_counts(sort=False).items() if v},
            "by_reason": {str(k): int(v) for k, v in manifest["reason"].value_counts(sort=False).items() if v},
            "val": int(split.sum()),
        }
        ts = TrainingSet(
            kind=self.kind, target=self.target, frame=frame, manifest=manifest, images=images,
            features=list(self.features), time=self.time, preprocessor=pre, info=info,
            naive_rows=self._naive_rows(seed),
        )
        logger.info("built %r", ts)
        return ts

    def naive(self) -> TrainingSetBuilder:
        """A builder of the ``naive`` baseline's rows: the same sources with only the steps a plain
        "retrain on old + new" keeps (leakage exclusion against the eval sets, the split, the
        preprocessing); no window, mix, replay, fills, dedup or recency weights."""
        twin = copy.copy(self)
        plan = self._plan
        twin._plan = _Plan(split=plan.split, preprocess=plan.preprocess, eval_sets=dict(plan.eval_sets),
                           exclude_tolerance=plan.exclude_tolerance)
        return twin

    def _naive_rows(self, seed: int):
        """What ``TrainingSet.naive_rows`` calls: None when the set already holds every row."""
        plan = self._plan
        if not any((plan.window, plan.mix, plan.rehearse, plan.dedup, plan.recency, plan.added)):
            return None
        return functools.partial(self.naive().build, random_state=seed)  # picklable, unlike a lambda

    # -- the build steps (curate._build.steps) ---------------------------------------------
    _span_desc = _steps.span_desc
    _do_window = _steps.do_window
    _rows_xy = _steps.rows_xy
    _cap = _steps.cap
    _holdout_split = _steps.holdout_split
    _search_window = _steps.search_window
    _alpha_sample = _steps.alpha_sample
    _do_mix = _steps.do_mix
    _search_alpha = _steps.search_alpha
    _do_rehearse = _steps.do_rehearse
    _class_balanced = _steps.class_balanced
    _design = _steps.design
    _nearest = _steps.nearest
    _take = _steps.take
    _block_keys = _steps.block_keys
    _do_filters = _steps.do_filters
    _assemble = _steps.assemble
    _manifest = _steps.manifest
    _weights = _steps.weights
    _do_split = _steps.do_split
    _fit_preprocess = _steps.fit_preprocess


def _release_arrow_memory() -> None:
    """Give back memory the Arrow pool holds but no longer uses (reading Parquet with pandas can
    leave about the data's size behind), before the build allocates its output."""
    import sys

    pa = sys.modules.get("pyarrow")
    if pa is not None:
        try:
            pa.default_memory_pool().release_unused()
        except Exception:  # pragma: no cover - best effort; older pyarrow lacks release_unused
            logger.debug("pyarrow memory pool could not release unused memory")
