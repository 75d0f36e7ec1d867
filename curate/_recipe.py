"""Recipes: one YAML file that runs diagnose, fill, build, retrain and gate.

A recipe is validated against :data:`SCHEMA` (unknown keys fail with a did-you-mean), hashed
(sha256 of its canonical JSON) and stored with the version it produces in the registry.
Relative paths are resolved against the recipe file's folder. Example::

    name: weather
    random_state: 0
    data:
      old: old.parquet            # Parquet or CSV
      new: new.parquet
      target: weather
      time: date                  # optional; the new holdout is then the latest rows
      eval_fraction: 0.25         # held out of old and of new when eval_old / eval_new are absent
    model:
      estimator: sklearn.linear_model.LogisticRegression   # fitted on old when the registry is empty
      params: {max_iter: 1000, warm_start: true}
    diagnose:
      methods: [rules, confusion]
      max_slices: 3
    fill:
      method: smote
      n: 40
    build:
      mix: 0.5
      rehearse: {n: 100}
      split: 0.1
    retrain:
      strategies: [continue_all, scratch_all, ensemble_all]
      max_forgetting: 0.05
      selection_split: 0.5     # optional: pick on half of each holdout, score and gate on the other half
    gate:
      min_gain_new: 0.0
      max_drop_old: 0.02
      max_slice_drop: 0.05     # regression search: null turns it off; class_clusters, flip_search, layer, vs as Gate(...)
    registry: registry
    output: runs/weather

Instead of ``old`` / ``new`` / ``target``, ``data.scenario`` may name a bundled scenario
(``curate.datasets.SCENARIOS``: ``digits_drift`` (images), ``breast_cancer_drift`` (tabular)),
with the loader's keyword arguments in ``data.scenario_params``; the scenario provides the
training rows and both holdouts. Example recipes ship in ``curate/recipes/``
(:func:`example_recipes`, :meth:`Recipe.example`, ``curakit run --list-examples``).

Image data of your own: ``data.old`` / ``data.new`` (and ``eval_old`` / ``eval_new``) may name an
image folder ``<class>/<image>.png`` (class names sorted as torchvision's ImageFolder, or a
``classes.txt``), an ``.npz`` (``images``, ``labels``) or a Parquet/CSV of image paths (``target``
names its label column); see ``curate._recipe_data``. ``fill`` then takes ``pipeline:`` (offline
augmentation) or ``method: vae`` (``augment.generate``, images and tables) with ``n``,
``temperature``, ``epochs``, ``latent_dim``, ``copy_quantile``, ``clip``, ``condition``.

The model comes from the registry's champion when it has one (``model.source: registry``),
else the ``estimator`` is fitted on the old training rows and registered as the incumbent.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.io import atomic_dir, check_output_dir, read_table
from curakit.plugins import did_you_mean
from curakit.records import check_schema_version, json_ready
from curakit.seeds import check_random_state, child_seed

from ._recipe_data import (
    build_engine,
    check_fill,
    check_model_fits_images,
    check_sections,
    engine_inputs,
    estimate_fills,
    fill_slice,
    image_data,
    is_image_path,
    materialize,
    measured_vs_estimate,
)

__all__ = ["Recipe", "RecipeRun", "SCHEMA", "example_recipes", "example_text", "parse_recipe", "run_recipe"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_STR, _NUM, _INT, _BOOL = (str,), (int, float), (int,), (bool,)
_LIST, _DICT = (list,), (dict,)

#: section -> {key: allowed types}; a section of None takes a scalar.
SCHEMA: dict[str, Any] = {
    "schema_version": _INT,
    "name": _STR,
    "random_state": _INT,
    "data": {
        "old": _STR, "new": _STR, "target": _STR, "time": _STR, "features": _LIST,
        "eval_old": _STR, "eval_new": _STR, "eval_fraction": _NUM, "scenario": _STR, "scenario_params": _DICT,
    },
    "model": {"source": _STR, "estimator": _STR, "params": _DICT, "train": _DICT, "file": _STR, "class": _STR,
              "kwargs": _DICT},
    "diagnose": {"methods": _LIST, "max_slices": _INT, "enabled": _BOOL},
    "fill": {"method": _STR, "n": _INT, "k_neighbors": _INT, "pipeline": (dict, str), "enabled": _BOOL,
             "temperature": _NUM, "epochs": _INT, "latent_dim": _INT, "copy_quantile": _NUM, "clip": _BOOL,
             "condition": _STR, "estimate": _BOOL, "skip_if_harmful": _BOOL},
    "build": {"mix": (*_NUM, str), "stratify": _BOOL, "window": (str, *_NUM, dict), "rehearse": _DICT,
              "split": _NUM, "dedup": _BOOL, "exclude": _BOOL, "recency": (str, *_NUM), "engine": _STR,
              "scheduler": _STR, "workers": _INT},
    "retrain": {"strategies": _LIST, "params": _DICT, "strategy_params": _DICT, "metric": _STR,
                "max_forgetting": _NUM, "choose": _STR, "selection_split": _NUM},
    "gate": {"min_gain_new": _NUM, "max_drop_old": _NUM, "confidence": _NUM, "n_bootstrap": _INT,
             "max_slice_drop": (*_NUM, type(None)), "class_clusters": _INT, "flip_search": _BOOL, "vs": (str, type(None)),
             "layer": (str, type(None))},
    "registry": _STR,
    "output": _STR,
    "trusted_modules": _LIST,
    "root": _STR,
}
_REQUIRED: dict[str, tuple[str, ...]] = {}


def _type_names(types: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an int", float: "a number", bool: "true/false", list: "a list", dict: "a mapping",
             type(None): "null"}
    return " or ".join(dict.fromkeys(names[t] for t in types))


def _check_value(value: Any, types: tuple[type, ...], where: str) -> None:
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        raise ParameterError(f"Recipe key {where} must be {_type_names(types)}. Got {type(value).__name__} instead.")


def validate_recipe(data: Any) -> dict[str, Any]:
    """Check ``data`` against :data:`SCHEMA`; return a plain-JSON copy."""
    if not isinstance(data, Mapping):
        raise ParameterError(_not_a_recipe(data, "The recipe given"))
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in SCHEMA:
            raise ParameterError(
                f"Unknown top-level key {key!r} in recipe.{did_you_mean(str(key), list(SCHEMA))}"
                + ("" if did_you_mean(str(key), list(SCHEMA)) else f" Known keys: {', '.join(SCHEMA)}.")
            )
        spec = SCHEMA[key]
        if isinstance(spec, dict):
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                raise ParameterError(f"Recipe section {key!r} must be a mapping. Got {type(value).__name__} instead.")
            section: dict[str, Any] = {}
            for sub, v in value.items():
                if sub not in spec:
                    hint = did_you_mean(str(sub), list(spec))
                    raise ParameterError(
                        f"Unknown key {sub!r} in recipe section {key!r}.{hint}"
                        + ("" if hint else f" Known keys: {', '.join(spec)}.")
                    )
                _check_value(v, spec[sub], f"'{key}.{sub}'")
                section[sub] = v
            for req in _REQUIRED.get(key, ()):
                if req not in section:
                    raise ParameterError(f"Recipe section {key!r} needs the key {req!r}.")
            out[key] = section
        else:
            _check_value(value, spec, repr(key))
            out[key] = value
    if "data" not in out:
        raise ParameterError("A recipe needs a 'data' section with old, new and target (or a scenario).")
    if "scenario" not in out["data"]:
        tables = str(out["data"].get("old", "")).lower().endswith((".parquet", ".pq", ".csv", ".txt"))
        for req in ("old", "new", *(("target",) if tables else ())):  # image folders / .npz carry their labels
            if req not in out["data"]:
                raise ParameterError(f"Recipe section 'data' needs the key {req!r}.")
    else:
        _check_scenario(out["data"])
    check_schema_version(out, "Recipe", SCHEMA_VERSION, fix="Write the recipe for this version (see curate/recipes/).")
    return json.loads(json.dumps(json_ready(out)))


def parse_recipe(text: str, what: str = "text") -> Any:
    """The recipe mapping in YAML ``text`` (safe_load: no Python objects); ``what`` names it in errors."""
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ParameterError(f"Recipe {what} is not valid YAML{where}. Fix the syntax.") from None
    if not isinstance(data, Mapping):  # a CSV or a text file given as the recipe reads as one string
        raise ParameterError(_not_a_recipe(data, "The recipe text" if what == "text" else what))
    return data


def _not_a_recipe(data: Any, what: str) -> str:
    kind = {str: "text", list: "a list"}.get(type(data), f"a {type(data).__name__}")
    names = [k for k, v in SCHEMA.items() if isinstance(v, dict)]
    sections = f"{', '.join(names[:-1])} and {names[-1]}"
    return (f"{what} is not a recipe: a recipe is a YAML mapping with {sections} sections, and this reads as "
            f"{kind}. Give a recipe file (curakit run --show-example NAME prints one to copy).")


# -- example recipes shipped in curate/recipes/ -----------------------------------------------------
def _examples_dir() -> Any:
    from importlib.resources import files

    return files("curate").joinpath("recipes")


def example_recipes() -> dict[str, str]:
    """The example recipes shipped with curakit: name -> one-line summary (the first comment line)."""
    out: dict[str, str] = {}
    for entry in sorted(_examples_dir().iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        name = entry.name[: -len(".yaml")]
        first = next((ln for ln in entry.read_text().splitlines() if ln.startswith("#")), "#")
        summary = first.lstrip("#").strip()
        out[name] = summary[len(name) + 1:].strip() if summary.startswith(f"{name}:") else summary
    return out


def example_text(name: str) -> str:
    """The commented YAML text of an example recipe (copy it to adapt it)."""
    names = list(example_recipes())
    if name not in names:
        from curakit.exceptions import UnknownNameError

        raise UnknownNameError(
            f"Unknown example recipe {name!r}.{did_you_mean(str(name), names)} Examples: {', '.join(names)}."
        )
    return _examples_dir().joinpath(f"{name}.yaml").read_text()


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipe:
    """A validated recipe. ``base_dir`` resolves its relative paths; ``hash`` identifies it."""

    data: dict[str, Any]
    base_dir: Path = field(default_factory=Path.cwd)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", validate_recipe(self.data))
        object.__setattr__(self, "base_dir", Path(self.base_dir))

    @classmethod
    def from_yaml(cls, path: str | Path) -> Recipe:
        path = Path(path)
        return cls(data=parse_recipe(path.read_text(), repr(str(path))), base_dir=path.resolve().parent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: str | Path | None = None) -> Recipe:
        return cls(data=dict(data) if isinstance(data, Mapping) else data, base_dir=Path.cwd() if base_dir is None else Path(base_dir))

    @classmethod
    def example(cls, name: str, base_dir: str | Path | None = None) -> Recipe:
        """A recipe shipped with curakit (:func:`example_recipes`). Its relative paths (registry,
        output) resolve against ``base_dir`` (default: the working folder), not the package."""
        return cls.from_dict(parse_recipe(example_text(name), f"example {name!r}"), base_dir=base_dir)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.data))

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @property
    def hash(self) -> str:
        """sha256 of the canonical JSON (sorted keys, no whitespace)."""
        canon = json.dumps(self.data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.data.get(name) or {})

    @property
    def root(self) -> Path:
        """The folder every recipe path stays inside: ``root:`` (relative to the recipe's folder) or the recipe's folder."""
        root = self.data.get("root")
        if root is None:
            return self.base_dir
        if Path(root).is_absolute() or ".." in Path(root).parts:
            raise ParameterError(f"Recipe key 'root' is {root!r}; give a folder relative to the recipe's folder "
                                 "without '..' (absolute paths only on the command line).")
        return self.base_dir / root

    def path(self, value: str, key: str = "path") -> Path:
        """``value`` resolved inside :attr:`root`; absolute paths and ``..`` escapes are refused
        (a recipe shared by someone else must not read or replace files elsewhere)."""
        p = Path(value)
        if p.is_absolute() or ".." in p.parts:
            raise ParameterError(
                f"Recipe key {key!r} is {value!r}, which leaves the recipe's folder. Give a path relative to the "
                "recipe's folder (or its 'root:') without '..'; pass absolute paths on the command line instead "
                "(--output, --registry)."
            )
        return self.root / p

    def check(self, *, output: str | Path | None = None, registry: str | Path | None = None,
              trusted: Sequence[str] = ()) -> tuple[list[str], list[str]]:
        """``(errors, warnings)`` of ``curakit run --check``, found without fitting anything (:func:`check_recipe`)."""
        return check_recipe(self, output=output, registry=registry, trusted=trusted)

    @property
    def trusted(self) -> list[str]:
        """The recipe's ``trusted_modules:`` (modules whose classes it may name; see :mod:`curakit.trust`)."""
        return [str(m) for m in self.data.get("trusted_modules") or []]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipeRun:
    """What a recipe run did: slices, training set, comparison, chosen strategy, promotion."""

    recipe_hash: str
    slices: list[dict[str, Any]]
    training_set: str
    rows_by_origin: dict[str, int]
    comparison: Any  # ComparisonTable
    chosen: str
    promotion: Any = None  # Promotion or None
    output: Path | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # strategy -> why it could not run on the champion
    fill_value: dict[str, Any] | None = None  # the fill estimate per fill, and what the full retrain measured
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        from ._compare import json_rows

        return json_ready({
            "schema_version": self.schema_version,
            "recipe_hash": self.recipe_hash,
            "slices": self.slices,
            "training_set": self.training_set,
            "rows_by_origin": self.rows_by_origin,
            "comparison": json_rows(self.comparison.frame),
            "chosen": self.chosen,
            "promotion": None if self.promotion is None else self.promotion.to_dict(),
            "output": None if self.output is None else str(self.output),
            "skipped": self.skipped,
            "fill_value": self.fill_value,
        })


# -- steps ------------------------------------------------------------------------------------------
def _split_holdout(frame: pd.DataFrame, fraction: float, seed: int, time: str | None, latest: bool,
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_hold = int(round(fraction * len(frame)))
    if n_hold < 1 or n_hold >= len(frame):
        raise DataError(
            f"eval_fraction={fraction} of {len(frame)} rows leaves no rows on one side. Use a fraction in (0, 1) "
            "that keeps rows on both sides, or pass eval_old / eval_new."
        )
    if latest and time is not None:
        order = np.argsort(pd.to_datetime(frame[time]).to_numpy() if frame[time].dtype == object
                           else frame[time].to_numpy(), kind="stable")
        hold = order[-n_hold:]
    else:
        hold = check_random_state(seed).choice(len(frame), size=n_hold, replace=False)
    mask = np.zeros(len(frame), dtype=bool)
    mask[hold] = True
    return frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)


def _import_estimator(path: str, params: Mapping[str, Any], trusted: Sequence[str] = ()) -> Any:
    from curakit.trust import resolve_class

    # a recipe is data: it may name a model class from an allowed module, never a function (os.system)
    cls = resolve_class(path, kind="any", trusted=trusted, where="Recipe key 'model.estimator'")
    from curakit.validation import check_options

    check_options(cls.__init__, dict(params), f"Recipe key 'model.params' for {cls.__name__}", skip=("self",))
    try:
        est = cls(**dict(params))
    except TypeError as exc:
        raise ParameterError(f"Recipe key 'model.params' does not fit {cls.__name__}: {exc}.") from None
    _validate_params(est, cls.__name__, params)
    return est


def _validate_params(est: Any, name: str, params: Mapping[str, Any]) -> None:
    """scikit-learn's own check of ``model.params`` (``_validate_params``, sklearn >= 1.2), run before any fit
    so that ``C: abc`` fails in ``--check`` too, naming the recipe key rather than sklearn's traceback."""
    import re

    validate = getattr(est, "_validate_params", None)
    if not callable(validate) or not hasattr(est, "get_params"):
        return
    try:
        validate()
    except (ValueError, TypeError) as exc:  # sklearn's InvalidParameterError is both
        text = str(exc)
        found = re.match(r"The '([^']+)' parameter of \w+ (must be .*?)\. Got ", text, flags=re.S)
        key = found.group(1) if found and found.group(1) in params else None
        where = "model.params" if key is None else f"model.params.{key}"
        need = f" {' '.join(found.group(2).split())}" if found else f" is invalid ({type(exc).__name__})"
        raise ParameterError(f"Recipe key {where!r} for {name}{need}. Fix {where} in the recipe "
                             f"(see {name}'s documentation for the allowed values).") from None


def _tables(rec: Recipe, data: dict[str, Any], seed: int):
    for key in ("old", "new", "target"):
        if key not in data:
            raise ParameterError(f"Recipe section 'data' needs the key {key!r} (or 'scenario' for the image demo).")
    target, time_col = data["target"], data.get("time")
    old = read_table(rec.path(data["old"], "data.old"), "Recipe data.old")
    new = read_table(rec.path(data["new"], "data.new"), "Recipe data.new")
    _check_columns({"old": old, "new": new}, target, time_col)
    frac = float(data.get("eval_fraction", 0.25))
    if "eval_old" in data:
        old_train, eval_old = old, read_table(rec.path(data["eval_old"], "data.eval_old"), "Recipe data.eval_old")
    else:
        old_train, eval_old = _split_holdout(old, frac, child_seed(seed, "holdout", "old"), time_col, latest=False)
    if "eval_new" in data:
        new_pool, eval_new = new, read_table(rec.path(data["eval_new"], "data.eval_new"), "Recipe data.eval_new")
    else:
        new_pool, eval_new = _split_holdout(new, frac, child_seed(seed, "holdout", "new"), time_col, latest=True)
    _check_columns({"eval_old": eval_old, "eval_new": eval_new}, target, None)
    features = list(data.get("features") or [c for c in old.columns if c not in (target, time_col)])
    _check_dtypes({"old": old, "new": new, "eval_old": eval_old, "eval_new": eval_new}, features)
    return old_train, new_pool, {"old": eval_old, "new": eval_new}, features


def _check_columns(frames: Mapping[str, pd.DataFrame], target: str, time_col: str | None) -> None:
    for key, frame in frames.items():
        for col, what in ((target, "data.target"), (time_col, "data.time")):
            if col is not None and col not in frame.columns:
                raise DataError(f"Recipe key {what!r} is {col!r}, which is not a column of data.{key} "
                                f"({frame.shape[1]} columns). Check the name.")


def _check_dtypes(frames: Mapping[str, pd.DataFrame], features: list[str]) -> None:
    """A feature numeric in one table must be numeric in all: a stray text cell would otherwise
    surface as a conversion error quoting the value (names and dtypes only in messages)."""
    for col in features:
        kinds = {key: pd.api.types.is_numeric_dtype(f[col]) for key, f in frames.items() if col in f.columns}
        numeric = [k for k, is_num in kinds.items() if is_num]
        text = [k for k, is_num in kinds.items() if not is_num]
        if numeric and text:
            key, ref = text[0], numeric[0]
            raise DataError(
                f"Recipe data.{key} column {col!r} has dtype {frames[key][col].dtype} where data.{ref}'s is "
                f"{frames[ref][col].dtype}: it holds non-numeric values. Fix those cells or drop the column."
            )


def _check_scenario(data: Mapping[str, Any]) -> tuple[str, Any]:
    """(kind, loader) of the recipe's ``data.scenario``; unknown names, keys the scenario provides
    and unknown ``scenario_params`` fail with a one-line error (at validation time)."""
    import inspect

    from curakit.exceptions import UnknownNameError

    from .datasets import SCENARIOS

    name = data["scenario"]
    if name not in SCENARIOS:
        names = SCENARIOS.names()
        raise UnknownNameError(
            f"Unknown scenario {name!r} in recipe key 'data.scenario'.{did_you_mean(str(name), names)} "
            f"Bundled scenarios: {', '.join(names)}."
        )
    kind = SCENARIOS.meta(name)["kind"]
    given = ("old", "new", "eval_old", "eval_new", "features", "time", "eval_fraction")
    unused = [k for k in (*given, *(("target",) if kind == "tabular" else ())) if k in data]
    if unused:
        raise ParameterError(f"Recipe section 'data' with a scenario takes no {unused[0]!r}: the scenario provides it.")
    loader = SCENARIOS.get(name)
    accepted = [k for k in inspect.signature(loader).parameters if k != "random_state"]
    for key in data.get("scenario_params") or {}:
        if key not in accepted:
            hint = did_you_mean(str(key), accepted)
            raise ParameterError(
                f"Unknown key {key!r} in recipe key 'data.scenario_params' of scenario {name!r}.{hint}"
                + ("" if hint else f" Known keys: {', '.join(accepted)}.")
            )
    return kind, loader


def _scenario(data: dict[str, Any], seed: int):
    """(kind, old_train, new_pool, eval_sets, features, target) of a bundled scenario
    (``curate.datasets.SCENARIOS``); ``scenario_params`` are the loader's keyword arguments."""
    kind, loader = _check_scenario(data)
    params = dict(data.get("scenario_params") or {})
    sc = loader(random_state=child_seed(seed, "scenario"), **params)
    old, new = sc.source("old"), sc.source("new")
    eval_sets = {"old": sc.source("old_test"), "new": sc.source("new_test")}
    if kind == "images":
        return kind, old, new, eval_sets, [], data.get("target", "label")
    return kind, old, new, eval_sets, list(sc.features), sc.target


def _check_not_empty(**folders: Any) -> None:
    """No override folder is '': Path('') is the working folder, never what was meant."""
    for name, value in folders.items():
        if value is not None and not str(value).strip():
            raise ParameterError(f"The '{name}' folder is empty (''). Give a folder path, or leave it out to use "
                                 f"the recipe's {name!r} key.")


def _output_path(rec: Recipe, output: str | Path | None) -> Path | None:
    """The run's output folder: ``output`` (relative to the working folder) or the recipe's key (to its folder)."""
    if output is not None:
        return Path(output)
    key = rec.data.get("output")
    return None if key is None else rec.path(str(key), "output")


def run_recipe(recipe: str | Path | Mapping[str, Any] | Recipe, *, output: str | Path | None = None,
               registry: str | Path | None = None, random_state: int | None = None,
               trusted: Sequence[str] = ()) -> RecipeRun:
    """Run a recipe (a YAML path, a dict or a :class:`Recipe`): diagnose the incumbent on the new
    rows, fill the weak slices (augment.oversample), build the training set, compare the
    strategies, pick the best (within ``retrain.max_forgetting``) and promote it through the gate.

    ``output`` / ``registry`` / ``random_state`` override the recipe's values; ``trusted`` adds
    modules to the recipe's ``trusted_modules`` (:mod:`curakit.trust`). A strategy that cannot
    run on the registry's champion (``continue_new`` on an ensemble) is skipped and reported in
    :attr:`RecipeRun.skipped`; on a model the recipe fits itself it is an error. Returns a
    :class:`RecipeRun` (:attr:`RecipeRun.fill_value`: each fill's estimate before the build and what the
    full retrain measured); the output folder (written atomically) holds ``recipe.yaml``, ``run.json``,
    ``slices.json``, ``comparison.html``, ``fill_value.json`` / ``.csv`` and ``training_set/``.
    """
    from ._builder import TrainingSetBuilder
    from ._compare import compare_strategies

    rec = _as_recipe(recipe)
    _check_not_empty(output=output, registry=registry)
    seed = rec.data.get("random_state", 0) if random_state is None else random_state
    out_dir = _output_path(rec, output)
    if out_dir is not None:
        check_output_dir(out_dir, "Recipe output folder")  # refuse a user's folder before any work
    data = rec.section("data")
    images = False
    target, time_col = data.get("target", "label"), data.get("time")

    # -- data and holdouts
    classes = None
    if "scenario" in data:
        kind, old_train, new_pool, eval_sets, features, target = _scenario(data, seed)
        images = kind == "images"
    elif is_image_path(rec.path(data["old"], "data.old")):
        old_train, new_pool, eval_sets, classes = image_data(rec, data, seed)
        images, features = True, []
    else:
        old_train, new_pool, eval_sets, features = _tables(rec, data, seed)

    # -- registry and incumbent
    reg = _open_registry(rec, registry)
    source, incumbent = _incumbent(rec, reg, old_train, features, target, images, seed,
                                   trusted=[*rec.trusted, *trusted])
    rsec = rec.section("retrain")
    strategies, skipped = usable_strategies(incumbent, rsec.get("strategies"), champion=source == "registry")

    # -- diagnose the incumbent on the new rows
    slices = _diagnose_slices(rec, incumbent, old_train, new_pool, features, target, images, seed, classes)

    # -- build (and fill)
    bsec = rec.section("build")
    with build_engine(bsec) as engine:
        old_in, new_in = engine_inputs(engine, old_train, new_pool, images, bsec.get("workers"))
        b = TrainingSetBuilder(old_in, new_in, target=target, time=time_col, features=features or None)
        _build_steps(b, bsec, eval_sets)
        estimate, fv = _fill_slices(b, rec, slices, new_pool, features, target, images, seed, eval_sets,
                                    incumbent=incumbent, old_train=old_train)
        ts = materialize(b.build(random_state=child_seed(seed, "build")))
    if classes is not None:
        ts.info["classes"] = classes

    # -- retrain, choose, gate (the registry is written only after every step succeeded)
    common = dict(rsec.get("params") or {})
    table = compare_strategies(incumbent, ts, strategies=strategies, eval_sets=eval_sets,
                               slices=slices or None, metric=rsec.get("metric", "accuracy"),
                               random_state=child_seed(seed, "retrain"), params=rsec.get("strategy_params"),
                               errors="record", selection_split=rsec.get("selection_split"), **common)
    max_forgetting = rsec.get("max_forgetting")
    # retrain.choose names the eval set whose score picks the candidate (default: the new holdout)
    chosen = table.best(rsec.get("choose", "new"), max_forgetting=max_forgetting)
    promotion = _register(rec, reg, source, incumbent, table, chosen, seed, eval_sets=table.scoring_sets(eval_sets),
                          trusted=[*rec.trusted, *trusted])
    counts = pd.Series(ts.origins).value_counts().to_dict()
    run = RecipeRun(recipe_hash=rec.hash, slices=[s.to_dict() for s in slices], training_set=ts.fingerprint(),
                    rows_by_origin={str(k): int(v) for k, v in counts.items()}, comparison=table, chosen=chosen,
                    promotion=promotion, output=out_dir, skipped=skipped,
                    fill_value=estimate and {**estimate, "measured": measured_vs_estimate(estimate, table, chosen)})
    if out_dir is not None:
        _write_run(out_dir, rec, run, table, ts, fv)
    return run


def _as_recipe(recipe: str | Path | Mapping[str, Any] | Recipe) -> Recipe:
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, Mapping):
        return Recipe.from_dict(recipe)
    return Recipe.from_yaml(recipe)


def _open_registry(rec: Recipe, registry: str | Path | None) -> Any:
    from ._modelregistry import Registry

    reg_path = registry if registry is not None else rec.data.get("registry")
    # an override (the CLI's --registry) is relative to the working folder, like ``output``
    return None if reg_path is None else Registry(Path(reg_path) if registry is not None else rec.path(str(reg_path), "registry"))


def usable_strategies(model: Any, names: list[str] | None, *, champion: bool,
                      ) -> tuple[list[str] | None, dict[str, str]]:
    """(the strategies to compare, {skipped: reason}). Unknown names always fail; one the model
    cannot run fails too, unless the model is the registry's champion (a later run meeting an
    ensemble the first run promoted): then it is skipped with its reason."""
    from curakit.exceptions import StrategyError

    from ._retrain import check_strategy

    if names is None:
        return None, {}
    keep, skipped = [], {}
    for name in names:
        try:
            check_strategy(model, name)
        except StrategyError as exc:
            if not champion:
                raise
            skipped[str(name)] = str(exc).split(" Strategies that fit:")[0]
            continue
        keep.append(name)
    return keep or ["do_nothing"], skipped


def _incumbent(rec: Recipe, reg: Any, old_train: Any, features: list[str], target: str, images: bool,
               seed: Any, trusted: Sequence[str] = ()) -> tuple[str, Any]:
    """(model.source, the incumbent): the registry's champion, or model.estimator fitted on the old rows."""
    msec = rec.section("model")
    source = msec.get("source", "registry" if reg is not None and reg.champion is not None else "estimator")
    if source == "registry":
        if reg is None or reg.champion is None:
            raise ParameterError(
                "Recipe key 'model.source' is 'registry' but the registry has no champion. Give model.estimator "
                "to fit the first model, or register one."
            )
        return source, reg.load(trusted=list(trusted))
    if source != "estimator":
        raise ParameterError(f"Recipe key 'model.source' must be 'registry' or 'estimator'. Got {source!r} instead.")
    if "file" in msec:  # the user's own trained model: used as it is, not fitted again
        return "file", _model_file(rec, msec, trusted)
    if "estimator" not in msec:
        raise ParameterError(
            "The recipe needs model.estimator (a class path such as 'sklearn.linear_model.LogisticRegression') "
            "or model.file when the registry has no champion."
        )
    incumbent = _import_estimator(msec["estimator"], msec.get("params", {}), list(trusted))
    if images:
        from ._trainer import TrainConfig, fit_torch, reset_parameters

        reset_parameters(incumbent, child_seed(seed, "incumbent"))
        fit_torch(incumbent, old_train["images"], old_train["labels"], config=TrainConfig(**msec.get("train", {})),
                  seed=child_seed(seed, "incumbent"), desc="incumbent")
    else:
        incumbent.fit(old_train[features], old_train[target])
    return source, incumbent


def _model_file(rec: Recipe, msec: Mapping[str, Any], trusted: Sequence[str]) -> Any:
    """``model: {file: ..., class: module:Class, kwargs: {...}}`` loaded with :func:`curakit.modelfile.load_model`
    (the recipe's folder is on the import path; ``class`` goes through :mod:`curakit.trust`)."""
    from curakit.modelfile import load_model

    kwargs = msec.get("kwargs")
    model = load_model(str(rec.path(msec["file"], "model.file")), msec.get("class"),
                       None if kwargs is None else json.dumps(kwargs), import_paths=[rec.root],
                       trusted=list(trusted))
    _check_is_model(model, msec["file"])
    return model


def _check_is_model(model: Any, name: str) -> None:
    """A model file must hold a model: a scikit-learn-style estimator (fit and predict) or a torch
    nn.Module; a pickled dict or list would otherwise fail later with an AttributeError."""
    from curakit.adapters import is_torch_model

    if is_torch_model(model) or all(callable(getattr(model, m, None)) for m in ("fit", "predict")):
        return
    raise ParameterError(
        f"Recipe key 'model.file' names {name!r}, which holds a {type(model).__name__}, not a model: give a file "
        "with a scikit-learn estimator (with fit and predict; joblib.dump, skops.io.dump) or a torch nn.Module."
    )


def _diagnose_slices(rec: Recipe, incumbent: Any, old_train: Any, new_pool: Any, features: list[str], target: str,
                     images: bool, seed: Any, classes: Any = None) -> list[Any]:
    """The incumbent's weak slices on the new rows (section ``diagnose``), at most ``max_slices``."""
    import diagnose

    dsec = rec.section("diagnose")
    if not dsec.get("enabled", True):
        return []
    if images:
        from ._retrain import _predict

        methods = dsec.get("methods") or ["confusion"]
        y_new = new_pool["labels"]
        pred, proba, _ = _predict(incumbent, new_pool["images"], None)
        emb = diagnose.embed(incumbent, new_pool["images"]) if "clusters" in methods else None
        named = {"confusion": {"class_names": list(classes)}} if classes is not None and "confusion" in methods else {}
        diag = diagnose.find_slices(y_new, pred, proba=proba, embeddings=emb, methods=methods,
                                    random_state=child_seed(seed, "diagnose"), **named)
        kinds = ("class", "pair", "centroid")
    else:
        y_new = new_pool[target].to_numpy()
        pred = np.asarray(incumbent.predict(new_pool[features]))
        proba = incumbent.predict_proba(new_pool[features]) if hasattr(incumbent, "predict_proba") else None
        diag = diagnose.find_slices(y_new, pred, proba=proba, features=new_pool[features],
                                    train_features=old_train[features], methods=dsec.get("methods"),
                                    random_state=child_seed(seed, "diagnose"))
        kinds = ("rule", "class", "pair")
    usable = [s for s in diag.slices if s.definition.get("kind") in kinds]
    slices = usable[: int(dsec.get("max_slices", 3))]
    logger.info("recipe: %d slices found, %d kept", len(diag.slices), len(slices))
    return slices


def _build_steps(b: Any, bsec: Mapping[str, Any], eval_sets: Any) -> None:
    """The builder steps of section ``build``, in the recipe's fixed order (``engine`` / ``scheduler`` /
    ``workers`` choose where it runs: :func:`curate._recipe_data.build_engine`)."""
    if "window" in bsec:
        w = bsec["window"]
        if isinstance(w, dict):
            b.window(**w)
        else:
            b.window(w)
    if "mix" in bsec:
        b.mix(bsec["mix"], stratify=bool(bsec.get("stratify", False)))
    if "rehearse" in bsec:
        b.rehearse(**bsec["rehearse"])
    if "recency" in bsec:
        b.recency(bsec["recency"])
    if bsec.get("dedup", False):
        b.dedup()
    if bsec.get("exclude", True):
        b.exclude(eval_sets)
    b.split(float(bsec.get("split", 0.1)))


def _fill_slices(b: Any, rec: Recipe, slices: list[Any], new_pool: Any, features: list[str], target: str,
                 images: bool, seed: Any, eval_sets: Any = None, *, incumbent: Any = None, old_train: Any = None
                 ) -> tuple[dict[str, Any] | None, Any]:
    """Section ``fill``: new rows for each weak slice (``curate._recipe_data.fill_slice``), each estimated
    (``curate._recipe_data.estimate_fills``: head on frozen features) and then added to the builder, unless
    ``skip_if_harmful`` and its estimate is clearly harmful. Returns (the estimate record, the FillValue)."""
    fsec = rec.section("fill")
    if not (slices and fsec.get("enabled", True) and fsec):
        return None, None
    fills = {}
    for k, sl in enumerate(slices):
        out = fill_slice(rec, fsec, sl, new_pool, features, target, images, child_seed(seed, "fill", k), eval_sets)
        if out is not None:
            fills[f"fill{k}"] = (out, sl)
    record, fv = estimate_fills(fsec, incumbent, old_train, new_pool, fills, features, target, images,
                                child_seed(seed, "fill", "estimate"), rec.section("retrain").get("max_forgetting"))
    for name, (out, _) in fills.items():
        if name not in record["skipped"]:
            b.add(out, parents="new", prefix=name)
    return record, fv


def _check_gate_layer(model: Any, layer: Any) -> None:
    """``gate.layer`` names a layer of the torch ``model`` (did-you-mean otherwise); tables ignore it."""
    from curakit.adapters import is_torch_model, resolve_layer

    if isinstance(layer, str) and is_torch_model(model):
        resolve_layer(model, layer)


def _register(rec: Recipe, reg: Any, source: str, incumbent: Any, table: Any, chosen: str, seed: Any, *,
              eval_sets: Any = None, trusted: Sequence[str] = ()) -> Any:
    """Register a freshly fitted incumbent, then put the chosen candidate through the gate."""
    from ._gate import Gate

    rsec, gsec = rec.section("retrain"), rec.section("gate")
    gate = Gate(metric=table.metric if isinstance(rsec.get("metric", "accuracy"), str) else "accuracy",
                random_state=child_seed(seed, "gate"), **gsec)
    naive = table.results.get("naive")
    if gate.vs == "naive" and (naive is None or naive.model is None):  # before the registry is touched
        raise ParameterError("Recipe key gate.vs=naive needs the naive baseline, which this run could not train "
                             "(see the comparison's error column). Drop gate.vs or choose strategies the model supports.")
    _check_gate_layer(incumbent, gate.layer)  # a wrong name fails here, before the registry is touched
    if reg is not None and source in ("estimator", "file"):
        base = table.results["do_nothing"]
        reg.register(incumbent, metrics=base.metrics, metric=base.metric, strategy="initial", recipe=rec,
                     training_set=None, note="incumbent fitted on the recipe's old data")
    if reg is None or chosen == "do_nothing":
        return None
    # with the eval sets the gate also searches regressions itself (embeddings of the champion / its features)
    return reg.promote_if_better(table.results[chosen], gate=gate, recipe=rec, eval_sets=eval_sets, naive=naive,
                                 slices=table.scoring_slices(chosen), trusted=list(trusted),
                                 note=f"recipe {rec.data.get('name', '')}".strip())


def _write_run(out_dir: Path, rec: Recipe, run: RecipeRun, table: Any, ts: Any, fv: Any = None) -> None:
    with atomic_dir(out_dir) as tmp:
        if fv is not None:  # the whole estimate: every (fill, slice) row on new and on old
            (tmp / "fill_value.json").write_text(json.dumps(json_ready(fv.to_dict()), indent=2, sort_keys=True))
            fv.to_frame().to_csv(tmp / "fill_value.csv", index=False)
        (tmp / "recipe.yaml").write_text(rec.to_yaml())
        (tmp / "slices.json").write_text(json.dumps(run.slices, indent=2, sort_keys=True))
        table.to_html(tmp / "comparison.html")
        ts.save(tmp / "training_set")
        (tmp / "run.json").write_text(json.dumps(run.to_dict(), indent=2, sort_keys=True))


# -- --check ----------------------------------------------------------------------------------------
_TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".txt")


def check_recipe(recipe: str | Path | Mapping[str, Any] | Recipe, *, output: str | Path | None = None,
                 registry: str | Path | None = None, trusted: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """What ``curakit run --check`` reports, without fitting anything: ``(errors, warnings)``, each a
    one-line message. Errors: missing or unsupported data paths, paths leaving the recipe's
    folder, eval sets whose columns differ from the training data's, an estimator that is not an
    allowed class (:mod:`curakit.trust`) or does not take its params, a model kind that does not fit
    the data, no model section while the registry has no champion, unknown strategies, strategies
    the recipe's own model cannot run, an output folder curakit would refuse to replace.
    Warnings: strategies the registry's champion cannot run (the run skips them)."""
    from curakit.adapters import is_torch_model
    from curakit.exceptions import CurakitError

    rec = _as_recipe(recipe)
    errors: list[str] = []
    warnings: list[str] = []

    def attempt(fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except (CurakitError, FileNotFoundError) as exc:
            errors.append(str(exc) if isinstance(exc, CurakitError) else f"no such file or folder: {exc.filename}.")
            return None

    data = rec.section("data")
    images = attempt(_check_data, rec, data)
    reg = attempt(_open_registry, rec, registry)
    model, champion = attempt(_check_model, rec, reg, images, [*rec.trusted, *trusted]) or (None, False)
    if model is not None and images and "scenario" not in data and is_torch_model(model):
        attempt(check_model_fits_images, rec, data, model)
    if model is not None:
        attempt(_check_gate_layer, model, rec.section("gate").get("layer"))
        names = rec.section("retrain").get("strategies")
        found = attempt(usable_strategies, model, names, champion=champion)
        for name, why in (found[1] if found else {}).items():
            warnings.append(f"strategy {name!r} cannot run on the registry's champion and will be skipped: {why}")
    out_dir = attempt(_output_path, rec, output)
    if out_dir is not None:
        attempt(check_output_dir, out_dir, "Recipe output folder")
    fsec = rec.section("fill")
    attempt(check_fill, fsec)
    for check in check_sections(rec):
        attempt(check)
    if isinstance(fsec.get("pipeline"), str) and fsec["pipeline"] != "default":
        p = attempt(rec.path, fsec["pipeline"], "fill.pipeline")
        if p is not None and not p.is_file():
            errors.append(f"Recipe key 'fill.pipeline' names {fsec['pipeline']!r}, which is not a file. Check the path.")
    return errors, warnings


def _check_data(rec: Recipe, data: Mapping[str, Any]) -> bool:
    """True for image data; one-line errors for missing keys, paths, kinds and eval-set columns."""
    if "scenario" in data:
        kind, _ = _check_scenario(data)
        return kind == "images"
    if "old" in data and is_image_path(rec.path(data["old"], "data.old")):
        _check_image_data(rec, data)
        return True
    for key in ("old", "new", "target"):
        if key not in data:
            raise ParameterError(f"Recipe section 'data' needs the key {key!r} (or 'scenario' for a bundled scenario).")
    columns: dict[str, list[str]] = {}
    frames: dict[str, pd.DataFrame] = {}
    for key in ("old", "new", "eval_old", "eval_new"):
        if key not in data:
            continue
        p = rec.path(data[key], f"data.{key}")
        if not p.exists():
            raise DataError(f"Recipe key 'data.{key}' names {data[key]!r}, which does not exist. Check the path.")
        if p.is_dir() or p.suffix.lower() not in _TABLE_SUFFIXES:
            raise DataError(
                f"Recipe key 'data.{key}' names {data[key]!r}, which is not a table file; recipes read Parquet or CSV "
                "(.parquet, .pq, .csv) here. Use a bundled image scenario or the Python API for image folders."
            )
        frames[key] = read_table(p, f"Recipe data.{key}")
        columns[key] = [str(c) for c in frames[key].columns]
    target = data["target"]
    if target not in columns["old"]:
        raise DataError(f"Recipe key 'data.target' is {target!r}, which is not a column of data.old. Check the name.")
    feats = list(data.get("features") or [c for c in columns["old"] if c not in (target, data.get("time"))])
    for key, cols in columns.items():
        missing = [c for c in [*feats, target] if c not in cols]
        if missing:
            raise DataError(f"Recipe data.{key} lacks the column {missing[0]!r} that the model uses "
                            f"({len(missing)} missing). Give tables with the same columns.")
    _check_dtypes(frames, feats)
    return False


def _check_image_data(rec: Recipe, data: Mapping[str, Any]) -> None:
    """Image data: every path exists and is image data of one image shape (read with curakit.imageio)."""
    from curakit.imageio import read_images

    shapes = {}
    for key in ("old", "new", "eval_old", "eval_new"):
        if key not in data:
            continue
        p = rec.path(data[key], f"data.{key}")
        if not is_image_path(p):
            raise DataError(f"Recipe key 'data.{key}' names {data[key]!r}, which is not image data like data.old "
                            "(a <class>/<image>.png folder, an .npz with images and labels, a table of image paths). "
                            "Check the path.")
        shapes[key] = read_images(p, label_col=data.get("target", "label"))[0].shape[1:]
    if len(set(shapes.values())) > 1:
        raise DataError(f"Recipe image data has images of different shapes ({', '.join(f'{k} {v}' for k, v in shapes.items())}). "
                        "Resize them to one size first.")


def _check_model(rec: Recipe, reg: Any, images: bool | None, trusted: list[str]) -> tuple[Any, bool]:
    """(a model to check the strategies on, whether it is the registry's champion)."""
    msec = rec.section("model")
    has_champion = reg is not None and reg.champion is not None
    source = msec.get("source", "registry" if has_champion else "estimator")
    if source == "registry":
        if not has_champion:
            raise ParameterError("Recipe key 'model.source' is 'registry' but the registry has no champion. Give "
                                 "model.estimator to fit the first model, or register one.")
        return reg.load(trusted=trusted), True
    if source != "estimator":
        raise ParameterError(f"Recipe key 'model.source' must be 'registry' or 'estimator'. Got {source!r} instead.")
    if "file" in msec:
        model = _model_file(rec, msec, trusted)
    elif "estimator" not in msec:
        raise ParameterError("The recipe has no model: give model.estimator (a class path such as "
                             "'sklearn.linear_model.LogisticRegression') or model.file when the registry has no "
                             "champion.")
    else:
        model = _import_estimator(msec["estimator"], msec.get("params", {}), trusted)
    from curakit.adapters import is_torch_model

    if images is not None and images != is_torch_model(model):
        want = "a torch nn.Module (images)" if images else "a scikit-learn estimator (tables)"
        key = "model.file" if "file" in msec else "model.estimator"
        raise ParameterError(f"Recipe key {key!r} names {msec.get('file', msec.get('estimator'))!r}, but the data "
                             f"needs {want}.")
    return model, False
