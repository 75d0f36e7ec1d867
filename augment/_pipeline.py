"""albumentations pipelines: loading, seeding, applying, recording and replaying.

A pipeline is an albumentations ``Compose`` (or a single transform), its dict form
(``A.to_dict``: ``{"__version__": ..., "transform": {...}}``, or the bare ``{"__class_fullname__":
"Compose", ...}``), or the path of a YAML / JSON file holding that dict (``A.save``). Transform
names are checked before anything runs; an unknown name raises with a did-you-mean.

Reproducibility: every augmented image gets its own seed. Before the image is transformed the
pipeline's random state is set from that seed alone (:func:`seed_pipeline`: one numpy
``Generator`` and one ``random.Random``, shared by every transform, re-seeded in place), so the
image depends only on (pipeline, parent image, seed): the same in any process, any order, any
``n_jobs``.
The parameters albumentations actually applied are recorded too (each transform's ``params``
after the call, in pipeline order; the same information as ``save_applied_params``, without the
extra key travelling through every transform),
JSON-able; arrays larger than :data:`MAX_ARRAY` values (noise maps, ...) are recorded by shape,
dtype and a CRC-32 of a sample of their values (the seed reproduces them exactly).
:func:`replay` re-applies a manifest row to its parent and checks the parameters match.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pickle
import random
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from curakit.exceptions import DataError, ParameterError, UnknownNameError
from curakit.optional import import_optional
from curakit.plugins import did_you_mean
from curakit.records import json_ready

__all__ = [
    "MAX_ARRAY",
    "apply_chunk",
    "apply_pipeline",
    "pcg64_words",
    "load_pipeline",
    "pipeline_dict",
    "pipeline_fingerprint",
    "applied_json",
    "record_params",
    "replay",
    "seed_pipeline",
    "splitmix64",
    "transform_names",
]

#: Arrays in applied parameters up to this many values are recorded in full.
MAX_ARRAY = 64

_NON_TRANSFORMS = {
    "BaseCompose",
    "BasicTransform",
    "DualTransform",
    "ImageOnlyTransform",
    "Transform3D",
    "KeypointParams",
    "BboxParams",
}


def _albumentations():
    return import_optional("albumentations")


def transform_names() -> list[str]:
    """The transform and composition names albumentations can build from a dict."""
    _albumentations()
    from albumentations.core.serialization import SERIALIZABLE_REGISTRY

    return sorted(
        n for n in SERIALIZABLE_REGISTRY if not n.startswith("_") and n not in _NON_TRANSFORMS and not n.startswith("Base")
    )


def _check_names(node: Any, known: set[str], where: str) -> None:
    if not isinstance(node, Mapping):
        raise DataError(
            f"{where}: every transform must be a mapping with '__class_fullname__'. Got {type(node).__name__} instead."
        )
    name = node.get("__class_fullname__")
    if not isinstance(name, str):
        raise DataError(
            f"{where}: a transform lacks '__class_fullname__'. Write pipelines with albumentations.save or A.to_dict."
        )
    short = name.rsplit(".", 1)[-1]
    if short not in known:
        raise UnknownNameError(
            f"Unknown albumentations transform {short!r} in {where}.{did_you_mean(short, sorted(known))} "
            "See albumentations' list of transforms."
        )
    for child in node.get("transforms", []) or []:
        _check_names(child, known, where)


def _from_dict(data: Mapping[str, Any], where: str):
    A = _albumentations()
    if "transform" in data and isinstance(data["transform"], Mapping):
        full = dict(data)
    elif "__class_fullname__" in data:
        full = {"__version__": A.__version__, "transform": dict(data)}
    else:
        raise DataError(
            f"{where} is not an albumentations pipeline: it has neither 'transform' nor '__class_fullname__'. "
            "Write it with albumentations.save(pipeline, path) or A.to_dict(pipeline)."
        )
    _check_names(full["transform"], set(transform_names()), where)
    try:
        built = A.from_dict(full)
    except (TypeError, ValueError, KeyError) as exc:
        raise DataError(f"{where} could not be built by albumentations: {exc}".rstrip(".") + ". Fix the parameters.") from None
    return built


def _read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise DataError(f"Pipeline file {str(path)!r} does not exist. Pass the path of a YAML or JSON pipeline file.")
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise DataError(
            f"Pipeline file {path.name!r} has suffix {suffix!r}. Use a .yaml, .yml or .json file "
            "written by albumentations.save."
        )
    text = path.read_text(encoding="utf-8")
    try:
        if suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse error means the same thing to the user
        raise DataError(
            f"Pipeline file {path.name!r} is not valid {suffix.lstrip('.').upper()} ({type(exc).__name__}). Fix its syntax."
        ) from None
    if not isinstance(data, Mapping):
        raise DataError(
            f"Pipeline file {path.name!r} must hold a mapping (albumentations' dict form). Got {type(data).__name__}."
        )
    return dict(data)


def load_pipeline(pipeline: Any):
    """A private, ready-to-run ``Compose`` built from any accepted pipeline form."""
    A = _albumentations()
    if isinstance(pipeline, (str, os.PathLike)):
        path = Path(pipeline)
        compose = _from_dict(_read_file(path), f"pipeline file {path.name!r}")
    elif isinstance(pipeline, Mapping):
        compose = _from_dict(pipeline, "the pipeline dict")
    elif isinstance(pipeline, A.BaseCompose):
        compose = copy.deepcopy(pipeline)
    elif isinstance(pipeline, A.BasicTransform):
        compose = A.Compose([copy.deepcopy(pipeline)])
    else:
        raise ParameterError(
            "The 'pipeline' parameter must be an albumentations Compose, its dict form (A.to_dict) or a YAML/JSON "
            f"file path. Got {type(pipeline).__name__} instead."
        )
    if not isinstance(compose, A.BaseCompose):
        compose = A.Compose([compose])
    compose.save_applied_params = False  # parameters are read from the transforms (apply_pipeline)
    return compose


def pipeline_dict(compose) -> dict[str, Any] | None:
    """albumentations' dict form, or None when a transform cannot be serialised (e.g. ``Lambda``)."""
    A = _albumentations()
    try:
        return json.loads(json.dumps(json_ready(A.to_dict(compose))))
    except Exception:  # noqa: BLE001 - albumentations raises several types for non-serialisable transforms
        return None


def pipeline_fingerprint(compose) -> str:
    """SHA-1 of the canonical dict form (or of the pickled pipeline when it has none)."""
    d = pipeline_dict(compose)
    if d is not None:
        payload = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
    else:
        try:
            payload = pickle.dumps(compose)
        except Exception:  # noqa: BLE001
            payload = repr(compose).encode()
    return hashlib.sha1(payload).hexdigest()


_M64 = (1 << 64) - 1


def splitmix64(x: int) -> tuple[int, int]:
    """One step of SplitMix64: (next state, output), both 64-bit."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return x, z ^ (z >> 31)


_PCG_INC = 0xDA3E39CB94B95BDB_6A09E667F3BCC909 | 1  # one fixed odd increment: seeds pick start points


def _pcg64_state(seed: int) -> dict[str, Any]:
    return {"bit_generator": "PCG64", "state": {"state": _pcg64_word(seed), "inc": _PCG_INC}, "has_uint32": 0, "uinteger": 0}


def _pcg64_word(seed: int) -> int:
    """The 128-bit PCG64 state word of ``seed``: two SplitMix64 outputs."""
    x, a = splitmix64(int(seed) & _M64)
    _, b = splitmix64(x)
    return (a << 64) | b


def _splitmix64_array(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`splitmix64` on a uint64 array (numpy's uint64 arithmetic wraps, as intended)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        z = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x, z ^ (z >> np.uint64(31))


def pcg64_words(seeds: Any) -> list[int]:
    """:func:`seed_pipeline`'s state word for each seed, vectorised (what a chunk of images needs)."""
    x = np.asarray(seeds).astype(np.int64).view(np.uint64)
    x, a = _splitmix64_array(x)
    _, b = _splitmix64_array(x)
    return [(hi << 64) | lo for hi, lo in zip(a.tolist(), b.tolist())]


class _NumpyRandom(random.Random):
    """A ``random.Random`` drawing from a numpy ``Generator`` (so one seed sets both)."""

    def __init__(self, gen: np.random.Generator | None = None) -> None:
        self._gen = gen if gen is not None else np.random.Generator(np.random.PCG64(0))
        self._buffer: list[float] = []
        super().__init__(0)

    def seed(self, *args: Any, **kwargs: Any) -> None:  # seeded through the numpy generator
        return None

    def reset(self) -> None:
        """Forget pre-drawn values (after the numpy generator was re-seeded)."""
        self._buffer = []

    def random(self) -> float:
        # draws come 16 at a time from the numpy generator, handed out in order
        if not self._buffer:
            self._buffer = self._gen.random(16).tolist()[::-1]
        return self._buffer.pop()

    def getrandbits(self, k: int) -> int:
        if k <= 0:
            return 0
        raw = self._gen.bit_generator.random_raw
        out, bits = 0, 0
        while bits < k:
            out = (out << 64) | int(raw())
            bits += 64
        return out >> (bits - k)

    def getstate(self) -> Any:
        return (self._gen.bit_generator.state, list(self._buffer))

    def setstate(self, state: Any) -> None:
        self._gen.bit_generator.state, buffer = state
        self._buffer = list(buffer)

    def __reduce__(self):
        return (_NumpyRandom, (self._gen,))


def seed_pipeline(compose, seed: int, *, word: int | None = None) -> None:
    """Set the pipeline's whole random state from ``seed`` alone.

    Every transform shares one numpy ``Generator`` (PCG64) and a ``random.Random`` that draws from
    it, attached once; each call sets the PCG64 state from SplitMix64 of the seed. A few
    microseconds per image, and the same seed always gives the same random state, in any process.
    ``word`` is the precomputed state (:func:`pcg64_words`), to skip the per-seed SplitMix64.
    """
    rngs = getattr(compose, "_curakit_rngs", None)
    if rngs is None:
        gen = np.random.Generator(np.random.PCG64(0))
        rngs = (gen, _NumpyRandom(gen), _pcg64_state(0))
        compose.set_random_state(gen, rngs[1])
        compose._curakit_rngs = rngs
    gen, py, state = rngs
    state["state"]["state"] = _pcg64_word(seed) if word is None else word  # one dict, reused
    gen.bit_generator.state = state
    py.reset()


def _json_default(obj: Any) -> Any:
    """numpy values in applied parameters: small arrays in full, large ones by shape, dtype and SHA-1."""
    if isinstance(obj, np.ndarray):
        if obj.size > MAX_ARRAY:
            # a fingerprint, not the values (the seed reproduces them): CRC-32 of at most 256
            # evenly spaced values, cheap enough for every image
            flat = obj.reshape(-1)
            sample = np.ascontiguousarray(flat[:: max(1, flat.size // 256)])
            return {"__array__": list(obj.shape), "dtype": str(obj.dtype), "sample_crc32": zlib.crc32(sample.tobytes())}
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    return repr(obj)


def _make_encoder():
    """json.dumps(..., default=_json_default, check_circular=False) without building an encoder per call."""
    from json.encoder import c_make_encoder, encode_basestring_ascii

    if c_make_encoder is None:  # pragma: no cover - CPython always has the C encoder
        return None
    return c_make_encoder(None, _json_default, encode_basestring_ascii, None, ": ", ", ", False, False, True)


_ENCODER = _make_encoder()


def applied_json(applied: list[tuple[str, dict[str, Any]]]) -> str:
    """The applied transforms as JSON text ``[[name, params], ...]`` (``json.dumps``' output)."""
    items = [[name, params] for name, params in applied]
    if _ENCODER is None:  # pragma: no cover
        return json.dumps(items, default=_json_default, check_circular=False)
    return "".join(_ENCODER(items, 0))


def record_params(applied: list[tuple[str, dict[str, Any]]]) -> list[list[Any]]:
    """The applied transforms as JSON-able ``[[name, params], ...]``."""
    return json.loads(applied_json(applied))


def _leaves(compose) -> list[Any]:
    """The pipeline's transforms (not compositions), in pipeline order; cached on the pipeline."""
    leaves = getattr(compose, "_curakit_leaves", None)
    if leaves is None:
        A = _albumentations()
        leaves = []

        def walk(node: Any) -> None:
            if isinstance(node, A.BaseCompose):
                for child in node.transforms:
                    walk(child)
            else:
                leaves.append(node)

        walk(compose)
        compose._curakit_leaves = leaves
    return leaves


def _checked_output(out: Any, channels: int) -> np.ndarray:
    """The pipeline's output as uint8 (H, W, C) with the input's channels, or a one-line error."""
    if not isinstance(out, np.ndarray):
        raise DataError(
            f"The pipeline returned {type(out).__name__} instead of a numpy image. Remove ToTensorV2 from the pipeline: "
            "offline augmentation keeps uint8 images (OnlineAugment converts to tensors itself)."
        )
    if out.dtype != np.uint8:
        raise DataError(
            f"The pipeline turned uint8 images into {out.dtype}. Remove Normalize/ToFloat from the pipeline: "
            "augmented images are kept as uint8."
        )
    if out.ndim == 2:
        out = out[..., None]
    if out.shape[-1] != channels:
        raise DataError(
            f"The pipeline changed the number of channels from {channels} to {out.shape[-1]}. "
            "Remove ToGray/ToRGB or convert the images before augmenting."
        )
    return out


def apply_pipeline(
    compose, image: np.ndarray, seed: int, *, word: int | None = None
) -> tuple[np.ndarray, list[tuple[str, dict[str, Any]]]]:
    """Transform one uint8 (H, W, C) image with ``seed``; returns (image (H', W', C), applied params).

    The applied parameters are the ``params`` of every transform that ran (in pipeline order).
    ``word``: ``pcg64_words([seed])[0]``, precomputed for a chunk of images.
    """
    seed_pipeline(compose, seed, word=word)
    leaves = _leaves(compose)
    for t in leaves:  # a transform a OneOf did not pick keeps its last params otherwise
        t.params = {}
    channels = image.shape[-1]
    try:
        result = compose(image=image)
    except Exception as exc:  # noqa: BLE001 - albumentations raises many types for unsuitable inputs
        raise DataError(
            f"The pipeline failed on an image shaped {image.shape} (dtype {image.dtype}): {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}. Use transforms suited to {channels}-channel images"
            + (" (or convert grayscale to RGB with np.repeat(images, 3, axis=-1))." if channels == 1 else ".")
        ) from None
    out = result["image"]
    if type(out) is not np.ndarray or out.dtype != np.uint8 or out.ndim != 3 or out.shape[2] != channels:
        out = _checked_output(out, channels)  # the common case skips these checks one by one
    return out, [(type(t).__name__, t.params) for t in leaves if t.params]


def apply_chunk(compose, images: Any, seeds: Any) -> list[tuple[np.ndarray, str]]:
    """:func:`apply_pipeline` then :func:`applied_json` for each (image, seed), the same results,
    with the per-image lookups done once per chunk (what offline augmentation runs per image)."""
    seeds = np.asarray(seeds)
    if len(seeds) == 0:
        return []
    seed_pipeline(compose, int(seeds[0]))  # attaches the random state once
    gen, py, state = compose._curakit_rngs
    inner, bitgen = state["state"], gen.bit_generator
    leaves = _leaves(compose)
    named = [(type(t).__name__, t) for t in leaves]
    encoder = _ENCODER
    results = []
    for image, word in zip(images, pcg64_words(seeds)):
        inner["state"] = word  # seed_pipeline, inlined
        bitgen.state = state
        py._buffer = []
        for t in leaves:
            t.params = {}
        channels = image.shape[-1]
        try:
            out = compose(image=image)["image"]
        except Exception:  # noqa: BLE001 - albumentations raises many types for unsuitable inputs
            apply_pipeline(compose, image, int(seeds[len(results)]))  # the same failure, as the one-line DataError
            raise
        if type(out) is not np.ndarray or out.dtype != np.uint8 or out.ndim != 3 or out.shape[2] != channels:
            out = _checked_output(out, channels)
        items = [[name, t.params] for name, t in named if t.params]
        results.append((out, "".join(encoder(items, 0)) if encoder is not None else applied_json(items)))
    return results


def _row_get(row: Any, key: str) -> Any:
    if isinstance(row, Mapping):
        return row.get(key)
    if hasattr(row, "to_dict") and not hasattr(row, "row_id"):  # a pandas Series
        return row.to_dict().get(key)
    return getattr(row, key, None)


def replay(row: Any, parent_image: Any, pipeline: Any, *, check: bool = True) -> np.ndarray:
    """Re-make one augmented image from its manifest row, its parent image and the pipeline.

    ``row`` is a manifest row (a pandas Series, a dict or a :class:`LineageRow`); ``parent_image``
    the uint8 (H, W, C) parent (``images[row["parent"]]``); ``pipeline`` the pipeline that made it
    (any accepted form). With ``check=True`` the applied parameters must equal the recorded ones,
    so a different pipeline is reported instead of silently giving another image.
    """
    seed = _row_get(row, "seed")
    if seed is None or (isinstance(seed, float) and np.isnan(seed)):
        raise DataError("The manifest row has no seed, so it cannot be replayed. Pass a row of an augmented image.")
    img = np.asarray(parent_image)
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise DataError(
            f"parent_image must be one uint8 image shaped (H, W, C). Got dtype {img.dtype} and shape {img.shape}."
        )
    if img.ndim == 2:
        img = img[..., None]
    compose = load_pipeline(pipeline)
    out, applied = apply_pipeline(compose, np.ascontiguousarray(img), int(seed))
    if check:
        params = _row_get(row, "params")
        if isinstance(params, str):
            params = json.loads(params)
        recorded = (params or {}).get("applied")
        if recorded is not None:
            if record_params(applied) != recorded:
                raise DataError(
                    "Replaying this row applied other parameters than recorded: the pipeline or the parent image "
                    "differs from the ones that made it. Pass the original pipeline and images[row['parent']]."
                )
    return out
