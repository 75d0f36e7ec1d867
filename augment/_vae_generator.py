"""A fitted conditional VAE (:class:`VAEGenerator`): fit, sample around parents, replay, save, load.

A generated row depends only on (the generator's weights, its parent row, its latent seed, the
temperature): its latent code is ``mu(parent) + temperature * eps`` with ``eps`` drawn by numpy
from the seed, and each row is encoded and decoded on its own (no batch effects), so
:meth:`VAEGenerator.replay` rebuilds it bit for bit on the same machine. Files: ``config.json``
(architecture, codec, class labels, fingerprints) and ``weights.npz`` (the state dict as plain
arrays, read with ``allow_pickle=False``): no pickle anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.io import atomic_write_json
from curakit.optional import import_optional

from ._vae_models import TableCodec, build_net, check_device, check_vae_sizes, decode, encode_mu, train_vae

__all__ = ["VAEGenerator"]

_CONFIG = "config.json"
_WEIGHTS = "weights.npz"


def _fingerprint(x: np.ndarray, codes: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    h.update(np.ascontiguousarray(codes, dtype=np.int64).tobytes())
    return h.hexdigest()


class VAEGenerator:
    """A conditional VAE fitted on a pool of rows or images (conditioned on the class label)."""

    def __init__(self, config: dict[str, Any], net: Any) -> None:
        self.config = config
        self.net = net
        self.codec = TableCodec(config["codec"]) if config["kind"] == "table" else None

    # -- fitting -------------------------------------------------------------------------------
    @classmethod
    def fit(cls, data: Any, labels: np.ndarray, *, kind: str, random_state: int = 0, latent_dim: int = 8,
            hidden: int = 128, epochs: int = 200, batch_size: int = 128, patience: int = 10, lr: float = 2e-3,
            device: str = "cpu") -> VAEGenerator:
        """Fit on every row of ``data`` (a DataFrame for ``kind="table"``, uint8 (n, H, W, C) for "image")."""
        sizes = check_vae_sizes("augment.VAEGenerator.fit", latent_dim=latent_dim, hidden=hidden, epochs=epochs,
                                batch_size=batch_size, patience=patience, lr=lr)
        latent_dim, hidden, epochs = sizes["latent_dim"], sizes["hidden"], sizes["epochs"]
        batch_size, patience, lr = sizes["batch_size"], sizes["patience"], sizes["lr"]
        device = check_device(device, "augment.VAEGenerator.fit")
        classes = sorted(pd.unique(np.asarray(labels, dtype=object)).tolist(), key=str)
        config: dict[str, Any] = {"kind": kind, "latent_dim": int(latent_dim), "hidden": int(hidden),
                                  "classes": [_plain(c) for c in classes], "label_dtype": str(np.asarray(labels).dtype)}
        if kind == "table":
            codec = TableCodec.fit(data)
            config["codec"] = codec.config
            config["shape"] = [codec.width]
            x = codec.encode(data)
        else:
            config["shape"] = [int(data.shape[3]), int(data.shape[1]), int(data.shape[2])]
            x = _image_input(data)
        codes = _codes(classes, labels)
        config["train_fingerprint"] = _fingerprint(x, codes)
        torch = import_optional("torch")
        torch.manual_seed(random_state)
        net = build_net(kind, config["shape"], len(classes), latent_dim, hidden)
        blocks = TableCodec(config["codec"]).blocks if kind == "table" else []
        config["training"] = train_vae(net, kind, blocks, x, codes, len(classes), seed=random_state, epochs=epochs,
                                       batch_size=batch_size, patience=patience, lr=lr, device=device)
        net.to("cpu")  # sampling and replay run on the CPU: bit for bit on one machine
        return cls(config, net)

    # -- identity ------------------------------------------------------------------------------
    @property
    def weights_sha256(self) -> str:
        h = hashlib.sha256()
        for k, t in sorted(self.net.state_dict().items()):
            h.update(k.encode())
            h.update(np.ascontiguousarray(t.detach().cpu().numpy()).tobytes())
        return h.hexdigest()

    @property
    def classes(self) -> list[Any]:
        return list(self.config["classes"])

    def features(self, data: Any) -> np.ndarray:
        """The rows in the generator's input space (normal scores + one-hot; pixels in [0, 1])."""
        if self.config["kind"] == "table":
            return self.codec.encode(data)
        return _image_input(data).reshape(len(data), -1)

    # -- sampling ------------------------------------------------------------------------------
    def sample(self, data: Any, labels: np.ndarray, parents: np.ndarray, seeds: np.ndarray, temperature: float, *,
               clip: bool = True) -> Any:
        """One new row per (parent position, seed): a DataFrame (tables) or uint8 images."""
        codes = _codes(self.classes, np.asarray(labels)[parents])
        x = self.features(data[parents] if self.config["kind"] == "image" else data.iloc[parents])
        if self.config["kind"] == "image":
            x = x.reshape(len(parents), *self.config["shape"])
        k, out = len(self.classes), []
        for i in range(len(parents)):
            mu = encode_mu(self.net, x[i:i + 1], codes[i:i + 1], k, "cpu")
            eps = np.random.default_rng(int(seeds[i])).standard_normal(mu.shape[1]).astype(np.float32)
            z = mu + np.float32(temperature) * eps[None, :]
            out.append(decode(self.net, self.config["kind"], z, codes[i:i + 1], k, "cpu"))
        raw = np.concatenate(out) if out else np.zeros((0, *self.config["shape"]), dtype=np.float32)
        if self.config["kind"] == "table":
            return self.codec.decode(raw, clip=clip)
        return np.round(np.transpose(raw, (0, 2, 3, 1)) * 255).astype(np.uint8)

    def replay(self, data: Any, labels: Any, manifest: pd.DataFrame) -> Any:
        """Regenerate the rows of a ``generate`` manifest from ``data`` / ``labels`` (the pool it was made from)."""
        params = [json.loads(p) if isinstance(p, str) else dict(p) for p in manifest["params"]]
        if any(p.get("weights_sha256") != self.weights_sha256 for p in params):
            raise DataError("The manifest was made by another generator (weights differ). Load that generator first.")
        parents = np.array([int(str(json.loads(v)[0]).rsplit(":", 1)[-1]) for v in manifest["parent_ids"]], dtype=int)
        seeds = manifest["seed"].to_numpy(dtype=np.int64)
        temps = {p["temperature"] for p in params}
        if len(temps) > 1:
            raise DataError("The manifest mixes temperatures. Replay the rows of each temperature separately.")
        clip = bool(params[0].get("clip", True)) if params else True
        labels = np.asarray(labels)
        if any("cond" in p for p in params):  # fitted with condition="class+slice": the recorded codes
            labels = labels.astype(object).copy()
            labels[parents] = [p["cond"] for p in params]
        return self.sample(data, labels, parents, seeds, temps.pop() if temps else 1.0, clip=clip)

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``config.json`` and ``weights.npz`` (plain arrays) into the folder ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays = {k: t.detach().cpu().numpy() for k, t in self.net.state_dict().items()}
        np.savez(path / _WEIGHTS, **arrays)
        atomic_write_json(path / _CONFIG, {**self.config, "weights_sha256": self.weights_sha256})
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> VAEGenerator:
        """Read a folder written by :meth:`save` (no pickle: JSON and ``allow_pickle=False``)."""
        path = Path(path)
        if not (path / _CONFIG).exists() or not (path / _WEIGHTS).exists():
            raise DataError(f"{str(path)!r} holds no {_CONFIG} and {_WEIGHTS}. Pass a folder written by VAEGenerator.save.")
        config = json.loads((path / _CONFIG).read_text())
        torch = import_optional("torch")
        net = build_net(config["kind"], config["shape"], len(config["classes"]), config["latent_dim"], config["hidden"])
        with np.load(path / _WEIGHTS, allow_pickle=False) as z:
            net.load_state_dict({k: torch.as_tensor(z[k]) for k in z.files})
        net.eval()
        saved = config.pop("weights_sha256", None)
        gen = cls(config, net)
        if saved is not None and saved != gen.weights_sha256:
            raise DataError(f"The weights in {str(path)!r} do not match their config (sha256 differs). Save them again.")
        return gen


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _codes(classes: list[Any], labels: Any) -> np.ndarray:
    lookup = {str(c): i for i, c in enumerate(classes)}
    try:
        return np.array([lookup[str(_plain(v))] for v in np.asarray(labels, dtype=object)], dtype=np.int64)
    except KeyError:
        raise ParameterError("A label is not one the generator was fitted on. Fit it on a pool holding every class.") from None


def _image_input(images: np.ndarray) -> np.ndarray:
    return (np.transpose(images, (0, 3, 1, 2)).astype(np.float32) / 255.0)
