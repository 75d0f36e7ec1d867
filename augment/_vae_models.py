"""The conditional VAEs behind :func:`augment.generate`: a table codec, the torch networks, training.

Tables are encoded in the spirit of TVAE: every numeric column through its empirical quantiles
onto a standard normal (skewed and multi-modal columns become well-behaved), every categorical
column one-hot. Decoding inverts that, clips numerics to the observed range (unless asked not
to), rounds integer columns and casts every column back to its dtype.

torch is imported inside the functions only (``import augment`` stays light).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError, ParameterError
from curakit.optional import import_optional

__all__ = ["TableCodec", "build_net", "train_vae", "encode_mu", "decode", "check_device", "check_vae_sizes"]

_N_QUANTILES = 256


class TableCodec:
    """Numeric columns to normal scores through quantiles, categoricals to one-hot, and back."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    @classmethod
    def fit(cls, X: pd.DataFrame) -> TableCodec:
        cols = []
        for name in X.columns:
            s = X[name]
            if s.nunique(dropna=False) < 2:
                raise DataError(
                    f"Column {str(name)!r} holds one value only: a generator cannot learn it. Drop it before generate()."
                )
            if s.isna().any():
                raise DataError(f"Column {str(name)!r} has missing values. Impute or drop them before generate().")
            if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
                cats = sorted(pd.unique(s).tolist(), key=str)
                cols.append({"name": str(name), "kind": "cat", "dtype": str(s.dtype), "categories": cats})
            else:
                v = s.to_numpy(dtype=np.float64)
                q = np.quantile(v, np.linspace(0, 1, min(_N_QUANTILES, len(v))))
                cols.append({"name": str(name), "kind": "num", "dtype": str(s.dtype), "quantiles": q.tolist(),
                             "lo": float(v.min()), "hi": float(v.max()),
                             "integer": bool(pd.api.types.is_integer_dtype(s))})
        return cls({"columns": cols, "names": [str(c) for c in X.columns]})

    @property
    def blocks(self) -> list[tuple[str, int]]:
        return [("num", 1) if c["kind"] == "num" else ("cat", len(c["categories"])) for c in self.config["columns"]]

    @property
    def width(self) -> int:
        return sum(w for _, w in self.blocks)

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        from scipy.special import ndtri

        parts = []
        for c in self.config["columns"]:
            s = X[c["name"]] if c["name"] in X.columns else X[_orig_name(X, c["name"])]
            if c["kind"] == "num":
                q = np.asarray(c["quantiles"])
                u = np.interp(s.to_numpy(dtype=np.float64), q, np.linspace(0, 1, len(q)))
                parts.append(ndtri(np.clip(u, 1e-3, 1 - 1e-3))[:, None])
            else:
                lookup = {str(v): i for i, v in enumerate(c["categories"])}
                codes = np.array([lookup.get(str(v), -1) for v in s.tolist()])
                parts.append(np.eye(len(c["categories"]))[np.maximum(codes, 0)] * (codes >= 0)[:, None])
        return np.hstack(parts).astype(np.float32)

    def decode(self, Z: np.ndarray, *, clip: bool = True) -> pd.DataFrame:
        from scipy.special import ndtr

        out, j = {}, 0
        for c in self.config["columns"]:
            if c["kind"] == "num":
                q = np.asarray(c["quantiles"])
                v = np.interp(ndtr(Z[:, j].astype(np.float64)), np.linspace(0, 1, len(q)), q)
                if not clip:  # extrapolate past the observed range along the end slopes
                    v = np.where(Z[:, j] > 3.09, q[-1] + (Z[:, j] - 3.09) * (q[-1] - q[-2]), v)
                    v = np.where(Z[:, j] < -3.09, q[0] + (Z[:, j] + 3.09) * (q[1] - q[0]), v)
                if c["integer"]:
                    v = np.round(v)
                out[c["name"]] = v.astype(np.dtype(c["dtype"]))
                j += 1
            else:
                k = len(c["categories"])
                codes = np.argmax(Z[:, j:j + k], axis=1)
                vals = pd.Series([c["categories"][i] for i in codes])
                out[c["name"]] = vals.astype(c["dtype"]) if c["dtype"] != "object" else vals.astype(object)
                j += k
        return pd.DataFrame(out, columns=self.config["names"])


def check_device(device: Any, owner: str) -> str:
    """``device`` as torch spells it ('cpu', 'cuda', 'cuda:0', 'mps'), refused in one line when torch cannot parse
    it or it names a cuda / mps device this machine does not have."""
    torch = import_optional("torch")
    if not isinstance(device, (str, torch.device)):
        raise ParameterError(f"The 'device' parameter of {owner} must be a str such as 'cpu' or 'cuda'. "
                             f"Got a {type(device).__name__} instead.")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ParameterError(f"device {str(device)!r} is not a torch device. Use 'cpu' or 'cuda' "
                             "(or 'cuda:N', 'mps').") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ParameterError(f"device {str(device)!r} asks for a GPU, but torch sees no CUDA device on this "
                                 "machine. Use device='cpu'.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ParameterError(f"device {str(device)!r} names GPU {dev.index}, but this machine has "
                                 f"{torch.cuda.device_count()}. Use 'cuda' or 'cuda:0'.")
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ParameterError(f"device {str(device)!r} asks for Apple's MPS, which torch cannot use on this machine. "
                             "Use device='cpu'.")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ParameterError(f"device {str(device)!r} is a torch device curakit does not train on. Use 'cpu' or 'cuda'.")
    return str(dev)


def check_vae_sizes(owner: str, **sizes: Any) -> dict[str, Any]:
    """The VAE's sizes checked before any work: ints >= 1 (``lr`` a float > 0); one-line errors otherwise."""
    from curakit.validation import check_interval

    out = {}
    for name, value in sizes.items():
        if name == "lr":
            out[name] = check_interval(value, name, owner, kind=float, low=0.0, closed="neither")
        else:
            out[name] = check_interval(value, name, owner, kind=int, low=1)
    return out


def _orig_name(X: pd.DataFrame, name: str) -> Any:
    return next(c for c in X.columns if str(c) == name)


def build_net(kind: str, shape: list[int], n_classes: int, latent: int, hidden: int) -> Any:
    """The conditional VAE module: ``kind`` "table" (an MLP) or "image" (convolutions)."""
    torch = import_optional("torch")
    nn = torch.nn

    class CVAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            if kind == "image":
                c, h, w = shape
                self.enc = nn.Sequential(nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(),
                                         nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten())
                self.h2, self.w2 = (h + 1) // 2, (w + 1) // 2
                feat = 32 * self.h2 * self.w2
                self.dec_in = nn.Linear(latent + n_classes, feat)
                self.dec = nn.Sequential(nn.ReLU(), nn.Upsample(size=(h, w)), nn.Conv2d(32, 16, 3, padding=1),
                                         nn.ReLU(), nn.Conv2d(16, c, 3, padding=1))
            else:
                d = shape[0]
                self.enc = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
                feat = hidden
                self.dec_in = nn.Linear(latent + n_classes, hidden)
                self.dec = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, d))
            self.head = nn.Linear(feat + n_classes, 2 * latent)

        def encode(self, x, yo):
            mu, logvar = self.head(torch.cat([self.enc(x), yo], 1)).chunk(2, 1)
            return mu, logvar.clamp(-8, 8)

        def decode(self, z, yo):
            h = self.dec_in(torch.cat([z, yo], 1))
            if kind == "image":
                h = h.view(len(z), 32, self.h2, self.w2)
            return self.dec(h)

    return CVAE()


def _recon_loss(kind: str, blocks: list[tuple[str, int]], out: Any, x: Any) -> Any:
    torch = import_optional("torch")
    F = torch.nn.functional
    if kind == "image":
        return F.binary_cross_entropy_with_logits(out, x, reduction="sum") / len(x)
    loss, j = 0.0, 0
    for what, w in blocks:
        if what == "num":
            loss = loss + F.mse_loss(out[:, j], x[:, j], reduction="sum")
        else:
            loss = loss + F.cross_entropy(out[:, j:j + w], x[:, j:j + w].argmax(1), reduction="sum")
        j += w
    return loss / len(x)


def train_vae(net: Any, kind: str, blocks: list, x: np.ndarray, codes: np.ndarray, n_classes: int, *,
              seed: int, epochs: int, batch_size: int, patience: int, lr: float, device: str) -> dict[str, Any]:
    """Adam on the ELBO with early stopping on a 10% validation split; returns the training record."""
    torch = import_optional("torch")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_val = max(1, len(x) // 10)
    val, tr = order[:n_val], order[n_val:]
    xt = torch.as_tensor(x, device=device)
    yo = torch.nn.functional.one_hot(torch.as_tensor(codes, device=device), n_classes).float()
    net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    best, best_state, bad, history = float("inf"), None, 0, []
    # at most ~50 steps an epoch: large pools take larger batches (20k rows: ~360) to stay within CPU time
    n_batches = max(1, min(len(tr) // batch_size, 50))
    for _epoch in range(epochs):
        net.train()
        for b in np.array_split(rng.permutation(tr), n_batches):
            bi = torch.as_tensor(b, device=device)
            loss = _elbo(net, kind, blocks, xt[bi], yo[bi])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            vi = torch.as_tensor(val, device=device)
            v = float(_elbo(net, kind, blocks, xt[vi], yo[vi], sample=False))
        history.append(v)
        if v < best - 1e-4:
            best, bad = v, 0
            best_state = {k: t.detach().clone() for k, t in net.state_dict().items()}
        else:
            bad += 1
            if bad >= patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return {"epochs_run": len(history), "best_val_loss": best, "val_history": history}


def _elbo(net: Any, kind: str, blocks: list, x: Any, yo: Any, *, sample: bool = True) -> Any:
    torch = import_optional("torch")
    mu, logvar = net.encode(x, yo)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
    # tables: the reconstruction weighs like a Gaussian of variance 1/8 (TVAE weighs it up too), else the
    # decoder ignores z on small tables and every sample is its class mean
    weight = 1.0 if kind == "image" else 4.0
    return weight * _recon_loss(kind, blocks, net.decode(z, yo), x) + kl


def encode_mu(net: Any, x: np.ndarray, codes: np.ndarray, n_classes: int, device: str) -> np.ndarray:
    """The posterior means of rows ``x`` with class codes ``codes``."""
    torch = import_optional("torch")
    with torch.no_grad():
        yo = torch.nn.functional.one_hot(torch.as_tensor(codes, device=device), n_classes).float()
        mu, _ = net.encode(torch.as_tensor(x, device=device), yo)
    return mu.cpu().numpy()


def decode(net: Any, kind: str, z: np.ndarray, codes: np.ndarray, n_classes: int, device: str) -> np.ndarray:
    """Decoder output for latent codes: pixel probabilities (images) or the encoded table row."""
    torch = import_optional("torch")
    with torch.no_grad():
        yo = torch.nn.functional.one_hot(torch.as_tensor(codes, device=device), n_classes).float()
        out = net.decode(torch.as_tensor(z, dtype=torch.float32, device=device), yo)
        if kind == "image":
            out = torch.sigmoid(out)
    return out.cpu().numpy()
