"""A model on disk: ``save_model_artifact`` / ``load_model_artifact`` (the version folders of
``curate.Registry`` and the ``model/`` folder of a saved ``RetrainResult``).

torch models: a state dict (read with ``weights_only=True``) plus an architecture spec whose class
is resolved through :func:`curakit.trust.resolve_class`; scikit-learn estimators: ``model.skops``
(types checked against the same allow-list), or a pickle (only when skops is missing or cannot
store the model; read back only with ``allow_pickle=True``). See :mod:`curate._modelregistry` for
what the hashes do and do not protect against."""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import pickle
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from curakit.adapters import is_torch_model
from curakit.exceptions import ParameterError, RegistryError
from curakit.optional import import_optional
from curakit.records import json_ready

from ._evaluation import model_hash

__all__ = ["load_model_artifact", "save_model_artifact"]

SCHEMA_VERSION = 1

logger = logging.getLogger(__name__)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -- model artefacts ------------------------------------------------------------------------
_JSON_SCALARS = (bool, int, float, str, type(None))


def _json_ok(value: Any) -> bool:
    if isinstance(value, _JSON_SCALARS):
        return True
    if isinstance(value, (list, tuple)):
        return all(_json_ok(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_ok(v) for k, v in value.items())
    return False


def _torch_spec(model: Any, init_kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    torch = import_optional("torch")
    from ._strategies import _ENSEMBLE_CLASS

    if _ENSEMBLE_CLASS and isinstance(model, _ENSEMBLE_CLASS[0]):
        return {"kind": "ensemble", "weights": model.weights.tolist(),
                "members": [_torch_spec(m) for m in model.members]}
    cls = type(model)
    spec: dict[str, Any] = {"kind": "module", "class": f"{cls.__module__}:{cls.__qualname__}", "init_kwargs": {},
                            "linear_shapes": {}, "rebuildable": True, "why_not": None}
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        spec.update(rebuildable=False, why_not=f"class {cls.__qualname__} is not importable (defined in "
                    f"{'a function' if '<locals>' in cls.__qualname__ else '__main__'})")
    kwargs: dict[str, Any] = {}
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):  # pragma: no cover
        sig = None
    for name, p in (list(sig.parameters.items())[1:] if sig else []):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if init_kwargs and name in init_kwargs:
            kwargs[name] = init_kwargs[name]
        elif hasattr(model, name) and _json_ok(getattr(model, name)):
            kwargs[name] = getattr(model, name)
        elif p.default is p.empty and spec["rebuildable"]:
            spec.update(rebuildable=False, why_not=f"the value of init argument {name!r} is not recorded")
    spec["init_kwargs"] = json_ready(kwargs)
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Linear):
            spec["linear_shapes"][name] = [m.in_features, m.out_features, m.bias is not None]
    return spec


def _build_from_spec(spec: Mapping[str, Any], trusted: Sequence[str] = (), where: str = "model.json") -> Any:
    torch = import_optional("torch")
    if spec["kind"] == "ensemble":
        from ._strategies import _ensemble_class

        return _ensemble_class()([_build_from_spec(m, trusted, where) for m in spec["members"]], spec["weights"])
    if not spec.get("rebuildable", True):
        raise RegistryError(
            f"The stored model cannot be rebuilt from its spec: {spec.get('why_not')}. Pass factory= (a callable "
            "returning an untrained instance of the same architecture) to load it."
        )
    from curakit.trust import resolve_class

    try:  # model.json is data: it may name an allowed module class, never a function or any module
        cls = resolve_class(spec.get("class"), kind="module", trusted=trusted, where=f"{where} 'spec.class'")
    except ParameterError as exc:
        raise RegistryError(str(exc)) from None
    model = cls(**spec["init_kwargs"])
    for name, (fan_in, fan_out, bias) in spec.get("linear_shapes", {}).items():
        current = model.get_submodule(name) if name else model
        if isinstance(current, torch.nn.Linear) and (current.in_features, current.out_features) != (fan_in, fan_out):
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, attr, torch.nn.Linear(fan_in, fan_out, bias=bias))
    return model


def save_model_artifact(model: Any, folder: str | Path, *, preprocessor: Any = None,
                        init_kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write ``model`` (and the preprocessing) into ``folder``; return the ``model.json`` record."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if is_torch_model(model):
        torch = import_optional("torch")
        spec = _torch_spec(model, init_kwargs)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(state, folder / "model.pt")
        if spec.get("rebuildable", True) and spec["kind"] == "module":
            try:  # prove the spec rebuilds this exact architecture (its module is imported already)
                _build_from_spec(spec, trusted=[type(model).__module__]).load_state_dict(state, strict=True)
            except Exception as exc:  # noqa: BLE001 - any failure means "needs a factory"
                spec.update(rebuildable=False, why_not=f"rebuilding from the spec failed ({type(exc).__name__})")
        record = {"format": "torch-state-dict", "file": "model.pt", "spec": spec}
    else:
        record = _save_estimator(model, folder)
    record["sha256"] = _sha256_file(folder / record["file"])
    record["model_hash"] = model_hash(model)
    record["schema_version"] = SCHEMA_VERSION
    if preprocessor is not None:
        record["preprocessor"] = _save_preprocessor(preprocessor, folder)
        record["preprocessor"].setdefault("sha256", _sha256_file(folder / record["preprocessor"]["file"]))
    (folder / "model.json").write_text(json.dumps(json_ready(record), indent=2, sort_keys=True))
    return record


def _save_estimator(model: Any, folder: Path) -> dict[str, Any]:
    """A scikit-learn estimator as ``model.skops`` (no code runs when it is read back), or as a
    pickle with a warning when skops is missing or cannot store it."""
    cls = type(model)
    record: dict[str, Any] = {"class": f"{cls.__module__}:{cls.__qualname__}"}
    try:
        import sklearn

        record["sklearn_version"] = sklearn.__version__
    except ImportError:  # pragma: no cover
        pass
    why = None
    try:
        import skops
        import skops.io as sio
    except ImportError:
        why = "skops is not installed (pip install 'curakit[secure]')"
    if why is None:
        try:
            data = sio.dumps(model)
            sio.loads(data, trusted=sio.get_untrusted_types(data=data))  # it must read back
        except Exception as exc:  # noqa: BLE001 - any failure means "skops cannot store this model"
            why = f"skops cannot store it ({type(exc).__name__})"
        else:
            (folder / "model.skops").write_bytes(data)
            return {**record, "format": "sklearn-skops", "file": "model.skops", "skops_version": skops.__version__}
    warnings.warn(f"Stored {cls.__name__} as a pickle: {why}. Loading it back will need allow_pickle=True "
                  "(--allow-pickle), because unpickling runs code.", UserWarning, stacklevel=3)
    with open(folder / "model.pkl", "wb") as fh:
        pickle.dump(model, fh, protocol=5)
    return {**record, "format": "sklearn-pickle", "file": "model.pkl", "why_pickle": why}


def _save_preprocessor(pre: Any, folder: Path) -> dict[str, Any]:
    try:
        from ._preprocess import preprocessor_to_dict
    except ImportError:
        preprocessor_to_dict = None
    if preprocessor_to_dict is not None:
        (folder / "preprocess.json").write_text(json.dumps(preprocessor_to_dict(pre), indent=2, sort_keys=True))
        return {"format": "json", "file": "preprocess.json"}
    with open(folder / "preprocess.pkl", "wb") as fh:  # pragma: no cover - only before _preprocess exists
        pickle.dump(pre, fh, protocol=5)
    return {"format": "pickle", "file": "preprocess.pkl", "sha256": _sha256_file(folder / "preprocess.pkl")}


def _read_record(folder: Path, expected_meta_sha256: str | None) -> dict[str, Any]:
    meta_path = folder / "model.json"
    if not meta_path.is_file():
        raise RegistryError(f"{str(folder)!r} holds no model (model.json is missing). Restore it or load another version.")
    raw = meta_path.read_bytes()
    if expected_meta_sha256 and hashlib.sha256(raw).hexdigest() != expected_meta_sha256:
        raise RegistryError(
            f"{str(meta_path)!r} does not match the sha256 recorded in registry.json: it was edited after the "
            "version was registered. Restore it or load another version."
        )
    try:
        record = json.loads(raw)
        _ = record["file"], record["sha256"], record["format"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise RegistryError(f"{str(meta_path)!r} is not a curakit model record (truncated or edited). "
                            "Restore it or load another version.") from None
    return record


def _check_hashes(folder: Path, record: Mapping[str, Any], expected_sha256: str | None) -> Path:
    """Every recorded hash agrees with its file, before anything is read: the weights against
    ``model.json`` and ``registry.json``'s record, the preprocessing against ``model.json``."""
    path = folder / str(record["file"])
    if path.parent != folder or not path.is_file():
        raise RegistryError(f"{str(folder / 'model.json')!r} names a model file that is not in the version folder. "
                            "Restore the folder or load another version.")
    actual = _sha256_file(path)
    if actual != record["sha256"]:
        raise RegistryError(
            f"Model file {str(path)!r} does not match its recorded sha256: it was changed or truncated. "
            "Restore it or load another version."
        )
    if expected_sha256 is not None and actual != expected_sha256:
        raise RegistryError(
            f"Model file {str(path)!r} does not match the sha256 recorded in registry.json: it was replaced. "
            "Restore it or load another version."
        )
    pinfo = record.get("preprocessor")
    if pinfo and ((folder / str(pinfo.get("file"))).parent != folder or not (folder / str(pinfo.get("file"))).is_file()):
        raise RegistryError(f"{str(folder / 'model.json')!r} names a preprocessing file that is not in the version "
                            "folder. Restore the folder or load another version.")
    if pinfo and pinfo.get("sha256") and _sha256_file(folder / pinfo["file"]) != pinfo["sha256"]:
        raise RegistryError(f"Preprocessing file {str(folder / pinfo['file'])!r} does not match its recorded sha256: "
                            "it was changed. Restore it or load another version.")
    return path


def _load_skops(path: Path, trusted: Sequence[str]) -> Any:
    sio = import_optional("skops.io")
    from curakit.trust import is_trusted

    types = sio.get_untrusted_types(file=path)
    refused = sorted(t for t in types if not is_trusted(t.rpartition(".")[0], trusted))
    if refused:
        modules = sorted({t.split(".")[0] for t in refused})
        raise RegistryError(
            f"Model file {str(path)!r} holds types from modules that are not trusted ({', '.join(refused[:5])}): "
            f"reading them could run their code. If you wrote the model, pass trusted=[{modules[0]!r}] "
            f"(--trust {modules[0]})."
        )
    return sio.load(path, trusted=types)


def _load_pickle(path: Path, allow_pickle: bool) -> Any:
    if not (allow_pickle or os.environ.get("CURAKIT_ALLOW_PICKLE") == "1"):
        raise RegistryError(
            f"Model file {str(path)!r} is a pickle (written before curakit stored scikit-learn models with skops, "
            "or without skops): unpickling runs any code it holds. If you wrote it, load with allow_pickle=True "
            "(--allow-pickle, or CURAKIT_ALLOW_PICKLE=1)."
        )
    warnings.warn(f"Unpickling {str(path)!r}: this runs any code the file holds; do it only for models you wrote.",
                  UserWarning, stacklevel=4)
    logger.warning("unpickling %s (allow_pickle): this runs any code the file holds", path)
    with open(path, "rb") as fh:
        return pickle.load(fh)  # noqa: S301 - explicit opt-in, warned, sha256 checked


def load_model_artifact(folder: str | Path, *, factory: Callable[[], Any] | None = None,
                        expected_sha256: str | None = None, expected_meta_sha256: str | None = None,
                        trusted: Sequence[str] = (), allow_pickle: bool = False) -> tuple[Any, Any]:
    """(model, preprocessor or None) from a folder written by :func:`save_model_artifact`.

    Every hash is checked before anything is unpickled, imported or constructed: ``model.json``
    against ``expected_meta_sha256`` and the weights against ``model.json`` and
    ``expected_sha256`` (the registry's own records), so editing one file is not enough. A torch
    spec's class goes through :func:`curakit.trust.resolve_class` (``trusted`` adds modules);
    a skops file may only hold types of trusted modules; a pickle is read only with
    ``allow_pickle=True`` (or ``CURAKIT_ALLOW_PICKLE=1``), with a warning."""
    folder = Path(folder)
    record = _read_record(folder, expected_meta_sha256)
    path = _check_hashes(folder, record, expected_sha256)
    fmt = record["format"]
    if fmt == "torch-state-dict":
        torch = import_optional("torch")
        model = factory() if factory is not None else _build_from_spec(record["spec"], trusted, str(folder / "model.json"))
        state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise RegistryError(
                f"The stored weights do not fit the rebuilt model ({str(exc).splitlines()[0]}). "
                "Pass factory= returning the same architecture."
            ) from None
        model.eval()
    elif fmt == "sklearn-skops":
        model = _load_skops(path, trusted)
    elif fmt == "sklearn-pickle":
        model = _load_pickle(path, allow_pickle)
    else:
        raise RegistryError(f"Unknown model format {fmt!r} in {str(folder / 'model.json')!r}. "
                            "Open it with the curakit version that wrote it.")
    return model, _load_preprocessor(folder, record.get("preprocessor"), allow_pickle)


def _load_preprocessor(folder: Path, pinfo: Mapping[str, Any] | None, allow_pickle: bool) -> Any:
    if not pinfo:
        return None
    if pinfo["format"] == "json":
        from ._preprocess import preprocessor_from_dict

        return preprocessor_from_dict(json.loads((folder / pinfo["file"]).read_text()))
    return _load_pickle(folder / pinfo["file"], allow_pickle)  # pragma: no cover - only before _preprocess
