"""Online augmentation: a torch ``Dataset`` that augments every draw, weighted toward weak slices.

``OnlineAugment(dataset, pipeline, select=..., weights=..., p=..., random_state=...)`` wraps images and
labels. Each ``ds[i]`` decides whether to augment sample ``i`` and with which random parameters
from one seed, SplitMix64 of ``(random_state, epoch, i)`` (:meth:`OnlineAugment.seed`):

* the seed depends on the epoch and the index only, never on the DataLoader worker or the order
  of draws, so every worker and every epoch gets distinct parameters and a run is reproducible
  with any ``num_workers``;
* :meth:`OnlineAugment.set_epoch` moves to the next epoch (call it before each epoch, like
  ``DistributedSampler.set_epoch``). The epoch lives in shared memory, so persistent DataLoader
  workers see it too.

Weighting toward slices: ``select`` names the rows to act on, as everywhere in curakit (a
``Slice``, mask, positions or ``{"classes": [...]}``): they are augmented with probability 1.0,
the others with ``p`` (default 0). ``weights`` is the numeric form: the probability that a
sample is augmented when drawn, one float in [0, 1] per sample (e.g. 1.0 inside a weak slice and
0.2 elsewhere). Without either, every sample is augmented with probability ``p`` (default 1).
A selection passed as ``weights`` (what ``weights`` also accepted before ``select`` existed)
still works for one release, with a ``FutureWarning``.
:meth:`OnlineAugment.sampler` also draws slice samples more often (a ``WeightedRandomSampler``
whose draw weight is ``1 + (boost - 1) * weight``).

Images come out as float32 tensors (C, H, W) in [0, 1], or ``transform(image)`` when given
(``image`` is the uint8 (H, W, C) array after augmentation).

``import augment`` does not import torch: the class becomes a torch ``Dataset`` subclass when
the first instance is made.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from curakit.exceptions import DataError, ParameterError
from curakit.optional import import_optional
from curakit.seeds import child_seed, resolve_seed
from curakit.validation import check_labels

from ._pipeline import apply_pipeline, load_pipeline, splitmix64
from ._select import resolve_groups

__all__ = ["OnlineAugment"]

_TORCH_CLASS: type | None = None
_M64 = (1 << 64) - 1
_SEED_MASK = 2**31 - 1


def _torch_class() -> type:
    global _TORCH_CLASS
    if _TORCH_CLASS is None:
        torch = import_optional("torch")
        _TORCH_CLASS = type(
            "OnlineAugment",
            (OnlineAugment, torch.utils.data.Dataset),
            {"__module__": __name__, "__qualname__": "_TorchOnlineAugment"},
        )
    return _TORCH_CLASS


def __getattr__(name: str) -> Any:  # lets pickle find the torch subclass in DataLoader workers
    if name == "_TorchOnlineAugment":
        return _torch_class()
    raise AttributeError(name)


def _as_image(value: Any, index: int) -> np.ndarray:
    arr = value
    if hasattr(arr, "detach") and hasattr(arr, "numpy"):  # a torch tensor: (C, H, W) uint8
        t = arr.detach().cpu()
        if str(t.dtype) != "torch.uint8":
            raise DataError(
                f"The dataset returned a {t.dtype} tensor for sample {index}; OnlineAugment needs uint8 images. "
                "Return uint8 arrays (H, W, C) from the wrapped dataset."
            )
        arr = t.numpy()
        if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
            arr = np.transpose(arr, (1, 2, 0))
    else:
        arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        raise DataError(
            f"Sample {index} is dtype {arr.dtype}; OnlineAugment needs uint8 images in [0, 255]. "
            "Convert with (x * 255).round().astype('uint8')."
        )
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise DataError(f"Sample {index} has shape {arr.shape}; OnlineAugment needs one image shaped (H, W, C).")
    return np.ascontiguousarray(arr)


class OnlineAugment:
    """A torch ``Dataset`` augmenting each draw with its own reproducible seed (see module docstring).

    Parameters
    ----------
    dataset : ``(images, labels)``, a mapping ``{"images": ..., "labels": ...}``, or a torch
        ``Dataset`` whose items are ``(image, label)`` (image uint8 (H, W, C) array or (C, H, W) tensor).
    pipeline : an albumentations ``Compose``, its dict form or a YAML/JSON file path.
    select : the rows to augment (Slice, list of slices, mask, positions, ``{"classes": [...]}``):
        probability 1.0 inside, ``p`` outside.
    weights : per-sample probability of augmenting (floats in [0, 1], one per sample); not with
        ``select``. Decision: ``select`` chooses rows, ``weights`` is only the numeric per-row
        probability; a selection given as ``weights`` is deprecated (FutureWarning naming ``select``).
    p : probability of augmenting samples not covered by ``select`` (default 1.0 without
        ``select`` or ``weights``, 0.0 outside a selection).
    random_state : int seed.
    transform : callable from the (augmented) uint8 (H, W, C) image to the model input;
        default float32 tensor (C, H, W) in [0, 1].
    embeddings : embeddings of the images, to re-apply a cluster slice given as ``select``.
    """

    def __new__(cls, *args: Any, **kwargs: Any):
        if cls is OnlineAugment:
            cls = _torch_class()
        return object.__new__(cls)

    def __init__(
        self,
        dataset: Any,
        pipeline: Any,
        *,
        select: Any = None,
        weights: Any = None,
        p: float | None = None,
        random_state: int = 0,
        transform: Callable | None = None,
        embeddings: Any = None,
    ) -> None:
        torch = import_optional("torch")
        self._images = self._labels = self._inner = None
        if isinstance(dataset, Mapping):
            if "images" not in dataset or "labels" not in dataset:
                raise DataError("A dataset mapping needs 'images' and 'labels' keys. Pass {'images': ..., 'labels': ...}.")
            dataset = (dataset["images"], dataset["labels"])
        if isinstance(dataset, tuple):
            if len(dataset) != 2:
                raise DataError(f"A dataset tuple must be (images, labels). Got {len(dataset)} items instead.")
            images, labels = dataset
            images = np.asarray(images)
            if images.dtype != np.uint8 or images.ndim != 4:
                raise DataError(
                    f"images must be uint8 shaped (n, H, W, C). Got dtype {images.dtype} and shape {images.shape}. "
                    "Add a channel axis with images[..., None] for grayscale."
                )
            labels = check_labels(labels, "labels", "OnlineAugment")
            if labels.ndim != 1 or len(labels) != len(images):
                raise DataError(
                    f"labels must be 1-d with one label per image. Got shape {labels.shape} for {len(images)} images."
                )
            self._images, self._labels, self._n = images, labels, len(images)
        elif isinstance(dataset, torch.utils.data.Dataset) and hasattr(dataset, "__len__"):
            self._inner, self._n = dataset, len(dataset)
        else:
            raise ParameterError(
                "The 'dataset' parameter of OnlineAugment must be (images, labels), a mapping with 'images' and "
                f"'labels', or a torch Dataset with a length. Got {type(dataset).__name__} instead."
            )
        random_state = resolve_seed(random_state, "OnlineAugment")
        if transform is not None and not callable(transform):
            raise ParameterError(f"The 'transform' parameter of OnlineAugment must be callable. Got {type(transform).__name__}.")
        self.pipeline = pipeline
        self._compose = load_pipeline(pipeline)
        self.p_ = self._probabilities(select, weights, p, embeddings)
        self.random_state = int(random_state)
        self._base = splitmix64(int(random_state) & _M64)[1]
        self.transform = transform
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    # -- select and weights -------------------------------------------------------------------
    def _probabilities(self, select: Any, weights: Any, p: float | None, embeddings: Any) -> np.ndarray:
        if p is not None and (
            not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= float(p) <= 1.0
        ):
            raise ParameterError(f"The 'p' parameter of OnlineAugment must be a float in the range [0.0, 1.0]. Got {p!r} instead.")
        if select is not None and weights is not None:
            raise ParameterError(
                "OnlineAugment got both select= (the rows to augment) and weights= (per-sample probabilities); pass one."
            )
        if weights is None and select is None:
            return np.full(self._n, 1.0 if p is None else float(p))
        arr = None if isinstance(weights, Mapping) or not hasattr(weights, "__len__") else np.asarray(weights)
        if weights is not None and arr is not None and arr.dtype.kind == "f":
            if arr.shape != (self._n,):
                raise DataError(f"weights has shape {arr.shape} for {self._n} samples. Pass one probability per sample.")
            if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
                raise ParameterError(
                    "The 'weights' parameter of OnlineAugment must hold probabilities in [0.0, 1.0] (one per sample). "
                    f"Got values in [{np.nanmin(arr):.3g}, {np.nanmax(arr):.3g}] instead."
                )
            if p is not None:
                raise ParameterError("Pass either per-sample probabilities as weights= or p=, not both.")
            return arr.astype(np.float64)
        if select is None:  # a selection given as weights: its old spelling
            warnings.warn(
                "A selection (Slice, mask, positions or {'classes': [...]}) as the 'weights' parameter of OnlineAugment "
                "is renamed 'select'; weights= takes only per-sample probabilities from the next release.",
                FutureWarning, stacklevel=3,
            )
            select = weights
        labels = self._labels if self._labels is not None else None
        groups = resolve_groups(select, self._n, labels=labels, embeddings=embeddings, param="select", owner="OnlineAugment")
        out = np.full(self._n, 0.0 if p is None else float(p))
        for g in groups:
            out[g.positions] = 1.0
        return out

    # -- epochs and seeds ---------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        view = self.__dict__.get("_epoch_view")
        if view is None:  # a numpy view of the shared tensor: reads cost nanoseconds
            view = self.__dict__["_epoch_view"] = self._epoch.numpy()
        return int(view[0])

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_epoch_view", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def set_epoch(self, epoch: int) -> None:
        """Use the seeds of ``epoch`` from now on (also in persistent DataLoader workers)."""
        if not isinstance(epoch, numbers.Integral) or isinstance(epoch, bool) or epoch < 0:
            raise ParameterError(f"The 'epoch' parameter of set_epoch must be a non-negative int. Got {epoch!r} instead.")
        self._epoch[0] = int(epoch)

    def seed(self, index: int, epoch: int | None = None) -> int:
        """The seed sample ``index`` uses in ``epoch`` (default: the current epoch).

        SplitMix64 of (random_state, epoch, index): distinct for every (epoch, index), the same in
        every process, a microsecond to compute.
        """
        e = self.epoch if epoch is None else int(epoch)
        x, _ = splitmix64(self._base ^ (e & _M64))
        _, out = splitmix64(x ^ (int(index) & _M64))
        return out & _SEED_MASK

    @staticmethod
    def _uniform(seed: int) -> float:
        """A uniform draw in [0, 1) from a seed (decides whether a sample is augmented)."""
        _, out = splitmix64(seed ^ 0x5DEECE66D)
        return (out >> 11) * (1.0 / (1 << 53))

    # -- Dataset protocol ---------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def _raw(self, index: int) -> tuple[np.ndarray, Any]:
        if self._inner is not None:
            item = self._inner[index]
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise DataError(f"The wrapped dataset must return (image, label) pairs; item {index} does not.")
            return _as_image(item[0], index), item[1]
        return self._images[index], self._labels[index]

    def _index(self, index: Any) -> int:
        index = int(index)
        if not -self._n <= index < self._n:
            raise IndexError(f"index {index} is out of range for {self._n} samples")
        return index % self._n

    def _augment(self, image: np.ndarray, index: int, epoch: int | None) -> tuple[np.ndarray, bool]:
        seed = self.seed(index, epoch)
        prob = self.p_[index]
        if prob <= 0.0 or (prob < 1.0 and self._uniform(seed) >= prob):
            return image, False
        out, _ = apply_pipeline(self._compose, np.ascontiguousarray(image), seed)
        return out, True

    def augment(self, index: int, epoch: int | None = None) -> tuple[np.ndarray, bool]:
        """(uint8 image (H, W, C), whether it was augmented) for sample ``index`` in ``epoch``."""
        index = self._index(index)
        image, _ = self._raw(index)
        return self._augment(image, index, epoch)

    def __getitem__(self, index: int):
        torch = import_optional("torch")
        index = self._index(index)
        image, label = self._raw(index)
        out, _ = self._augment(image, index, None)
        if self.transform is not None:
            return self.transform(out), label
        x = torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1))).to(torch.float32).div_(255.0)
        return x, label

    # -- sampling toward slices -----------------------------------------------------------------
    def sampler(self, boost: float = 4.0, *, num_samples: int | None = None, replacement: bool = True):
        """A ``WeightedRandomSampler`` drawing sample i with weight ``1 + (boost - 1) * p_[i]``.

        Seeded from ``random_state`` and the current epoch (call ``set_epoch`` first).
        """
        torch = import_optional("torch")
        if not isinstance(boost, numbers.Real) or isinstance(boost, bool) or boost < 1:
            raise ParameterError(f"The 'boost' parameter of OnlineAugment.sampler must be a float >= 1.0. Got {boost!r} instead.")
        w = 1.0 + (float(boost) - 1.0) * self.p_
        g = torch.Generator()
        g.manual_seed(child_seed(self.random_state, "sampler", self.epoch))
        return torch.utils.data.WeightedRandomSampler(
            torch.as_tensor(w, dtype=torch.double),
            num_samples=self._n if num_samples is None else int(num_samples),
            replacement=replacement,
            generator=g,
        )

    def __repr__(self) -> str:
        return f"OnlineAugment(n={self._n}, mean p={self.p_.mean():.3f}, epoch={self.epoch}, random_state={self.random_state})"
