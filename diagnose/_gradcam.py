"""Grad-CAM for image classifiers: where a torch CNN looks, image by image, class by class.

:func:`gradcam` runs pytorch-grad-cam (``method="gradcam"`` and friends) on a named target
layer in batches and keeps only per-image statistics (memory stays flat however many images;
``keep_cams=True`` keeps the maps too):

- ``confidence``: softmax probability of the explained class (the predicted class, or the
  true label with ``explained_class="true"``);
- ``concentration``: share of the CAM's energy (sum of its non-negative values) in its top
  ``top_fraction`` (10%) pixels; a uniform map gives ``top_fraction``, a peaked one near 1;
- ``entropy``: entropy of the normalised CAM divided by ``log(H * W)`` (1 = uniform);
- ``drop``: confidence lost when the top-``top_fraction`` CAM pixels are occluded (set to the
  image's per-channel mean, or 0 with ``occlusion="zero"``); a faithful map gives a large drop;
- with ``masks`` (bool ``(n, H, W)``) or ``boxes`` (``(n, 4)`` as ``x0, y0, x1, y1`` pixel
  bounds, end exclusive): ``inside`` = share of CAM energy on the object, and ``area`` = the
  object's share of the image (what a uniform map would score).

A class is **flagged** when, with masks or boxes, its mean ``inside`` is below
``off_object_threshold`` (default 0.5: most attention lies off the object); without them,
when its mean ``concentration`` is below ``diffuse_threshold`` (default ``2 * top_fraction``:
attention barely more focused than a uniform map). Images with an all-zero CAM (no positive
gradient signal) get NaN statistics and are counted in ``empty``.
"""

from __future__ import annotations

import heapq
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from curakit.adapters import images_to_tensor, is_torch_model, num_outputs, resolve_layer
from curakit.exceptions import DataError, ParameterError
from curakit.html import escape, figure_html, frame_html, html_document, section
from curakit.io import atomic_path, atomic_write_text
from curakit.optional import import_optional
from curakit.progress import progress
from curakit.records import check_schema_version, json_ready, plain_value
from curakit.validation import UNSET, check_choice, check_images, check_interval, check_labels, renamed

from ._embed import model_in_channels
from ._slice import Slice

__all__ = ["CAM_METHODS", "CamReport", "gradcam"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

#: curakit name -> pytorch_grad_cam class name
CAM_METHODS = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "hirescam": "HiResCAM",
    "layercam": "LayerCAM",
    "xgradcam": "XGradCAM",
}

_IMAGE_COLUMNS = [
    "index",
    "label",
    "pred",
    "explained",
    "correct",
    "confidence",
    "concentration",
    "entropy",
    "drop",
    "inside",
    "area",
]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class CamReport:
    """Per-image Grad-CAM statistics with per-class and per-slice summaries.

    ``images``: dict of per-image arrays (columns of :meth:`to_frame`); ``classes`` /
    ``slices``: summary rows; ``examples``: a few images with their CAMs for overlays
    (not serialised); ``cams``: every CAM when ``keep_cams=True`` else None.
    """

    images: dict[str, np.ndarray]
    classes: list[dict[str, Any]]
    slices: list[dict[str, Any]]
    settings: dict[str, Any]
    examples: list[dict[str, Any]] = field(default_factory=list)
    cams: np.ndarray | None = None
    schema_version: int = SCHEMA_VERSION

    def to_frame(self) -> pd.DataFrame:
        """One row per image."""
        return pd.DataFrame({c: self.images[c] for c in _IMAGE_COLUMNS if c in self.images})

    def class_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.classes)

    def slice_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.slices)

    @property
    def flagged_classes(self) -> list[Any]:
        return [c["class"] for c in self.classes if c["flagged"]]

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "images": {k: [plain_value(v) for v in np.asarray(a).tolist()] for k, a in self.images.items()},
            "classes": json_ready(self.classes),
            "slices": json_ready(self.slices),
            "settings": json_ready(self.settings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CamReport:
        check_schema_version(data, "CamReport", SCHEMA_VERSION, fix="Re-run diagnose.gradcam with this version.")
        images = {}
        for k, v in data["images"].items():
            if k in ("concentration", "entropy", "drop", "inside", "area", "confidence"):
                images[k] = np.array([np.nan if x is None else x for x in v], dtype=np.float64)
            elif k in ("index", "pred", "explained"):
                images[k] = np.asarray(v, dtype=np.int64)
            elif k == "correct":
                images[k] = np.array([None if x is None else bool(x) for x in v], dtype=object)
            else:
                images[k] = np.asarray(v, dtype=object)
        return cls(
            images=images, classes=list(data["classes"]), slices=list(data["slices"]), settings=dict(data["settings"])
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CamReport:
        return cls.from_dict(json.loads(text))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CamReport):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None

    def __repr__(self) -> str:
        return (
            f"CamReport(images={len(self.images['index'])}, layer={self.settings.get('target_layer')!r}, "
            f"flagged_classes={self.flagged_classes})"
        )

    # -- plots ----------------------------------------------------------------------------
    def plot_grid(self, *, n: int | None = None, cols: int = 8):
        """Overlay grid of the kept example images (image, CAM in 'jet' on top)."""
        plt = import_optional("matplotlib.pyplot")
        ex = self.examples[: n or len(self.examples)]
        if not ex:
            raise ParameterError("This report kept no example images. Run gradcam with n_examples > 0.")
        cols = min(cols, len(ex))
        rows = -(-len(ex) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 1.9 * rows), squeeze=False)
        for ax in axes.ravel():
            ax.axis("off")
        for ax, e in zip(axes.ravel(), ex):
            img = e["image"]
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img[..., :3], cmap="gray" if img.shape[-1] == 1 else None)
            ax.imshow(
                e["cam"],
                cmap="jet",
                alpha=0.45,
                vmin=0,
                vmax=1,
                extent=(-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5),
            )
            title = f"#{e['index']} {e['label'] if e['label'] is not None else ''}->{e['pred']}"
            ax.set_title(title, fontsize=7)
        fig.tight_layout()
        return fig

    def save_grid(self, path: Any, *, n: int | None = None, cols: int = 8, dpi: int = 120) -> Any:
        """Write the overlay grid as a PNG (atomically)."""
        plt = import_optional("matplotlib.pyplot")
        fig = self.plot_grid(n=n, cols=cols)
        try:
            with atomic_path(path, suffix=".png") as tmp:
                fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
        finally:
            plt.close(fig)
        return path

    def _html_body(self) -> str:
        st = self.settings
        rule = (
            f"Flagged: mean share of CAM energy on the object below {st['off_object_threshold']:g}."
            if st.get("has_masks")
            else f"Flagged: mean concentration (energy in the top {st['top_fraction']:.0%} pixels) below {st['diffuse_threshold']:g}."
        )
        body = [
            section(
                "Per class",
                f'<p class="note">{escape(st["method"])} on layer {escape(st["target_layer"])}, '
                f"{len(self.images['index'])} images, explained class: {escape(_explained(st))}. {escape(rule)}</p>",
                frame_html(self.class_frame()),
            )
        ]
        if self.slices:
            body.append(section("Per slice", frame_html(self.slice_frame())))
        if self.examples:
            body.append(section("Examples", figure_html(self.plot_grid(), f"{st['examples']} examples")))
        body.append(section("Per image (first rows)", frame_html(self.to_frame(), max_rows=50)))
        return "".join(body)

    def to_html(self, path: Any = None) -> str:
        doc = html_document("Grad-CAM report", self._html_body())
        if path is not None:
            atomic_write_text(path, doc)
        return doc

    def _repr_html_(self) -> str:
        return self._html_body()




def _explained(settings: Mapping[str, Any]) -> str:
    """The explained class of a report's settings (reports saved before the rename say ``target``)."""
    if "explained_class" in settings:
        return str(settings["explained_class"])
    return {"label": "true"}.get(settings.get("target"), str(settings.get("target", "predicted")))


def _slice_masks(slices: Any, n: int) -> list[tuple[str, np.ndarray]]:
    if slices is None:
        return []
    items = (
        list(slices.items())
        if isinstance(slices, Mapping)
        else [(None, s) for s in (slices if isinstance(slices, (list, tuple)) else [slices])]
    )
    out = []
    for k, (name, s) in enumerate(items):
        if isinstance(s, Slice):
            if s.n_analysed != n:
                raise DataError(
                    f"Slice {s.id!r} covers a set of {s.n_analysed} rows but {n} images were given. "
                    "Pass slice.contains(embeddings=...) for these images as a boolean mask."
                )
            out.append((str(name) if name is not None else s.id, s.mask()))
            continue
        m = np.asarray(s)
        if m.dtype != bool or m.shape != (n,):
            raise DataError(
                f"slices[{k}] must be a Slice or a boolean mask of shape ({n},). Got dtype {m.dtype} and shape {m.shape} instead."
            )
        out.append((str(name) if name is not None else f"mask-{k}", m))
    return out


def _check_gradcam_params(model, images, target_layer, labels, masks, boxes, *, batch_size, method, explained_class,
                          occlusion, examples, top_fraction, transform=None):
    """Validate gradcam's arguments; return (images, labels, masks, boxes, layer) in working form."""
    if not is_torch_model(model):
        raise ParameterError(f"gradcam needs a torch nn.Module. Got {type(model).__name__} instead.")
    check_choice(method, "method", "gradcam", list(CAM_METHODS))
    check_choice(explained_class, "explained_class", "gradcam", ("predicted", "true"))
    check_choice(occlusion, "occlusion", "gradcam", ("mean", "zero", None))
    check_choice(examples, "examples", "gradcam", ("worst", "first", "errors"))
    imgs = check_images(images, channels=model_in_channels(model) if transform is None else None)
    n, H, W, _ = imgs.shape
    if n == 0:
        raise DataError(f"images is empty (shape {imgs.shape}). Pass at least one image.")
    check_interval(batch_size, "batch_size", "gradcam", kind=int, low=1)
    check_interval(top_fraction, "top_fraction", "gradcam", low=0.0, high=1.0, closed="neither")
    layer = resolve_layer(model, target_layer)
    if labels is not None:
        labels = check_labels(labels, "labels", "gradcam")  # a string, NaN labels, mixed kinds: one line each
        if labels.shape[0] != n:
            raise DataError(
                f"Inputs differ in length (images={n}, labels={labels.shape[0] if labels.ndim else 0}). Pass one label per image."
            )
    if explained_class == "true" and labels is None:
        raise ParameterError(
            "explained_class='true' explains each image's true class and needs labels=. "
            "Pass labels= or use explained_class='predicted'."
        )
    if explained_class == "true":
        _check_label_indices(labels, num_outputs(model, imgs[:1], transform))
    masks, boxes = _check_object_regions(masks, boxes, n, H, W)
    return imgs, labels, masks, boxes, layer


def _check_label_indices(labels: np.ndarray, k: int) -> None:
    """explained_class='true' explains output ``labels[i]``: labels must be class indices 0..k-1."""
    if labels.dtype.kind not in "iu":
        raise DataError(
            f"explained_class='true' needs labels that are the model's class indices (integers); got dtype "
            f"{labels.dtype}. Map class names to output indices first."
        )
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= k):
        raise DataError(
            f"explained_class='true' needs labels in 0..{k - 1} (the model has {k} outputs); some labels are outside "
            "that range. Check the class order, or use explained_class='predicted'."
        )


def _check_object_regions(masks, boxes, n, H, W):
    if masks is not None and boxes is not None:
        raise ParameterError("gradcam takes masks= or boxes=, not both. Pass one of them.")
    if masks is not None:
        masks = np.asarray(masks)
        if masks.dtype != bool or masks.shape != (n, H, W):
            raise DataError(
                f"masks must be boolean shaped (n, H, W) = ({n}, {H}, {W}). Got dtype {masks.dtype} and shape {masks.shape} instead."
            )
    if boxes is not None:
        boxes = np.asarray(boxes)
        if boxes.shape != (n, 4) or not np.isfinite(boxes.astype(np.float64)).all():
            raise DataError(
                f"boxes must be finite numbers shaped (n, 4) = ({n}, 4) as x0, y0, x1, y1. Got shape {boxes.shape} instead."
            )
        boxes = boxes.astype(np.int64)
    return masks, boxes


def _cam_batch(torch, cam, model, targets_mod, xb, lab_b, top_fraction, occlusion) -> dict[str, Any]:
    """One batch: CAMs (feature resolution), prediction, explained class, confidence and the CAM
    statistics (concentration, entropy, confidence drop). ``lab_b`` is None unless explained_class='true'."""
    tgt = None if lab_b is None else [targets_mod.ClassifierOutputTarget(int(v)) for v in lab_b]
    grayscale = cam(input_tensor=xb, targets=tgt)  # (B, h, w) in [0, 1], per image min-max
    with torch.no_grad():
        probs = torch.softmax(cam.outputs.detach(), dim=1)
    b_pred = probs.argmax(dim=1)
    b_expl = b_pred if tgt is None else torch.as_tensor(lab_b.astype(np.int64), device=probs.device)
    b_conf = probs.gather(1, b_expl[:, None])[:, 0]
    g = np.asarray(grayscale, dtype=np.float32)
    B = int(xb.shape[0])
    h, w = g.shape[1:]
    flat = g.reshape(B, -1)
    energy = flat.sum(axis=1)
    ok = energy > 0
    k = max(1, int(round(top_fraction * h * w)))
    top_idx = np.argpartition(-flat, k - 1, axis=1)[:, :k]
    top_energy = np.take_along_axis(flat, top_idx, axis=1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        conc = np.where(ok, top_energy / energy, np.nan)
        pn = flat / energy[:, None]
        plogp = np.where(pn > 0, pn * np.log(np.where(pn > 0, pn, 1.0)), 0.0)
        ent = np.where(ok, -plogp.sum(axis=1) / np.log(h * w), np.nan)
    drop = np.full(B, np.nan)
    if occlusion is not None:
        occ = torch.zeros((B, h * w), dtype=torch.bool)
        occ[np.arange(B)[:, None], torch.from_numpy(top_idx)] = True
        occ = occ.reshape(B, 1, h, w).to(xb.device)
        fill = xb.mean(dim=(2, 3), keepdim=True) if occlusion == "mean" else torch.zeros_like(xb[:, :, :1, :1])
        with torch.no_grad():
            x_occ = torch.where(occ, fill.expand_as(xb), xb) if occ.shape[-2:] == xb.shape[-2:] else xb
            p_occ = torch.softmax(model(x_occ), dim=1).gather(1, b_expl[:, None])[:, 0]
        drop = np.where(ok, (b_conf - p_occ).detach().cpu().numpy(), np.nan)
    return {"pred": b_pred, "explained": b_expl, "confidence": b_conf, "cam": g, "ok": ok,
            "concentration": conc, "entropy": ent, "drop": drop}


def _object_share(g, masks, boxes, start, stop):
    """Share of each CAM's energy on the object, and the object's area share, for one batch."""
    B, H, W = g.shape
    if masks is not None:
        mb = masks[start:stop]
    else:
        mb = np.zeros((B, H, W), dtype=bool)
        for i, (x0, y0, x1, y1) in enumerate(boxes[start:stop]):
            mb[i, max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
    e_img = g.reshape(B, -1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        inside = np.where(e_img > 0, (g * mb).reshape(B, -1).sum(axis=1) / e_img, np.nan)
    return inside, mb.reshape(B, -1).mean(axis=1)


def _keep_examples(g, start, *, examples, n_examples, heap, kept_first, labels, pred, scores):
    """Offer one batch's CAMs to the example pool (``kept_first`` or the ``heap`` of the worst)."""
    for i in range(g.shape[0]):
        idx = start + i
        if examples == "first":
            if len(kept_first) < n_examples:
                kept_first.append((idx, g[i].copy()))
            continue
        if examples == "errors":
            if labels is None or pred[idx] == labels[idx]:
                continue
            bad = 0.0
        else:
            score = scores[idx]
            bad = 1.0 - (score if np.isfinite(score) else 0.0)
        item = (bad, -idx, g[i].astype(np.float16))
        if len(heap) < n_examples:
            heapq.heappush(heap, item)
        elif item[:2] > heap[0][:2]:
            heapq.heapreplace(heap, item)


def _run_cams(torch, model, layer, imgs, labels, masks, boxes, *, batch_size, transform, method, explained_class,
              top_fraction, occlusion, keep_cams, n_examples, examples, show_progress):
    """Grad-CAM over all images in batches: per-image statistics, kept CAMs and example candidates."""
    n, H, W, _ = imgs.shape
    cam_module = import_optional("pytorch_grad_cam")
    targets_mod = import_optional("pytorch_grad_cam.utils.model_targets")
    F = torch.nn.functional
    was_training = model.training
    cam = getattr(cam_module, CAM_METHODS[method])(model=model, target_layers=[layer])
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    has_masks = masks is not None or boxes is not None
    acc = {"pred": np.empty(n, dtype=np.int64), "explained": np.empty(n, dtype=np.int64), "confidence": np.empty(n)}
    acc.update({key: np.full(n, np.nan) for key in ("concentration", "entropy", "drop", "inside", "area")})
    cams_out = np.empty((n, H, W), dtype=np.float32) if keep_cams else None
    heap: list[tuple[float, int, np.ndarray]] = []  # (-badness, -index, cam) for "worst"
    kept_first: list[tuple[int, np.ndarray]] = []
    empty = 0
    try:
        starts = range(0, n, batch_size)
        for start in progress(starts, desc="Grad-CAM", total=len(starts), enabled=show_progress):
            stop = min(start + batch_size, n)
            xb = images_to_tensor(imgs[start:stop], transform).to(device)
            b = _cam_batch(torch, cam, model, targets_mod, xb, labels[start:stop] if explained_class == "true" else None,
                           top_fraction, occlusion)
            empty += int((~b["ok"]).sum())
            for key in ("concentration", "entropy", "drop"):
                acc[key][start:stop] = b[key]
            g = b["cam"]
            # CAMs at image resolution for masks, overlays and kept maps
            if g.shape[1:] != (H, W):
                g = F.interpolate(torch.from_numpy(g)[:, None], size=(H, W), mode="bilinear", align_corners=False)[
                    :, 0
                ].numpy()
            if has_masks:
                acc["inside"][start:stop], acc["area"][start:stop] = _object_share(g, masks, boxes, start, stop)
            if cams_out is not None:
                cams_out[start:stop] = g
            for key in ("pred", "explained", "confidence"):
                acc[key][start:stop] = b[key].detach().cpu().numpy()
            if n_examples > 0:
                _keep_examples(g, start, examples=examples, n_examples=n_examples, heap=heap, kept_first=kept_first,
                               labels=labels, pred=acc["pred"],
                               scores=acc["inside"] if has_masks else acc["concentration"])
    finally:
        cam.activations_and_grads.release()
        model.train(was_training)
    if empty:
        logger.info("gradcam: %d of %d images have an all-zero CAM", empty, n)
    chosen = kept_first if examples == "first" else [
        (-neg_idx, c.astype(np.float32)) for _, neg_idx, c in sorted(heap, key=lambda t: (-t[0], -t[1]))
    ]
    return acc, cams_out, chosen, empty


def _cam_summary(sel: np.ndarray, acc: dict[str, np.ndarray], labels, has_masks: bool) -> dict[str, Any]:
    def mean(a):
        v = a[sel]
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else None

    pred = acc["pred"]
    return {
        "n": int(sel.sum()),
        "accuracy": None if labels is None else float(np.mean(pred[sel] == labels[sel])) if sel.any() else None,
        "confidence": mean(acc["confidence"]),
        "concentration": mean(acc["concentration"]),
        "entropy": mean(acc["entropy"]),
        "drop": mean(acc["drop"]),
        "inside": mean(acc["inside"]) if has_masks else None,
        "area": mean(acc["area"]) if has_masks else None,
        "empty": int((~np.isfinite(acc["concentration"][sel])).sum()),
    }


def _cam_class_rows(acc, labels, has_masks, off_object_threshold, diffuse):
    group = labels if labels is not None else acc["pred"]
    classes = []
    for c in sorted(np.unique(group).tolist(), key=lambda v: (str(type(v)), v)):
        row = {"class": plain_value(c), **_cam_summary(group == c, acc, labels, has_masks)}
        if has_masks:
            flagged = row["inside"] is not None and row["inside"] < off_object_threshold
            reason = (
                f"mean share of CAM energy on the object {row['inside']:.2f} < {off_object_threshold:g}"
                if flagged
                else ""
            )
        else:
            flagged = row["concentration"] is not None and row["concentration"] < diffuse
            reason = (
                f"mean concentration {row['concentration']:.2f} < {diffuse:g} (diffuse attention)" if flagged else ""
            )
        row["flagged"] = bool(flagged)
        row["reason"] = reason
        classes.append(row)
    return classes


def _gradcam_report(imgs, labels, acc, cams_out, chosen, slice_masks, settings) -> CamReport:
    """Assemble the CamReport: per-image table, per-class and per-slice summaries, examples."""
    n = imgs.shape[0]
    pred, has_masks = acc["pred"], settings["has_masks"]
    correct = (
        None if labels is None else np.array([bool(p == lab) for p, lab in zip(pred, labels.tolist())], dtype=object)
    )
    per_image = {
        "index": np.arange(n),
        "label": labels if labels is not None else np.full(n, None, dtype=object),
        "pred": pred,
        "explained": acc["explained"],
        "correct": correct if correct is not None else np.full(n, None, dtype=object),
        **{key: acc[key] for key in ("confidence", "concentration", "entropy", "drop", "inside", "area")},
    }
    classes = _cam_class_rows(acc, labels, has_masks, settings["off_object_threshold"], settings["diffuse_threshold"])
    slice_rows = [{"slice": name, **_cam_summary(m, acc, labels, has_masks)} for name, m in slice_masks]
    example_list = [
        {
            "index": int(i),
            "image": imgs[i].copy(),
            "cam": c,
            "label": None if labels is None else plain_value(labels[i]),
            "pred": int(pred[i]),
        }
        for i, c in chosen
    ]
    return CamReport(
        images=per_image, classes=classes, slices=slice_rows, settings=settings, examples=example_list, cams=cams_out
    )


def gradcam(
    model: Any,
    images: Any,
    *,
    target_layer: str,
    labels: Any = None,
    masks: Any = None,
    boxes: Any = None,
    slices: Any = None,
    batch_size: int = 64,
    transform: Callable | None = None,
    method: str = "gradcam",
    explained_class: str = "predicted",
    top_fraction: float = 0.1,
    occlusion: str | None = "mean",
    keep_cams: bool = False,
    n_examples: int = 16,
    examples: str = "worst",
    off_object_threshold: float = 0.5,
    diffuse_threshold: float | None = None,
    progress: bool | None = None,
    progress_bar: Any = UNSET,
    target: Any = UNSET,
) -> CamReport:
    """Grad-CAM statistics of ``model`` on ``images`` (see the module docstring).

    Parameters
    ----------
    model : a torch ``nn.Module`` classifier (logits out).
    images : uint8 array (n, H, W, C).
    target_layer : the layer named as in ``model.named_modules()`` (e.g. ``"backbone.5"``).
    labels : true labels (n,), for accuracy, ``explained_class="true"`` and per-class summaries.
    masks, boxes : the object's pixels (bool (n, H, W)) or boxes (n, 4) ``x0, y0, x1, y1``.
    slices : Slices over these images, boolean masks, or name -> mask, for per-slice summaries.
    method : one of :data:`CAM_METHODS`.
    explained_class : ``"predicted"`` or ``"true"``: the class each CAM explains, as in
        :func:`diagnose.explain` (``target=`` is the old name, deprecated; its ``"label"`` is ``"true"``).
    occlusion : ``"mean"``, ``"zero"`` or None (skip the confidence-drop test: faster).
    keep_cams : also return every CAM (float32 (n, H, W)) in ``report.cams``.
    n_examples, examples : how many images (with CAMs) to keep for overlays, chosen
        ``"worst"`` (lowest ``inside``, else lowest ``concentration``), ``"first"`` or ``"errors"``.
    progress : draw a progress bar (None: automatic; ``progress_bar=`` is the old name, deprecated).
    """
    show = renamed("gradcam", "progress_bar", "progress", progress_bar, progress)
    explained_class = renamed("gradcam", "target", "explained_class", target, explained_class, default="predicted")
    explained_class = "true" if explained_class == "label" and target is not UNSET else explained_class
    torch = import_optional("torch")
    imgs, labels, masks, boxes, layer = _check_gradcam_params(
        model, images, target_layer, labels, masks, boxes, batch_size=batch_size, method=method,
        explained_class=explained_class, occlusion=occlusion, examples=examples, top_fraction=top_fraction, transform=transform,
    )
    n, H, W, _ = imgs.shape
    slice_masks = _slice_masks(slices, n)
    diffuse = float(diffuse_threshold) if diffuse_threshold is not None else 2.0 * float(top_fraction)
    acc, cams_out, chosen, empty = _run_cams(
        torch, model, layer, imgs, labels, masks, boxes, batch_size=batch_size, transform=transform, method=method,
        explained_class=explained_class, top_fraction=top_fraction, occlusion=occlusion, keep_cams=keep_cams, n_examples=n_examples,
        examples=examples, show_progress=show,
    )
    settings = {
        "target_layer": target_layer,
        "method": method,
        "explained_class": explained_class,
        "top_fraction": float(top_fraction),
        "occlusion": occlusion,
        "has_masks": masks is not None or boxes is not None,
        "off_object_threshold": float(off_object_threshold),
        "diffuse_threshold": diffuse,
        "examples": examples,
        "empty": int(empty),
        "image_shape": [int(H), int(W), int(imgs.shape[3])],
    }
    return _gradcam_report(imgs, labels, acc, cams_out, chosen, slice_masks, settings)
