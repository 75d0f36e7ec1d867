"""A model on disk: ``save_model_artifact`` / ``load_model_artifact`` (the version folders of
``curate.Registry`` and the ``model/`` folder of a saved ``RetrainResult``; see
:mod:`curate._modelregistry` for the file formats and the pickle trade-off)."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from curakit.adapters import is_torch_model
from curakit.exceptions import RegistryError
from curakit.optional import import_optional
from curakit.records import json_ready

from ._evaluation import model_hash

__all__ = ["load_model_artifact", "save_model_artifact"]

SCHEMA_VERSION = 1


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


def _build_from_spec(spec: Mapping[str, Any]) -> Any:
    torch = import_optional("torch")
    if spec["kind"] == "ensemble":
        from ._strategies import _ensemble_class

        return _ensemble_class()([_build_from_spec(m) for m in spec["members"]], spec["weights"])
    if not spec.get("rebuildable", True):
        raise RegistryError(
            f"The stored model cannot be rebuilt from its spec: {spec.get('why_not')}. Pass factory= (a callable "
            "returning an untrained instance of the same architecture) to load it."
        )
    module_name, qual = spec["class"].split(":", 1)
    obj: Any = importlib.import_module(module_name)
    for part in qual.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, torch.nn.Module)):
        # model.json is data: it may name a module class to rebuild, never a function to call
        raise RegistryError(
            f"The stored model spec names {spec['class']!r}, which is not a torch nn.Module class; the registry was "
            "edited. Load it with factory= (a callable returning an untrained instance) or restore it."
        )
    model = obj(**spec["init_kwargs"])
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
            try:  # prove the spec rebuilds this exact architecture
                _build_from_spec(spec).load_state_dict(state, strict=True)
            except Exception as exc:  # noqa: BLE001 - any failure means "needs a factory"
                spec.update(rebuildable=False, why_not=f"rebuilding from the spec failed ({type(exc).__name__})")
        record = {"format": "torch-state-dict", "file": "model.pt", "spec": spec}
    else:
        with open(folder / "model.pkl", "wb") as fh:
            pickle.dump(model, fh, protocol=5)
        cls = type(model)
        record = {"format": "sklearn-pickle", "file": "model.pkl", "class": f"{cls.__module__}:{cls.__qualname__}"}
        try:
            import sklearn

            record["sklearn_version"] = sklearn.__version__
        except ImportError:  # pragma: no cover
            pass
    record["sha256"] = _sha256_file(folder / record["file"])
    record["model_hash"] = model_hash(model)
    record["schema_version"] = SCHEMA_VERSION
    if preprocessor is not None:
        record["preprocessor"] = _save_preprocessor(preprocessor, folder)
    (folder / "model.json").write_text(json.dumps(json_ready(record), indent=2, sort_keys=True))
    return record


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


def load_model_artifact(folder: str | Path, *, factory: Callable[[], Any] | None = None,
                        expected_sha256: str | None = None) -> tuple[Any, Any]:
    """(model, preprocessor or None) from a folder written by :func:`save_model_artifact`.

    ``expected_sha256`` (the registry's own record) must match the weights file as well as the
    hash in ``model.json``, so editing one file is not enough to swap the weights."""
    folder = Path(folder)
    meta_path = folder / "model.json"
    if not meta_path.is_file():
        raise RegistryError(f"{str(folder)!r} holds no model (model.json is missing).")
    record = json.loads(meta_path.read_text())
    path = folder / record["file"]
    actual = _sha256_file(path)
    if actual != record["sha256"]:
        raise RegistryError(
            f"Model file {str(path)!r} does not match its recorded sha256: it was changed or truncated. "
            "Restore it or load another version."
        )
    if expected_sha256 and actual != expected_sha256:
        raise RegistryError(
            f"Model file {str(path)!r} does not match the sha256 recorded in registry.json: it was replaced. "
            "Restore it or load another version."
        )
    if record["format"] == "torch-state-dict":
        torch = import_optional("torch")
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = factory() if factory is not None else _build_from_spec(record["spec"])
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise RegistryError(
                f"The stored weights do not fit the rebuilt model ({str(exc).splitlines()[0]}). "
                "Pass factory= returning the same architecture."
            ) from None
        model.eval()
    elif record["format"] == "sklearn-pickle":
        with open(path, "rb") as fh:
            model = pickle.load(fh)  # noqa: S301 - documented trade-off, sha256 checked above
    else:
        raise RegistryError(f"Unknown model format {record['format']!r} in {str(meta_path)!r}.")
    pre = None
    pinfo = record.get("preprocessor")
    if pinfo:
        if pinfo["format"] == "json":
            from ._preprocess import preprocessor_from_dict

            pre = preprocessor_from_dict(json.loads((folder / pinfo["file"]).read_text()))
        else:  # pragma: no cover
            with open(folder / pinfo["file"], "rb") as fh:
                pre = pickle.load(fh)  # noqa: S301
    return model, pre
