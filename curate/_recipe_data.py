"""Recipe helpers: image data on the user's own files, and the ``fill`` section's methods.

Image data: ``data.old`` / ``data.new`` (and ``eval_old`` / ``eval_new``) may name what
:func:`curakit.imageio.read_images` reads (an image folder ``<class>/<image>.png``, an ``.npz``
with ``images`` and ``labels``, a Parquet/CSV of image paths). Class names index by one list for
every set (the old data's ``classes.txt`` / ``.npz`` classes, else the sorted names of old and
new, as torchvision's ImageFolder); integer labels are the class index.

Fill estimate (section ``fill``: ``estimate``, default true; ``skip_if_harmful``, default false):
:func:`estimate_fills` runs ``curate.estimate_fill_value`` on every fill before the build and
records per fill its estimated gain on the new rows (all and its slice), its forgetting on the old
rows and the prior warnings; with ``skip_if_harmful: true`` a fill estimated clearly harmful is
not added (and listed as skipped).

Fill methods (section ``fill``): ``method: vae`` (``augment.generate``: keys ``n``,
``temperature``, ``epochs``, ``latent_dim``, ``copy_quantile``, ``clip``, ``condition``: class or
class+slice), for images and tables;
images otherwise ``pipeline:`` (``default``, albumentations' dict form, or a YAML/JSON file) through
``augment.offline``; tables otherwise the SMOTE family (``augment.oversample``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from curakit.exceptions import DataError, ParameterError
from curakit.seeds import check_random_state, child_seed

__all__ = ["VAE_KEYS", "build_engine", "check_fill", "check_model_fits_images", "check_sections", "engine_inputs",
           "estimate_fills", "fill_slice", "image_data", "is_image_path", "materialize", "measured_vs_estimate"]

#: ``fill`` keys that only ``method: vae`` takes (besides ``n``).
VAE_KEYS = ("temperature", "epochs", "latent_dim", "copy_quantile", "clip", "condition")


def is_image_path(path: Path) -> bool:
    from curakit.imageio import is_image_source

    return path.exists() and is_image_source(path)


def _read(rec: Any, data: Mapping[str, Any], key: str) -> tuple[np.ndarray, np.ndarray, Path]:
    from curakit.imageio import read_images

    p = rec.path(data[key], f"data.{key}")
    if not p.exists():
        raise DataError(f"Recipe key 'data.{key}' names {data[key]!r}, which does not exist. Check the path.")
    images, labels, _ = read_images(p, label_col=data.get("target", "label"))  # tables of image paths
    return images, labels, p


def _class_list(old: tuple, new: tuple) -> list[str] | None:
    from curakit.imageio import folder_class_names

    if old[1].dtype.kind in "iu" and new[1].dtype.kind in "iu":
        return None
    src = old[2]
    listed = folder_class_names(src) if src.is_file() or (src / "classes.txt").is_file() else []
    return listed or sorted({str(v) for v in [*old[1].tolist(), *new[1].tolist()]})


def _as_set(part: tuple, classes: list[str] | None) -> dict[str, np.ndarray]:
    from curakit.imageio import class_indices

    images, labels, src = part
    if classes is not None:
        labels = class_indices(labels, src, classes=classes)[0]
    return {"images": images, "labels": np.asarray(labels)}


def _holdout(part: dict[str, np.ndarray], fraction: float, seed: int) -> tuple[dict, dict]:
    n = len(part["labels"])
    n_hold = int(round(fraction * n))
    if n_hold < 1 or n_hold >= n:
        raise DataError(f"eval_fraction={fraction} of {n} images leaves no images on one side. Use a fraction in "
                        "(0, 1), or pass eval_old / eval_new.")
    mask = np.zeros(n, dtype=bool)
    mask[check_random_state(seed).choice(n, size=n_hold, replace=False)] = True
    return ({k: v[~mask] for k, v in part.items()}, {k: v[mask] for k, v in part.items()})


def image_data(rec: Any, data: Mapping[str, Any], seed: int) -> tuple[dict, dict, dict[str, dict], list[str] | None]:
    """(old_train, new_pool, {"old": eval, "new": eval}, class names or None) of image files."""
    if "time" in data or "features" in data:
        raise ParameterError("Recipe keys 'data.time' and 'data.features' apply to tables; image data has neither.")
    old, new = _read(rec, data, "old"), _read(rec, data, "new")
    classes = _class_list(old, new)
    shapes = {old[0].shape[1:], new[0].shape[1:]}
    if len(shapes) > 1:
        raise DataError(f"Recipe data.old images are shaped {old[0].shape[1:]} but data.new's {new[0].shape[1:]}. "
                        "Resize them to one size first.")
    frac = float(data.get("eval_fraction", 0.25))
    sets = {}
    for key, part, name in (("eval_old", old, "old"), ("eval_new", new, "new")):
        whole = _as_set(part, classes)
        if key in data:
            sets[name] = (whole, _as_set(_read(rec, data, key), classes))
        else:
            sets[name] = _holdout(whole, frac, child_seed(seed, "holdout", name))
    return sets["old"][0], sets["new"][0], {"old": sets["old"][1], "new": sets["new"][1]}, classes


def _vae_kwargs(fsec: Mapping[str, Any]) -> dict[str, Any]:
    kw: dict[str, Any] = {"n": int(fsec.get("n", 100))}
    for key in VAE_KEYS:
        if key in fsec:
            kw[key] = fsec[key]
    return kw


def check_fill(fsec: Mapping[str, Any]) -> None:
    """One-line errors for fill keys that the chosen method does not take."""
    method = fsec.get("method")
    extra = [k for k in VAE_KEYS if k in fsec]
    if extra and method != "vae":
        raise ParameterError(f"Recipe key 'fill.{extra[0]}' applies to method: vae only. Add method: vae or drop it.")
    if method == "vae" and "pipeline" in fsec:
        raise ParameterError("Recipe section 'fill' has method: vae and a pipeline; vae generates rows itself. "
                             "Drop one of them.")
    if fsec.get("skip_if_harmful", False) and not fsec.get("estimate", True):
        raise ParameterError("Recipe key 'fill.skip_if_harmful' needs the fill estimate; drop 'fill.estimate: "
                             "false' or 'skip_if_harmful'.")


def _pipeline(rec: Any, fsec: Mapping[str, Any], shape: tuple[int, ...]) -> Any:
    """``default`` (augment.default_pipeline: light, label-keeping), a dict form, or a file in the recipe's folder."""
    if "pipeline" not in fsec:
        raise ParameterError("Recipe section 'fill' needs 'pipeline' (default, an albumentations pipeline in dict "
                             "form, or a YAML/JSON file) or method: vae to fill image slices.")
    pipeline = fsec["pipeline"]
    if pipeline == "default":
        import augment

        return augment.default_pipeline(shape)
    return str(rec.path(pipeline, "fill.pipeline")) if isinstance(pipeline, str) else pipeline


def fill_slice(rec: Any, fsec: Mapping[str, Any], sl: Any, new_pool: Any, features: list[str], target: str,
               images: bool, seed: int, eval_sets: Mapping[str, Any] | None = None) -> Any:
    """The fill of one slice (what ``TrainingSetBuilder.add`` takes), or None when it made no rows."""
    import augment

    check_fill(fsec)
    if fsec.get("method") == "vae":
        if images:
            data, labels = new_pool["images"], new_pool["labels"]
            exclude = np.concatenate([e["images"] for e in eval_sets.values()]) if eval_sets else None
        else:
            data, labels = new_pool[features], new_pool[target].to_numpy()
            exclude = None
            if eval_sets:
                import pandas as pd

                exclude = pd.concat([e[features] for e in eval_sets.values()], ignore_index=True)
        out = augment.generate(data, labels, select=sl, method="vae", exclude=exclude, random_state=seed,
                               **_vae_kwargs(fsec))
        return out if len(out[0] if isinstance(out, tuple) else out.labels) else None
    if images:
        aug = augment.offline(new_pool["images"], new_pool["labels"],
                              _pipeline(rec, fsec, new_pool["images"].shape[1:]), select=sl,
                              n=int(fsec["n"]) if "n" in fsec else None, random_state=seed)
        return aug if len(aug.labels) else None
    kw: dict[str, Any] = {"method": fsec.get("method", "smote"), "select": sl, "random_state": seed}
    if "n" in fsec:
        kw["n"] = int(fsec["n"])
    if "k_neighbors" in fsec:
        kw["k_neighbors"] = int(fsec["k_neighbors"])
    out = augment.oversample(new_pool[features], new_pool[target].to_numpy(), origin="new", **kw)
    return out if (out[2]["operation"].astype(str) != "original").any() else None


def build_engine(bsec: Mapping[str, Any]) -> Any:
    """Section ``build``'s ``engine`` (pandas / dask / auto), ``scheduler`` and ``workers``:
    the context of :func:`curate.open_engine`, or a no-op for the default pandas build."""
    import contextlib
    import os

    engine = bsec.get("engine")
    if engine is None and not ("scheduler" in bsec or "workers" in bsec or os.environ.get("DASK_SCHEDULER_ADDRESS")):
        return contextlib.nullcontext(None)
    from ._dask.engine import open_engine

    return open_engine(engine or "auto", scheduler=bsec.get("scheduler"), workers=bsec.get("workers"))


def engine_inputs(engine: Any, old: Any, new: Any, images: bool, workers: int | None) -> tuple[Any, Any]:
    """The builder's old / new: Dask frames (one partition per worker) on the Dask engine, else as they are."""
    if engine is None or engine.name != "dask":
        return old, new
    if images:
        raise ParameterError("Recipe key 'build.engine' is dask, but image sets build in memory only. Drop "
                             "build.engine (and scheduler / workers) for image data.")
    from curakit.optional import import_optional

    dd = import_optional("dask.dataframe")
    parts = max(2, int(workers or 2))
    return dd.from_pandas(old, npartitions=parts), dd.from_pandas(new, npartitions=parts)


def materialize(ts: Any) -> Any:
    """A pandas TrainingSet (a Dask-built set is computed: strategies train in memory)."""
    return ts.to_pandas() if hasattr(ts, "to_pandas") else ts


def check_model_fits_images(rec: Any, data: Mapping[str, Any], model: Any) -> None:
    """``--check`` for image files and a torch model: its first layer takes their channels, a forward
    pass on two images runs, and it has an output for every class (one-line errors)."""
    from curakit.adapters import predict_proba
    from curakit.validation import model_input_channels

    old, new = _read(rec, data, "old"), _read(rec, data, "new")
    classes = _class_list(old, new)
    n_classes = len(classes) if classes is not None else int(max(old[1].max(), new[1].max())) + 1
    images = old[0]
    channels = model_input_channels(model)
    if channels is not None and images.shape[-1] != channels:
        raise DataError(f"Recipe data.old holds {images.shape[-1]}-channel images (shape {images.shape[1:]}) but the "
                        f"model's first layer takes {channels}. Convert the images or pass the matching model.")
    try:
        proba = predict_proba(model, images[:2])
    except Exception as exc:  # noqa: BLE001 - any failure of the user's forward pass is one line
        raise DataError(f"The model cannot take the recipe's images shaped {images.shape[1:]} "
                        f"({type(exc).__name__}). Resize the images (--resize HxW) or pass the matching model.") from None
    if proba.shape[1] < n_classes:
        raise DataError(f"The model has {proba.shape[1]} outputs but the recipe's images have {n_classes} classes. "
                        "Pass the matching model, or list the model's classes in classes.txt.")


def check_sections(rec: Any) -> list[Any]:
    """``--check`` of names and values the run would meet only after fitting: the callables to try,
    each raising a one-line error (diagnose methods, the fill method, the gate's values)."""
    import augment
    import diagnose
    from curakit.validation import check_interval

    checks: list[Any] = [lambda m=m: diagnose.DIAGNOSERS.get(m) for m in rec.section("diagnose").get("methods") or []]
    method = rec.section("fill").get("method")
    if method not in (None, "vae"):
        checks.append(lambda: augment.OVERSAMPLERS.get(method))
    gsec = rec.section("gate")
    for key in ("max_drop_old", "min_gain_new"):
        if key in gsec:
            low = 0.0 if key == "max_drop_old" else -1.0
            checks.append(lambda k=key, lo=low: check_interval(gsec[k], k, "Recipe section 'gate'", low=lo, high=1.0))

    def gate() -> None:
        from ._gate import Gate

        Gate(**gsec)

    checks.append(gate)
    return checks


# -- the fill estimate (section ``fill``: estimate, skip_if_harmful) --------------------------------
def _fill_row(fv: Any, name: str, sl: Any, max_forgetting: float) -> dict[str, Any]:
    per = fv.per_fill(max_forgetting).set_index("fill").loc[name]
    target = fv.to_frame().set_index(["fill", "slice"]).loc[(name, str(sl.id))]
    return {"fill": name, "slice": str(sl.id), "description": str(sl.description), "n_fill": int(per["n_fill"]),
            "gain": float(per["gain"]), "gain_low": float(per["gain_low"]), "gain_high": float(per["gain_high"]),
            "slice_gain": float(target["gain"]), "slice_low": float(target["low"]),
            "slice_high": float(target["high"]), "forgetting": float(per["forgetting"]),
            "forgetting_low": float(per["forgetting_low"]), "forgetting_high": float(per["forgetting_high"]),
            "prior_shift": float(per["prior_shift"]), "harmful": bool(per["harmful"]),
            "warnings": list(fv.priors[name]["warnings"])}


def estimate_fills(fsec: Mapping[str, Any], incumbent: Any, old_train: Any, new_pool: Any,
                   fills: Mapping[str, tuple[Any, Any]], features: list[str], target: str, images: bool, seed: int,
                   max_forgetting: float | None = None) -> tuple[dict[str, Any], Any]:
    """``curate.estimate_fill_value`` of every fill (``{name: (fill, slice)}``) before the build: (the run's
    record, the FillValue or None). Prior warnings are logged and recorded; with ``fill.skip_if_harmful``
    the fills whose estimate is clearly harmful (:meth:`FillValue.harmful` at ``max_forgetting``, the
    recipe's ``retrain.max_forgetting``, else 0.02) are listed in ``skipped`` and not added."""
    import logging
    import warnings

    from curakit.exceptions import CurakitError

    from ._fill_value import FillPriorWarning, estimate_fill_value

    log = logging.getLogger("curate._recipe")
    limit = 0.02 if max_forgetting is None else float(max_forgetting)
    record: dict[str, Any] = {"fills": [], "skipped": [], "warnings": [], "skip_if_harmful":
                              bool(fsec.get("skip_if_harmful", False)), "max_forgetting": limit}
    if not fills or not fsec.get("estimate", True):
        record["error"] = None if fills else "no fills"
        return record, None
    parts = {k: v[0] for k, v in fills.items()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FillPriorWarning)  # logged and recorded below, once
            fv = estimate_fill_value(incumbent, old_train, new_pool, parts, target=None if images else target,
                                     features=features or None, slices={str(s.id): s for _, s in fills.values()},
                                     parents="new", missing_parents="ignore", random_state=seed)
    except CurakitError as exc:  # the estimate is advice: a run goes on without it
        log.warning("recipe: fill estimate skipped: %s", exc)
        record["error"] = str(exc)
        return record, None
    for name, (_, sl) in fills.items():
        row = _fill_row(fv, name, sl, limit)
        row["added"] = not (record["skip_if_harmful"] and row["harmful"])
        record["fills"].append(row)
        if not row["added"]:
            record["skipped"].append(name)
            log.warning("recipe: fill %s (%s) skipped: estimated clearly harmful (gain %+.3f [%+.3f, %+.3f], "
                        "forgetting %+.3f [%+.3f, %+.3f])", name, sl.description, row["gain"], row["gain_low"],
                        row["gain_high"], row["forgetting"], row["forgetting_low"], row["forgetting_high"])
    for note in fv.warnings():
        log.warning("recipe: %s", note)
        record["warnings"].append(note)
    record["params"] = fv.params
    return record, fv


def measured_vs_estimate(record: Mapping[str, Any], table: Any, chosen: str) -> dict[str, Any]:
    """What the full retrain measured for the fills together: the chosen strategy (or, when it is a
    baseline, the best curated one on new) against ``naive`` (the same family without fills)."""
    frame = table.frame
    pick = chosen
    if chosen in ("do_nothing", "naive"):
        cands = frame[~frame["strategy"].isin(["do_nothing", "naive"])]
        pick = str(cands.sort_values("new", ascending=False, kind="mergesort").iloc[0]["strategy"]) if len(cands) \
            else chosen
    from ._compare import vs_naive

    return {"strategy": pick, "fills_added": [f["fill"] for f in record.get("fills", ()) if f["added"]],
            **vs_naive(frame, pick)}
