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

import logging
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from augment import LINEAGE_COLUMNS
from curakit import dedup as _dedup
from curakit.exceptions import DataError, ParameterError
from curakit.seeds import child_seed, resolve_seed
from curakit.validation import check_choice, check_images

from ._build_add import augmented_source
from ._build_manifest import categorical, count_by, parent_groups
from ._build_search import Scorer, downsample_pixels, is_classification
from ._build_sources import OWNER
from ._build_sources import Source as _Source
from ._build_sources import check_fraction as _check_fraction
from ._build_sources import check_labels as _check_labels
from ._build_sources import is_float as _is_float
from ._build_sources import is_image_source as _is_image_source
from ._trainingset import TrainingSet
from ._windows import TimeAxis, WindowSpec, _make_window, parse_time, parse_window

__all__ = ["TrainingSetBuilder"]

logger = logging.getLogger(__name__)

REHEARSE_HOW = ("random", "class_balanced", "nearest")
SPLIT_HOW = ("random", "latest")
DEFAULT_ALPHA_GRID = (0.0, 0.1, 0.25, 0.5, 1.0)
NEAR_DEFAULT = {"tabular": 0.01, "images": 0.02}
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

    Inputs are validated here, so bad data fails before any work.
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
    ) -> None:
        if not isinstance(target, str) or not target:
            raise ParameterError(f"The 'target' parameter of {OWNER} must be a column name (str). Got {target!r} instead.")
        if time is not None and (not isinstance(time, str) or time == target):
            raise ParameterError(
                f"The 'time' parameter of {OWNER} must be a column name (str) other than the target. Got {time!r} instead."
            )
        self.target = target
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

    # -- input parsing ------------------------------------------------------------------------
    def _tabular_sources(self, old: Any, new: Any, time: str | None, features: Sequence[str] | None):
        for name, frame in (("old", old), ("new", new)):
            if not isinstance(frame, pd.DataFrame):
                raise DataError(
                    f"{name} must be a DataFrame (tabular) or an image set (images, labels). "
                    f"Got {type(frame).__name__} instead."
                )
            if self.target not in frame.columns:
                raise DataError(
                    f"The target column {self.target!r} is not in {name} ({frame.shape[1]} columns). "
                    "Pass target= naming the label column."
                )
            if time is not None and time not in frame.columns:
                raise DataError(
                    f"The time column {time!r} is not in {name} ({frame.shape[1]} columns). "
                    "Pass time= naming the time column, or time=None."
                )
        if features is None:
            if set(old.columns) != set(new.columns):
                only_old = sorted(map(str, set(old.columns) - set(new.columns)))
                only_new = sorted(map(str, set(new.columns) - set(old.columns)))
                raise DataError(
                    f"old and new have different columns (only in old: {only_old}; only in new: {only_new}). "
                    "Pass the same columns in both, or choose them with features=."
                )
            features = [c for c in old.columns if c != self.target and c != time]
        else:
            features = list(features)
            for name, frame in (("old", old), ("new", new)):
                absent = [str(c) for c in features if c not in frame.columns]
                if absent:
                    raise DataError(f"Feature column(s) {absent} are not in {name}. Pass features= naming columns of both.")
            if self.target in features or (time is not None and time in features):
                raise ParameterError(f"The 'features' parameter of {OWNER} must not include the target or time column.")
        if not features:
            raise DataError(f"{OWNER} found no feature columns besides the target and time. Pass features=.")
        if len(set(features)) != len(features):
            raise DataError("The feature columns are not unique. Give each column one name.")
        self.features = features
        self.time = time
        sources = []
        for name, frame in (("old", old), ("new", new)):
            _check_labels(frame[self.target], name, self.target)
            if len(frame) == 0:
                raise DataError(f"{name} has no rows. Pass at least one row of old and new data.")
            if time is not None:
                t, axis_kind, values = parse_time(frame[time], name, time)
            else:
                t, axis_kind, values = None, "order", None
            sources.append(_Source(name=name, frame=frame, images=None, t=t, time_values=values))
            sources[-1].axis_kind = axis_kind
        return sources

    def _image_source(self, obj: Any, name: str, time: str | None) -> _Source:
        times = None
        if isinstance(obj, Mapping):
            images = obj["images"]
            key = self.target if self.target in obj else "labels"
            if key not in obj:
                raise DataError(
                    f"The image set {name} has no labels: give a {self.target!r} or 'labels' entry beside 'images'."
                )
            labels = obj[key]
            tkey = time or "time"
            if time is not None and time not in obj:
                raise DataError(f"The time key {time!r} is not in {name}. Pass time= naming its time entry, or time=None.")
            times = obj.get(tkey)
        else:
            images, labels = obj[0], obj[1]
            times = obj[2] if len(obj) == 3 else None
        images = check_images(images, f"{name} images")
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(
                f"{name} images and labels differ in length (images={len(images)}, labels={labels.shape[0] if labels.ndim else 0}). "
                "Pass one label per image."
            )
        if len(images) == 0:
            raise DataError(f"{name} has no rows. Pass at least one image of old and new data.")
        frame = pd.DataFrame({self.target: labels})
        _check_labels(frame[self.target], name, self.target)
        src = _Source(name=name, frame=frame, images=images, t=None)
        if times is not None:
            times = pd.Series(np.asarray(times) if not isinstance(times, pd.Series) else times.to_numpy())
            if len(times) != len(images):
                raise DataError(
                    f"{name} images and times differ in length (images={len(images)}, time={len(times)}). "
                    "Pass one time per image."
                )
            src.t, src.axis_kind, src.time_values = parse_time(times, name, time or "time")
        return src

    def _make_axis(self) -> TimeAxis:
        kinds = {self.old.axis_kind, self.new.axis_kind}
        if len(kinds) > 1:
            raise DataError(
                f"The time column {self.time!r} holds dates in one source and numbers in the other. "
                "Give both the same kind of time."
            )
        kind = kinds.pop()
        if kind == "order":
            self.old.t = np.arange(len(self.old), dtype=np.int64)
            self.new.t = np.arange(len(self.old), len(self.old) + len(self.new), dtype=np.int64)
        return TimeAxis(kind)

    def _eval_sets(self, eval_sets: Any) -> dict[str, Any]:
        if isinstance(eval_sets, pd.DataFrame) or _is_image_source(eval_sets):
            items = {"eval": eval_sets}
        elif isinstance(eval_sets, Mapping):
            items = dict(eval_sets)
        elif isinstance(eval_sets, (list, tuple)):
            items = {f"eval_{k}": v for k, v in enumerate(eval_sets)}
        else:
            raise ParameterError(
                f"The 'eval_sets' parameter of {OWNER}.exclude must be a DataFrame, an image set, or a mapping "
                f"name -> one of those. Got {type(eval_sets).__name__} instead."
            )
        out = {}
        for name, value in items.items():
            if self.kind == "tabular":
                if not isinstance(value, pd.DataFrame):
                    raise DataError(f"Evaluation set {name!r} must be a DataFrame like old and new. Got {type(value).__name__}.")
                absent = [str(c) for c in self.features if c not in value.columns]
                if absent:
                    raise DataError(
                        f"Evaluation set {name!r} lacks feature column(s) {absent}. Pass rows with the training features."
                    )
                out[str(name)] = value[self.features]
            else:
                if not _is_image_source(value):
                    raise DataError(
                        f"Evaluation set {name!r} must be an image set (images, labels) or {{'images': ...}}. "
                        f"Got {type(value).__name__}."
                    )
                images = check_images(value["images"] if isinstance(value, Mapping) else value[0], f"eval set {name!r} images")
                if images.shape[1:] != self.old.images.shape[1:]:
                    raise DataError(
                        f"Evaluation set {name!r} images are shaped {images.shape[1:]} but training images "
                        f"{self.old.images.shape[1:]}. Resize them to one shape first."
                    )
                out[str(name)] = images
        return out

    def _near(self, near: Any, method: str) -> float:
        if near is False or near is None:
            return 0.0
        if near is True:
            return NEAR_DEFAULT[self.kind]
        hi = 1.0 if self.kind == "images" else np.inf
        if not _is_float(near) or not 0 < near <= hi:
            rng = "(0.0, 1.0]" if self.kind == "images" else "(0.0, inf)"
            raise ParameterError(
                f"The 'near' parameter of {OWNER}.{method} must be False, True or a tolerance in the range {rng}. "
                f"Got {near!r} instead."
            )
        return float(near)

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
        old rows are considered, sampled with the seed).
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
        the ``parents`` data ("old" or "new") as given to this builder and become row ids
        ``"old:<pos>"`` / ``"new:<pos>"``. ``prefix`` renames the row ids ``"<prefix>:<id>"``
        (to add two sets whose ids clash).
        """
        check_choice(parents, "parents", f"{OWNER}.add", ("old", "new"))
        if prefix is not None and (not isinstance(prefix, str) or not prefix or prefix in ("old", "new")):
            raise ParameterError(f"The 'prefix' parameter of {OWNER}.add must be a non-empty str other than 'old'/'new'. Got {prefix!r}.")
        src = augmented_source(self, augmented, parents, prefix, len(self._plan.added))
        self._plan.added.append(src)
        return self

    # -- build -----------------------------------------------------------------------------------
    def build(self, random_state: int | np.random.Generator | None = 0) -> TrainingSet:
        """Do the recorded steps and return the :class:`TrainingSet` (data + manifest + info)."""
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
        )
        logger.info("built %r", ts)
        return ts

    # -- window ------------------------------------------------------------------------------
    def _span_desc(self, t_sel: np.ndarray, spec: WindowSpec) -> str:
        if self._axis.kind == "order" or len(t_sel) == 0:
            return spec.label()
        return f"{self._axis.format(t_sel.min())}..{self._axis.format(t_sel.max())}"

    def _do_window(self, seed: int):
        plan = self._plan.window
        all_old = np.arange(len(self.old), dtype=np.int64)
        all_new = np.arange(len(self.new), dtype=np.int64)
        if plan is None:
            return all_old, all_new, None, None
        owner = f"{OWNER}.window"
        t_all = np.concatenate([self.old.t, self.new.t])
        info: dict[str, Any]
        if plan["mode"] == "auto":
            spec, info = self._search_window(plan, t_all, seed)
        else:
            spec = plan["spec"]
            info = {"mode": "fixed"}
        m = spec.mask(t_all, self._axis, owner)
        n_old = len(self.old)
        old_in, new_in = np.flatnonzero(m[:n_old]), np.flatnonzero(m[n_old:])
        if len(old_in) + len(new_in) == 0:
            raise DataError(f"window({spec.label()}) selects no rows of old or new data. Widen the window or check the time column.")
        desc = self._span_desc(t_all[m], spec)
        info.update({"window": spec.label(), "spec": spec.to_dict(), "span": desc,
                     "rows": {"old": int(len(old_in)), "new": int(len(new_in))}})
        return old_in, new_in, desc, info

    def _rows_xy(self, parts: list[tuple[_Source, np.ndarray]]):
        y = np.concatenate([src.frame[self.target].to_numpy()[rows] for src, rows in parts])
        if self.kind == "images":
            return np.concatenate([src.images[rows] for src, rows in parts]), y
        X = pd.concat([src.frame[self.features].iloc[rows] for src, rows in parts], ignore_index=True)
        return X, y

    def _cap(self, parts: list[tuple[_Source, np.ndarray]], max_rows: int, rng: np.random.Generator):
        total = sum(len(r) for _, r in parts)
        if total <= max_rows:
            return parts
        pick = np.zeros(total, dtype=bool)
        pick[rng.choice(total, size=max_rows, replace=False)] = True
        out, at = [], 0
        for src, rows in parts:
            out.append((src, rows[pick[at : at + len(rows)]]))
            at += len(rows)
        return out

    def _holdout_split(self, rows: np.ndarray, t: np.ndarray, holdout: float, method: str):
        """(train rows, test rows): the latest ``holdout`` fraction of ``rows`` by time is the test."""
        k = int(round(holdout * len(rows)))
        if len(rows) < 2 or k < 1 or k >= len(rows):
            raise DataError(
                f"{OWNER}.{method} search needs new rows to hold out: {len(rows)} new row(s) with holdout={holdout}. "
                "Pass more new data or a larger holdout."
            )
        order = np.argsort(t[rows], kind="stable")
        return np.sort(rows[order[:-k]]), np.sort(rows[order[-k:]])

    def _search_window(self, plan: dict[str, Any], t_all: np.ndarray, seed: int):
        owner = f"{OWNER}.window"
        n_old = len(self.old)
        _, test_new = self._holdout_split(np.arange(len(self.new)), self.new.t, plan["holdout"], "window")
        rng = np.random.default_rng(seed)
        pool = np.ones(len(t_all), dtype=bool)
        pool[n_old + test_new] = False
        ref = t_all[pool].max()
        test_parts = self._cap([(self.new, test_new)], plan["max_rows"], rng)
        X_test, y_test = self._rows_xy(test_parts)
        results = []
        for spec in plan["candidates"]:
            m = spec.mask(t_all, self._axis, owner, ref=ref) & pool
            o, nw = np.flatnonzero(m[:n_old]), np.flatnonzero(m[n_old:])
            entry = {"window": spec.label(), "train_rows": int(len(o) + len(nw)), "score": None}
            if len(o) + len(nw) > 0:
                parts = self._cap([(self.old, o), (self.new, nw)], plan["max_rows"], np.random.default_rng(seed))
                X_tr, y_tr = self._rows_xy(parts)
                entry["score"] = plan["scorer"](X_tr, y_tr, X_test, y_test)
            results.append(entry)
        scored = [(k, r["score"]) for k, r in enumerate(results) if r["score"] is not None and np.isfinite(r["score"])]
        if not scored:
            raise DataError(
                f"No candidate window of {owner}('auto') holds rows before the latest period. Pass wider candidates."
            )
        best = max(scored, key=lambda kv: (kv[1], -kv[0]))[0]
        info = {"mode": "auto", "candidates": results, "chosen": results[best]["window"],
                "holdout": plan["holdout"], "holdout_rows": int(len(test_new)), "model": plan["scorer"].describe()}
        return plan["candidates"][best], info

    # -- mix -----------------------------------------------------------------------------------
    def _alpha_sample(self, old_rows: np.ndarray, alpha: float, perm: np.ndarray, stratify: bool) -> np.ndarray:
        """The first ``alpha`` share of ``old_rows`` in the seeded order ``perm`` (per class if stratified)."""
        if not stratify:
            k = int(round(alpha * len(old_rows)))
            return np.sort(old_rows[perm[:k]])
        y = self.old.frame[self.target].to_numpy()[old_rows[perm]]
        codes, uniq = pd.factorize(y)
        counts = np.bincount(codes, minlength=len(uniq))
        quota = np.round(alpha * counts).astype(np.int64)
        rank = pd.Series(codes).groupby(codes).cumcount().to_numpy()
        return np.sort(old_rows[perm[rank < quota[codes]]])

    def _do_mix(self, old_in: np.ndarray, new_in: np.ndarray, seed: int):
        plan = self._plan.mix
        if plan is None:
            return old_in, None, None
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(old_in))
        info: dict[str, Any] = {"stratify": plan["stratify"], "old_rows_available": int(len(old_in))}
        if plan["mode"] == "auto":
            alpha = self._search_alpha(plan, old_in, new_in, perm, seed, info)
        else:
            alpha = plan["alpha"]
            info["mode"] = "fixed"
        sel = self._alpha_sample(old_in, alpha, perm, plan["stratify"])
        info.update({"alpha": alpha, "old_rows": int(len(sel))})
        return sel, alpha, info

    def _search_alpha(self, plan, old_in, new_in, perm, seed, info) -> float:
        train_new, test_new = self._holdout_split(new_in, self.new.t, plan["holdout"], "mix")
        rng = np.random.default_rng(child_seed(seed, "cap"))
        X_test, y_test = self._rows_xy(self._cap([(self.new, test_new)], plan["max_rows"], rng))
        scores = []
        for alpha in plan["grid"]:
            old_rows = self._alpha_sample(old_in, alpha, perm, plan["stratify"])
            parts = self._cap([(self.new, train_new), (self.old, old_rows)], plan["max_rows"],
                              np.random.default_rng(child_seed(seed, "cap-train")))
            X_tr, y_tr = self._rows_xy(parts)
            scores.append(plan["scorer"](X_tr, y_tr, X_test, y_test))
        finite = [(k, s) for k, s in enumerate(scores) if np.isfinite(s)]
        if not finite:
            raise DataError(f"{OWNER}.mix('auto') scored no alpha (every score was NaN). Check the model or score=.")
        best = max(finite, key=lambda kv: (kv[1], -kv[0]))[0]
        info.update({"mode": "auto", "grid": list(plan["grid"]), "scores": scores, "holdout": plan["holdout"],
                     "holdout_rows": int(len(test_new)), "model": plan["scorer"].describe()})
        if len(old_in) == 0:
            logger.warning("mix(alpha='auto'): no old rows inside the window; alpha has no effect")
        return float(plan["grid"][best])

    # -- rehearse --------------------------------------------------------------------------------
    def _do_rehearse(self, old_in: np.ndarray, new_in: np.ndarray, seed: int):
        plan = self._plan.rehearse
        if plan is None:
            return None, None
        mask = np.ones(len(self.old), dtype=bool)
        mask[old_in] = False
        cand = np.flatnonzero(mask)
        n = plan["n"] if plan["n"] is not None else int(round(plan["fraction"] * len(self.old)))
        if n < 1:
            raise DataError(f"rehearse(fraction={plan['fraction']}) selects no rows of {len(self.old)} old rows. Raise fraction.")
        if n > len(cand):
            raise DataError(
                f"rehearse asks for {n} old rows but only {len(cand)} old rows are left out of the training set "
                "by window() / mix(). Lower n or fraction."
            )
        rng = np.random.default_rng(seed)
        how = plan["how"]
        if how == "random":
            pick = np.sort(rng.choice(cand, size=n, replace=False))
        elif how == "class_balanced":
            pick = self._class_balanced(cand, n, rng)
        else:
            pick = self._nearest(cand, new_in, n, plan["max_candidates"], rng)
        y = self.old.frame[self.target].to_numpy()[pick]
        by_class = pd.Series(y).value_counts(sort=False)
        info = {"how": how, "rows": int(len(pick)), "n": plan["n"], "fraction": plan["fraction"],
                "candidates": int(len(cand)), "by_class": {str(k): int(v) for k, v in by_class.items()}}
        return pick, info

    def _class_balanced(self, cand: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        y = self.old.frame[self.target].to_numpy()[cand]
        codes, uniq = pd.factorize(y, sort=True)
        avail = np.bincount(codes, minlength=len(uniq))
        take = np.zeros(len(uniq), dtype=np.int64)
        left = n
        while left > 0:
            open_ = np.flatnonzero(take < avail)
            share = max(1, left // len(open_))
            for c in open_:
                add = min(share, avail[c] - take[c], left)
                take[c] += add
                left -= add
                if left == 0:
                    break
        picks = []
        for c in range(len(uniq)):
            members = cand[codes == c]
            if take[c]:
                picks.append(rng.choice(members, size=int(take[c]), replace=False))
        return np.sort(np.concatenate(picks))

    def _design(self, src: _Source, rows: np.ndarray, ref: _Source, ref_rows: np.ndarray) -> np.ndarray:
        """Rows as float vectors: standardised numbers and one-hot top categories (tables), 8x8 pixels (images)."""
        if self.kind == "images":
            return downsample_pixels(src.images[rows]).astype(np.float64)
        cols = []
        for c in self.features:
            s, r = src.frame[c].iloc[rows], ref.frame[c].iloc[ref_rows]
            if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
                rv = r.to_numpy(dtype=np.float64, na_value=np.nan)
                mu, sd = np.nanmean(rv) if np.isfinite(rv).any() else 0.0, np.nanstd(rv) if np.isfinite(rv).any() else 1.0
                v = (s.to_numpy(dtype=np.float64, na_value=np.nan) - mu) / (sd if sd > 0 else 1.0)
                cols.append(np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)[:, None])
            else:
                top = r.astype(str).value_counts().index[:20]
                sv = s.astype(str).to_numpy()
                cols.append(np.stack([sv == v for v in top], axis=1).astype(np.float64) if len(top) else np.zeros((len(s), 0)))
        return np.hstack(cols)

    def _nearest(self, cand: np.ndarray, new_in: np.ndarray, n: int, max_candidates: int, rng) -> np.ndarray:
        from scipy.spatial import cKDTree

        if len(new_in) == 0:
            raise DataError("rehearse(how='nearest') needs new rows inside the window to measure nearness. Widen the window.")
        pool = np.sort(rng.choice(cand, size=max_candidates, replace=False)) if len(cand) > max_candidates else cand
        if n > len(pool):
            raise DataError(
                f"rehearse(how='nearest') asks for {n} rows but considers at most {len(pool)} candidates. "
                "Raise max_candidates or lower n."
            )
        anchors = np.sort(rng.choice(new_in, size=20_000, replace=False)) if len(new_in) > 20_000 else new_in
        A = self._design(self.new, anchors, self.new, anchors)
        B = self._design(self.old, pool, self.new, anchors)
        dist, _ = cKDTree(A).query(B, k=1)
        return np.sort(pool[np.argsort(dist, kind="stable")[:n]])

    # -- leakage and dedup -------------------------------------------------------------------------
    def _take(self, blocks, idx: np.ndarray):
        """Feature rows (tables) or images at positions ``idx`` of the concatenated blocks."""
        sizes = np.array([len(r) for _, _, r in blocks], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        which = np.searchsorted(starts, idx, side="right") - 1
        order = np.argsort(which, kind="stable")
        pieces = []
        for b in np.unique(which):
            _, src, rows = blocks[b]
            local = rows[idx[which == b] - starts[b]]
            pieces.append(src.images[local] if self.kind == "images" else src.frame[self.features].iloc[local])
        if self.kind == "images":
            out = np.concatenate(pieces) if pieces else np.zeros((0, *self.old.images.shape[1:]), np.uint8)
            return out[np.argsort(order, kind="stable")]
        out = pd.concat(pieces, ignore_index=True) if pieces else self.old.frame[self.features].iloc[:0]
        return out.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)

    def _block_keys(self, blocks) -> np.ndarray:
        keys = []
        for _, src, rows in blocks:
            if self.kind == "images":
                keys.append(_dedup.exact_keys(src.images, rows=rows))
            else:
                keys.append(_dedup.exact_keys(src.frame[self.features], rows=rows))
        return np.concatenate(keys) if keys else np.zeros(0, np.uint64)

    def _do_filters(self, blocks):
        total = sum(len(r) for _, _, r in blocks)
        drop = np.zeros(total, dtype=bool)
        kind = "images" if self.kind == "images" else "frame"
        tol_leak = self._plan.exclude_tolerance
        dedup = self._plan.dedup
        need_exact = (self._plan.eval_sets and tol_leak == 0.0) or (dedup is not None and dedup["tolerance"] == 0.0)
        need_near = (self._plan.eval_sets and tol_leak > 0.0) or (dedup is not None and dedup["tolerance"] > 0.0)
        keys = self._block_keys(blocks) if need_exact else None
        X_all = self._take(blocks, np.arange(total)) if need_near else None
        origin_of = np.concatenate([np.full(len(r), k) for k, (_, _, r) in enumerate(blocks)]) if total else np.zeros(0, int)
        names = [name for name, _, _ in blocks]

        leak_info = None
        if self._plan.eval_sets:
            by_set = {}
            for name, ev in self._plan.eval_sets.items():
                if tol_leak == 0.0:
                    pairs = _dedup.matches_from_keys(
                        keys, lambda r: self._take(blocks, r), _dedup.exact_keys(ev),
                        lambda r, ev=ev: _dedup.take_kind(ev, r, kind), kind,
                    )
                    ci = pairs[:, 0]
                else:
                    scale = X_all if kind == "frame" else None  # training spread: eval sets may be tiny
                    ci = _dedup.find_duplicates(X_all, ev, tolerance=tol_leak, scale_from=scale)[:, 0]
                by_set[name] = int(len(ci))
                drop[ci] = True
            leak_info = {"tolerance": tol_leak, "near": tol_leak > 0, "matches_by_eval_set": by_set,
                         "removed": int(drop.sum()), "removed_by_block": count_by(drop, origin_of, names)}
            logger.info("leakage: removed %d training row(s) duplicating evaluation rows", int(drop.sum()))

        dedup_info = None
        if dedup is not None:
            live = np.flatnonzero(~drop)
            if dedup["tolerance"] == 0.0:
                dup = _dedup.duplicated_from_keys(keys[live], lambda r: self._take(blocks, live[r]), kind)
                dup_local = np.flatnonzero(dup)
            else:
                sub = X_all[live] if kind == "images" else X_all.iloc[live].reset_index(drop=True)
                dup_local = np.flatnonzero(_dedup.duplicated(sub, tolerance=dedup["tolerance"]))
            dmask = np.zeros(total, dtype=bool)
            dmask[live[dup_local]] = True
            drop |= dmask
            dedup_info = {"tolerance": dedup["tolerance"], "near": dedup["tolerance"] > 0, "priority": names,
                          "removed": int(dmask.sum()), "removed_by_block": count_by(dmask, origin_of, names)}
            logger.info("dedup: removed %d duplicate row(s)", int(dmask.sum()))
        keep, at = [], 0
        for _, _, rows in blocks:
            keep.append(~drop[at : at + len(rows)])
            at += len(rows)
        return keep, leak_info, dedup_info

    # -- assembly ----------------------------------------------------------------------------------
    def _assemble(self, blocks):
        cols = ([self.target] if self.kind == "images" else [*self.features, self.target])
        data: dict[str, Any] = {}
        for c in cols:
            data[c] = pd.concat([src.frame[c].take(rows) for _, src, rows in blocks], ignore_index=True)
        if self.time is not None:
            data[self.time] = pd.concat([src.time_values.take(rows) for _, src, rows in blocks], ignore_index=True)
        frame = pd.DataFrame(data, copy=False)
        images = np.concatenate([src.images[rows] for _, src, rows in blocks]) if self.kind == "images" else None
        return frame, images

    def _manifest(self, blocks, win_desc, mix_alpha, seeds) -> pd.DataFrame:
        import pyarrow as pa
        import pyarrow.compute as pc

        win = f" in window {win_desc}" if win_desc else ""
        mix = self._plan.mix
        strat = f", stratified by {self.target}" if mix and mix["stratify"] else ""
        reh = self._plan.rehearse
        n = sum(len(r) for _, _, r in blocks)
        pieces: dict[str, list[Any]] = {c: [] for c in LINEAGE_COLUMNS}
        ids = []
        seed_vals, seed_na = [], []
        for name, src, rows in blocks:
            k = len(rows)
            if src.manifest is not None:
                man = src.manifest.iloc[rows]
                for c in LINEAGE_COLUMNS:
                    if c not in ("row_id", "seed"):
                        pieces[c].append(man[c].astype(str).to_numpy())
                ids.append(pa.array(man["row_id"].astype(str).tolist(), pa.string()))
                seeds_aug = pd.array(man["seed"], dtype="Int64")
                seed_vals.append(seeds_aug.to_numpy(dtype=np.int64, na_value=0))
                seed_na.append(seeds_aug.isna())
                continue
            origin = src.name
            if name == "replay":
                reason, s = f"replay buffer ({reh['how']})", seeds["rehearse"]
            elif name == "old" and mix_alpha is not None:
                reason = f"old data sampled at alpha={mix_alpha:g}{strat}" + (f" from window {win_desc}" if win_desc else "")
                s = seeds["mix"]
            else:
                reason, s = f"{origin} data{win}", None
            for c, v in (("origin", origin), ("source", origin), ("parent_ids", "[]"), ("operation", "original"),
                         ("params", "{}"), ("slice_ids", "[]"), ("reason", reason)):
                pieces[c].append((v, k))
            ids.append(pc.binary_join_element_wise(pa.scalar(f"{origin}:"), pc.cast(pa.array(rows), pa.string()), ""))
            seed_vals.append(np.full(k, 0 if s is None else s, dtype=np.int64))
            seed_na.append(np.full(k, s is None))
        row_id = pd.Series(pd.array(pa.chunked_array(ids, pa.string()), dtype="str"))
        out: dict[str, Any] = {"row_id": row_id}
        for c in LINEAGE_COLUMNS:
            if c not in ("row_id", "seed"):
                out[c] = categorical(pieces[c], n)
        out["seed"] = pd.arrays.IntegerArray(np.concatenate(seed_vals), np.concatenate(seed_na))
        manifest = pd.DataFrame(out, columns=list(LINEAGE_COLUMNS), copy=False)
        return manifest

    def _weights(self, blocks):
        n = sum(len(r) for _, _, r in blocks)
        plan = self._plan.recency
        if plan is None:
            return np.ones(n), None
        span = float(self._axis.span(plan["half_life"], f"{OWNER}.recency", "half_life"))
        t_max = max(self.old.t.max(), self.new.t.max())
        t = np.concatenate([src.t[rows] for _, src, rows in blocks]).astype(np.float64)
        age = np.maximum(float(t_max) - t, 0.0)
        w = np.power(0.5, age / span)
        info = {"half_life": str(plan["half_life"]), "reference": self._axis.format(t_max),
                "min_weight": float(w.min()) if n else None, "mean_weight": float(w.mean()) if n else None}
        return w, info

    def _do_split(self, blocks, manifest: pd.DataFrame, seed: int):
        n = len(manifest)
        plan = self._plan.split
        if plan is None or n == 0:
            return np.zeros(n, dtype=np.int8), None
        group = np.arange(n, dtype=np.int64)
        aug_rows = np.flatnonzero(manifest["operation"].to_numpy() != "original")
        if len(aug_rows):
            group = parent_groups(manifest, aug_rows)
        t = np.concatenate([src.t[rows] for _, src, rows in blocks]).astype(np.float64)
        codes, uniq = pd.factorize(group)
        sizes = np.bincount(codes)
        target = int(round(plan["validation"] * n))
        if plan["how"] == "random":
            order = np.random.default_rng(seed).permutation(len(uniq))
        else:
            gtime = np.full(len(uniq), -np.inf)
            np.maximum.at(gtime, codes, t)
            order = np.argsort(-gtime, kind="stable")
        cum = np.cumsum(sizes[order])
        val_groups = order[cum <= target]
        if len(val_groups) == 0 and target > 0:
            val_groups = order[:1]
        is_val = np.zeros(len(uniq), dtype=bool)
        is_val[val_groups] = True
        split = is_val[codes].astype(np.int8)
        info = {"validation": plan["validation"], "how": plan["how"], "val_rows": int(split.sum()),
                "groups": int(len(uniq)), "grouped_by": "root parent id"}
        return split, info

    def _fit_preprocess(self, frame: pd.DataFrame, train: np.ndarray):
        plan = self._plan.preprocess
        if plan is None:
            return None, None
        from sklearn.base import clone

        from ._preprocess import default_preprocessor, preprocessor_to_dict

        rows = frame.loc[train, self.features]
        if plan["steps"] is None:
            pre = default_preprocessor(rows, self.features, impute=plan["impute"], scale=plan["scale"])
        else:
            pre = clone(plan["steps"])
        pre.fit(rows)
        preprocessor_to_dict(pre)  # fail now, not at save time, when a step cannot be saved as JSON
        names = [str(c) for c in getattr(pre, "get_feature_names_out", lambda: [])()]
        info = {"steps": "default" if plan["steps"] is None else type(plan["steps"]).__name__,
                "impute": plan["impute"], "scale": plan["scale"], "fitted_on": "train rows",
                "fitted_rows": int(len(rows)), "output_features": names}
        return pre, info


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
