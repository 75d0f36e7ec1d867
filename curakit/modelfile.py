"""One loader for every ``--model`` form the command line takes.

:func:`load_model` accepts, by what the path is:

* a curakit registry folder (``REG``: its champion; ``REG@v3``: version v3);
* a torch state dict (``.pt``/``.pth`` holding tensors) with ``model_class="module:Class"`` and
  optional ``model_kwargs`` (a JSON object of the class's init arguments);
* a whole pickled ``nn.Module`` (``torch.save(model)``): loading it **runs code from the file**,
  so curakit logs a warning first; use only files you trust;
* a TorchScript file (``torch.jit.save``) and a ``torch.export`` program (``.pt2``);
* a scikit-learn estimator: ``.skops`` (read with ``skops.io``, which refuses unknown types
  unless trusted), or ``.joblib`` / ``.pkl`` / ``.pickle`` (pickle: **runs code**, warned).

The working folder and every ``import_paths`` entry are put on ``sys.path`` first, so a class
defined in the user's own module (``mymodel:Net``) imports from a console-script run. Every
failure is a :class:`~curakit.exceptions.ParameterError` / :class:`~curakit.exceptions.DataError`
with one line naming the fix.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from curakit.exceptions import DataError, ParameterError
from curakit.optional import import_optional

__all__ = ["CODE_WARNING", "add_import_paths", "load_model", "model_kind", "resolve_model_class"]

logger = logging.getLogger(__name__)

#: The warning logged before anything that unpickles (and so may run code from the file).
CODE_WARNING = (
    "loading {name!r} unpickles it, which runs any code the file holds; load only files you made or trust."
)

_PICKLE = (".pkl", ".pickle", ".joblib")
_TORCH = (".pt", ".pth", ".bin", ".ts", ".jit")


def add_import_paths(paths: Sequence[str | os.PathLike] = ()) -> None:
    """Put the working folder and ``paths`` at the front of ``sys.path`` (once each)."""
    for entry in [os.getcwd(), *[str(Path(p).resolve()) for p in paths]]:
        if entry not in sys.path:
            sys.path.insert(0, entry)


def resolve_model_class(spec: str, trusted: Sequence[str] = ()) -> type:
    """``"module:Class"`` (or ``module.Class``) -> the torch ``nn.Module`` subclass it names."""
    try:
        from curakit.trust import resolve_class  # the allow-list resolver, where present
    except ImportError:
        resolve_class = None
    if resolve_class is not None:
        # a class named on the command line is the user's own choice: its module counts as trusted
        module = spec.partition(":")[0] if ":" in spec else spec.rpartition(".")[0]
        return resolve_class(spec, kind="module", trusted=[*trusted, module], where="--model-class")
    module_name, sep, cls_name = spec.partition(":")
    if not sep:
        module_name, _, cls_name = spec.rpartition(".")
    if not module_name or not cls_name:
        raise ParameterError(f"--model-class {spec!r} must read module:Class (for example mymodel:Net).")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ParameterError(
            f"--model-class {spec!r}: module {module_name!r} cannot be imported ({type(exc).__name__}). "
            "Run from the folder holding it or pass --import-path DIR."
        ) from None
    cls = getattr(module, cls_name, None)
    torch = import_optional("torch")
    if not isinstance(cls, type) or not issubclass(cls, torch.nn.Module):
        raise ParameterError(
            f"--model-class {spec!r} is not a torch nn.Module class in {module_name!r}. Name the model's class."
        )
    return cls


def _kwargs(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise ParameterError("--model-kwargs is not valid JSON. Pass an object such as '{\"width\": 16}'.") from None
    if not isinstance(value, dict):
        raise ParameterError(f"--model-kwargs must be a JSON object; got a {type(value).__name__}.")
    return value


def _split_registry(spec: str) -> tuple[Path, str | None]:
    head, at, tail = spec.rpartition("@")
    if at and tail and "/" not in tail and not Path(spec).exists():
        return Path(head), tail
    return Path(spec), None


def model_kind(path: Path) -> str:
    """``registry``, ``torch``, ``export``, ``skops`` or ``pickle`` by what ``path`` is."""
    if path.is_dir():
        if (path / "registry.json").is_file():
            return "registry"
        raise DataError(f"--model {path.name!r} is a folder but not a curakit registry (no registry.json). "
                        "Pass a registry, or a model file (.pt, .pt2, .skops, .joblib).")
    suffix = path.suffix.lower()
    if suffix == ".pt2":
        return "export"
    if suffix == ".skops":
        return "skops"
    if suffix in _PICKLE:
        return "pickle"
    if suffix in _TORCH:
        return "torch"
    raise DataError(f"--model {path.name!r}: unknown model file kind {suffix!r}. Use a registry folder, "
                    ".pt/.pth (state dict, whole module or TorchScript), .pt2 (torch.export), .skops or .joblib/.pkl.")


def load_model(spec: str, model_class: str | None = None, model_kwargs: str | None = None, *,
               import_paths: Sequence[str | os.PathLike] = (), trusted: Sequence[str] = (),
               registry_loader: Callable[[Path, str | None], Any] | None = None) -> Any:
    """The model ``spec`` names (see the module docstring for the forms).

    A registry folder is read by ``registry_loader(folder, version)`` (curakit's core does not
    import the stages; the CLI passes ``curate.Registry``'s loader)."""
    add_import_paths(import_paths)
    _kwargs(model_kwargs)  # bad JSON is refused for every model form, before anything is loaded
    path, version = _split_registry(spec)
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    kind = model_kind(path)
    if model_class and kind not in ("torch",):
        raise ParameterError(f"--model-class applies to a torch state dict (.pt); {path.name!r} is a {kind} model.")
    if kind == "registry":
        if registry_loader is None:
            raise ParameterError(f"--model {path.name!r} is a registry; load it with curate.Registry(path).load().")
        try:
            return registry_loader(path, version)
        except ImportError as exc:
            raise ParameterError(f"--model {path.name!r}: the model's module cannot be imported ({exc.name!r}). "
                                 "Run from the folder holding it or pass --import-path DIR.") from None
    if kind == "skops":
        return _load_skops(path)
    if kind == "pickle":
        return _load_pickle(path)
    if kind == "export":
        return _load_export(path)
    return _load_torch(path, model_class, model_kwargs, trusted)


def _load_skops(path: Path) -> Any:
    sio = import_optional("skops.io")
    try:
        untrusted = sio.get_untrusted_types(file=path)
        for name in untrusted:
            if name.split(".")[0] not in ("sklearn", "numpy", "scipy", "builtins", "collections"):
                raise ParameterError(f"--model {path.name!r} holds type {name!r}, not scikit-learn's; skops refuses "
                                     "to load it. Save the estimator with plain scikit-learn classes.")
        return sio.load(path, trusted=untrusted)
    except ParameterError:
        raise
    except Exception as exc:  # skops raises many kinds on a damaged file
        raise DataError(f"--model {path.name!r} is not a readable skops file ({type(exc).__name__}). "
                        "Save it with skops.io.dump.") from None


def _load_pickle(path: Path) -> Any:
    logger.warning(CODE_WARNING.format(name=path.name))
    joblib = import_optional("joblib")
    try:
        return joblib.load(path)
    except ImportError as exc:
        raise ParameterError(f"--model {path.name!r} needs module {exc.name!r}, which cannot be imported. "
                             "Run from the folder holding it or pass --import-path DIR.") from None
    except Exception as exc:
        raise DataError(f"--model {path.name!r} is not a readable joblib/pickle file ({type(exc).__name__}). "
                        "Save the estimator with joblib.dump or skops.io.dump.") from None


def _load_export(path: Path) -> Any:
    torch = import_optional("torch")
    try:
        return torch.export.load(str(path)).module()
    except Exception as exc:
        raise DataError(f"--model {path.name!r} is not a readable torch.export program ({type(exc).__name__}). "
                        "Save it with torch.export.save.") from None


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("/constants.pkl") or n.endswith("/code/__torch__.py") or "/code/" in n
                       for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _jit_load(torch: Any, path: Path) -> Any:
    """``torch.jit.load`` without torch's "`torch.jit.load` is deprecated" FutureWarning (that warning only:
    a TorchScript file is what the user has, and the message names nothing they can fix)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated", category=FutureWarning)
        return torch.jit.load(str(path), map_location="cpu")


def _load_torch(path: Path, model_class: str | None, model_kwargs: str | None, trusted: Sequence[str]) -> Any:
    torch = import_optional("torch")
    if _is_torchscript(path):
        try:
            return _jit_load(torch, path)
        except Exception as exc:
            raise DataError(f"--model {path.name!r} is not a readable TorchScript file ({type(exc).__name__}). "
                            "Save it with torch.jit.save.") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not tensors only: a whole pickled module, or not a torch file at all
        obj = None
    if obj is None:
        if model_class and not zipfile.is_zipfile(path):
            raise DataError(f"--model {path.name!r} is not a file torch.save wrote (damaged, truncated or another "
                            "format). Save the weights with torch.save(model.state_dict(), path).")
        if model_class:
            raise DataError(f"--model {path.name!r} is not a state dict (torch.save(model.state_dict(), ...)). "
                            "Save the state dict, or drop --model-class for a whole saved module.")
        return _load_whole_module(path, torch)
    if not isinstance(obj, dict):
        raise DataError(f"--model {path.name!r} holds a {type(obj).__name__}, not a state dict or a model.")
    if not model_class:
        raise ParameterError(f"--model {path.name!r} is a state dict; pass --model-class module:Class "
                             "(and --model-kwargs JSON) to rebuild the model.")
    cls = resolve_model_class(model_class, trusted)
    kwargs = _kwargs(model_kwargs)
    try:
        model = cls(**kwargs)
    except TypeError as exc:
        raise ParameterError(f"--model-class {model_class!r} cannot be built with --model-kwargs {sorted(kwargs)} "
                             f"({str(exc).splitlines()[0][:120]}). Pass its init arguments as JSON.") from None
    try:
        model.load_state_dict(obj)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        first = next((ln for ln in lines if not ln.endswith(":")), lines[0] if lines else type(exc).__name__)[:160].rstrip(".")
        raise DataError(f"The state dict {path.name!r} does not fit {model_class!r} ({first}). Pass the class and "
                        "--model-kwargs the weights were saved from.") from None
    model.eval()
    return model


def _load_whole_module(path: Path, torch: Any) -> Any:
    logger.warning(CODE_WARNING.format(name=path.name))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)  # noqa: S614 - warned above, documented
    except (ImportError, AttributeError) as exc:
        name = getattr(exc, "name", None) or "its class"
        raise ParameterError(f"--model {path.name!r} needs {name!r}, which cannot be imported. "
                             "Run from the folder holding the model's module or pass --import-path DIR.") from None
    except Exception as exc:
        raise DataError(f"--model {path.name!r} is not a torch, skops or joblib model file ({type(exc).__name__}). "
                        "Check the file.") from None
    if not isinstance(obj, torch.nn.Module):
        raise DataError(f"--model {path.name!r} holds a {type(obj).__name__}, not a torch nn.Module.")
    obj.eval()
    return obj
