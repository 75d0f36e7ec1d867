"""Pictures of a slice for the diagnosis report (re-exported by :mod:`diagnose.figures`).

* :func:`slice_thumbnails_figure` - the slice's member images, errors first, next to the training
  images nearest to the slice (in embedding space when embeddings are given, else in pixel space).
* :func:`feature_distributions_figure` - a tabular slice's features: slice vs all analysed (new)
  rows vs training rows; a rule slice shows the features of its conditions with the thresholds.
* :func:`gradcam_overlay_figure` - Grad-CAM maps drawn over the images, from a ``CamReport``'s
  kept maps (``cams`` with ``keep_cams=True``, else its ``examples``).

Every function returns a matplotlib Figure (legends outside the plotting areas) or None when there
is nothing to draw; matplotlib is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from curakit.exceptions import DataError
from curakit.optional import import_optional

__all__ = ["feature_distributions_figure", "gradcam_overlay_figure", "member_order", "slice_thumbnails_figure"]

_COLS = 8
_GROUP_COLORS = {"slice": "#d62728", "all new rows": "#1f77b4", "training rows": "#7f7f7f"}


def _name(value: Any, class_names: Mapping[Any, str] | Sequence[str] | None) -> str:
    if class_names is None:
        return str(value)
    if isinstance(class_names, Mapping):
        return str(class_names.get(value, class_names.get(str(value), value)))
    try:
        return str(class_names[int(value)])
    except (TypeError, ValueError, IndexError):
        return str(value)


def _show(ax: Any, img: np.ndarray, vmax: float) -> None:
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        ax.imshow(img, cmap="gray", vmin=0, vmax=vmax)
    else:
        ax.imshow(np.clip(img[..., :3].astype(np.float64) / vmax, 0, 1))
    ax.set_xticks([])
    ax.set_yticks([])


def _vmax(images: np.ndarray) -> float:
    return 255.0 if images.dtype == np.uint8 else float(max(np.nanmax(images), 1e-12))


def member_order(members: np.ndarray, errors: np.ndarray, confidence: np.ndarray | None = None) -> np.ndarray:
    """The slice's members, errors first (the most confident mistakes first when ``confidence`` of
    the predicted class is given), then the correct ones; ties in row order."""
    members = np.asarray(members, dtype=np.int64)
    wrong = np.asarray(errors, dtype=bool)[members]
    conf = np.zeros(len(members)) if confidence is None else -np.asarray(confidence, dtype=np.float64)[members]
    return members[np.lexsort((members, conf, ~wrong))]


def nearest_training(images: np.ndarray, members: np.ndarray, train_images: np.ndarray, *, k: int,
                     embeddings: np.ndarray | None = None,
                     train_embeddings: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """Positions of the ``k`` training images nearest the slice's mean, and the space used."""
    if embeddings is not None and train_embeddings is not None:
        space, a, b = "embedding space", np.asarray(embeddings, np.float64), np.asarray(train_embeddings, np.float64)
    else:
        space = "pixel space"
        a = np.asarray(images, np.float64).reshape(len(images), -1)
        b = np.asarray(train_images, np.float64).reshape(len(train_images), -1)
    centre = a[members].mean(0)
    dist = ((b - centre) ** 2).sum(1)
    return np.argsort(dist, kind="mergesort")[:k], space


def _check_rows(values: Any, n: int, what: str) -> None:
    if values is not None and len(values) != n:
        raise DataError(f"The report got {what} for {len(values)} rows but the diagnosis analysed {n}. "
                        f"Pass {what} for exactly the analysed rows, in order.")


def slice_thumbnails_figure(images: np.ndarray, members: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, *,
                            train_images: np.ndarray | None = None, embeddings: np.ndarray | None = None,
                            train_embeddings: np.ndarray | None = None, class_names: Any = None,
                            confidence: np.ndarray | None = None, n: int = 16, n_train: int = 8, title: str = ""):
    """A grid of the slice's member images (errors first, captions ``true -> predicted``, errors in red)
    and, given ``train_images``, a row of the training images nearest to the slice."""
    plt = import_optional("matplotlib.pyplot")
    images = np.asarray(images)
    members = np.asarray(members, dtype=np.int64)
    if members.size == 0:
        return None
    errors = np.asarray(y_true) != np.asarray(y_pred)
    shown = member_order(members, errors, confidence)[:n]
    near, space = (np.empty(0, np.int64), "")
    if train_images is not None and len(train_images):
        near, space = nearest_training(images, members, np.asarray(train_images), k=n_train, embeddings=embeddings,
                                       train_embeddings=train_embeddings)
    rows_m, rows_t = -(-len(shown) // _COLS), -(-len(near) // _COLS)
    fig, axes = plt.subplots(rows_m + rows_t, _COLS, figsize=(1.25 * _COLS, 1.45 * (rows_m + rows_t) + 0.5),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    vmax = _vmax(images)
    for k, i in enumerate(shown):
        ax = axes[k // _COLS, k % _COLS]
        ax.axis("on")
        _show(ax, images[i], vmax)
        wrong = bool(errors[i])
        ax.set_title(f"{_name(y_true[i], class_names)}→{_name(y_pred[i], class_names)}", fontsize=7,
                     color="#d62728" if wrong else "#333333")
    for k, i in enumerate(near):
        ax = axes[rows_m + k // _COLS, k % _COLS]
        ax.axis("on")
        _show(ax, np.asarray(train_images)[i], _vmax(np.asarray(train_images)))
        ax.set_title(f"train #{int(i)}", fontsize=7, color="#555555")
    head = f"{title}: " if title else ""
    fig.suptitle(f"{head}{len(shown)} of {members.size} members, errors first (true→predicted, red = error)"
                 + (f"; last row(s): the {len(near)} training images nearest the slice ({space})" if len(near) else ""),
                 fontsize=8)
    fig.tight_layout()
    return fig


# -- tabular ---------------------------------------------------------------------------------
def _rule_features(definition: Mapping[str, Any], columns: Sequence[str]) -> tuple[list[str], dict[str, list]]:
    feats: list[str] = []
    cuts: dict[str, list] = {}
    if definition.get("kind") == "rule":
        for cond in definition.get("conditions", []):
            col = cond.get("feature")
            if col in columns and col not in feats:
                feats.append(col)
            if isinstance(cond.get("value"), (int, float)) and not isinstance(cond.get("value"), bool):
                cuts.setdefault(col, []).append(float(cond["value"]))
    return feats, cuts


def _most_different(features: pd.DataFrame, mask: np.ndarray, k: int) -> list[str]:
    """The ``k`` numeric columns whose slice mean differs most from the rest (in pooled SDs)."""
    num = features.select_dtypes("number")
    if num.empty or mask.all() or not mask.any():
        return []
    a, b = num[mask], num[~mask]
    sd = np.sqrt((a.var(ddof=0) + b.var(ddof=0)) / 2).replace(0, np.nan)
    gap = ((a.mean() - b.mean()).abs() / sd).dropna().sort_values(ascending=False, kind="mergesort")
    return [str(c) for c in gap.index[:k]]


def _numeric_panel(ax: Any, col: str, groups: dict[str, pd.Series], cuts: list[float]) -> None:
    values = pd.concat(list(groups.values())).astype(float).dropna()
    lo, hi = (np.nanpercentile(values, [0.5, 99.5]) if len(values) else (0.0, 1.0))
    bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 25)
    for name, vals in groups.items():
        v = vals.astype(float).dropna().clip(bins[0], bins[-1])
        if len(v):
            ax.hist(v, bins=bins, density=True, histtype="stepfilled" if name == "slice" else "step",
                    alpha=0.35 if name == "slice" else 1.0, color=_GROUP_COLORS[name], linewidth=1.3,
                    label=f"{name} ({len(v)})")
    for c in cuts:
        ax.axvline(c, color="black", linestyle="--", linewidth=0.9)
    ax.set_yticks([])


def _categorical_panel(ax: Any, groups: dict[str, pd.Series]) -> None:
    top = pd.concat(list(groups.values())).astype(str).value_counts().index[:8]
    x = np.arange(len(top))
    w = 0.8 / max(len(groups), 1)
    for j, (name, vals) in enumerate(groups.items()):
        share = vals.astype(str).value_counts(normalize=True).reindex(top, fill_value=0.0)
        ax.bar(x + j * w, share.to_numpy(), w, color=_GROUP_COLORS[name], label=f"{name} ({len(vals)})")
    ax.set_xticks(x + w * (len(groups) - 1) / 2, [str(t)[:12] for t in top], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("share", fontsize=7)


def feature_distributions_figure(features: pd.DataFrame, members: np.ndarray, *, definition: Mapping | None = None,
                                 train_features: pd.DataFrame | None = None, max_features: int = 4, title: str = ""):
    """Distributions of the slice's telling features: the slice's rows, all analysed (new) rows and,
    given ``train_features``, the training rows. A rule slice shows the features of its conditions
    (thresholds dashed); any other slice the numeric features whose slice mean differs most."""
    plt = import_optional("matplotlib.pyplot")
    mask = np.zeros(len(features), dtype=bool)
    mask[np.asarray(members, dtype=np.int64)] = True
    cols, cuts = _rule_features(definition or {}, list(features.columns))
    cols = (cols or _most_different(features, mask, max_features))[:max_features]
    if not cols:
        return None
    fig, axes = plt.subplots(1, len(cols), figsize=(2.7 * len(cols) + 0.6, 2.6), squeeze=False, layout="constrained")
    for ax, col in zip(axes[0], cols):
        groups = {"slice": features[col][mask], "all new rows": features[col]}
        if train_features is not None and col in train_features.columns:
            groups["training rows"] = train_features[col]
        if pd.api.types.is_numeric_dtype(features[col]) and not pd.api.types.is_bool_dtype(features[col]):
            _numeric_panel(ax, col, groups, cuts.get(col, []))
        else:
            _categorical_panel(ax, groups)
        ax.set_title(str(col)[:30], fontsize=8)
        ax.tick_params(labelsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=8)
    return fig


# -- Grad-CAM --------------------------------------------------------------------------------
def _cam_pairs(cam: Any, members: np.ndarray | None, images: np.ndarray | None, n: int) -> list[tuple[int, Any, Any]]:
    """(row, image, map) triples: every member with a map when the report kept all maps, else the
    report's kept examples (restricted to the members when given)."""
    member_set = None if members is None else set(np.asarray(members).tolist())
    cams = getattr(cam, "cams", None)
    if cams is not None and images is not None and members is not None:
        return [(int(i), images[i], cams[i]) for i in np.asarray(members)[:n]]
    out = []
    for e in getattr(cam, "examples", None) or []:
        if member_set is None or int(e["index"]) in member_set:
            out.append((int(e["index"]), e["image"], e["cam"]))
    return out[:n]


def gradcam_overlay_figure(cam: Any, *, members: np.ndarray | None = None, images: np.ndarray | None = None,
                           class_names: Any = None, n: int = 8, title: str = ""):
    """Grad-CAM maps (``jet``, half transparent) over their images, from a ``CamReport``: the slice's
    ``members`` (ordered as given: pass them errors first) when the report kept every map
    (``keep_cams=True``) and ``images`` are given, else the report's kept examples among the members
    (all kept examples when ``members`` is None). None when no map is at hand."""
    plt = import_optional("matplotlib.pyplot")
    pairs = _cam_pairs(cam, members, None if images is None else np.asarray(images), n)
    if not pairs:
        return None
    table = cam.images if hasattr(cam, "images") else {}
    labels, preds = table.get("label"), table.get("pred")
    cols = min(_COLS, len(pairs))
    rows = -(-len(pairs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.45 * cols, 1.65 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (i, img, m) in zip(axes.ravel(), pairs):
        img = np.asarray(img)
        ax.axis("on")
        _show(ax, img, _vmax(img))
        ax.imshow(np.asarray(m, dtype=np.float64), cmap="jet", alpha=0.45, vmin=0, vmax=1,
                  extent=(-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5))
        cap = f"#{i}"
        if labels is not None and preds is not None and i < len(preds):
            cap += f" {_name(labels[i], class_names)}→{_name(preds[i], class_names)}"
        ax.set_title(cap, fontsize=7)
    fig.suptitle((f"{title}: " if title else "") + "Grad-CAM (red = where the model looked)", fontsize=8)
    fig.tight_layout()
    return fig
