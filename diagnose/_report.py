"""Figures and HTML for a :class:`~diagnose.Diagnosis`, reusable by other reports (the demo).

* :func:`confusion_figure` - heatmap of a confusion matrix (row-normalised by default).
* :func:`umap_scatter_figure` - 2-D scatter coloured by a categorical label per row (slice
  membership, error flag, class...).
* :func:`slice_labels` - one label per row: the most severe of the top slices it belongs to.
* :func:`diagnosis_html` / :func:`diagnosis_summary_html` - the full report and the notebook view.

matplotlib is imported inside the functions (never at ``import diagnose``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from curakit.html import escape, figure_html, format_number, frame_html, html_document, legend_html, section
from curakit.optional import import_optional

if TYPE_CHECKING:  # pragma: no cover
    from ._slice import Slice

# The functions below take a ``diagnose.Diagnosis`` (duck-typed: ``_find`` imports this module to
# render its record, so importing ``_find`` here, even for typing, would close an import circle).
DiagnosisLike = Any

__all__ = [
    "confusion_figure",
    "diagnosis_html",
    "diagnosis_report_data",
    "diagnosis_summary_html",
    "PICTURE_OPTIONS",
    "error_scatter_figure",
    "slice_labels",
    "umap_scatter_figure",
]

_PALETTE = [
    "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f", "#393b79", "#637939",
]  # fmt: skip


def confusion_figure(
    matrix: np.ndarray,
    labels: Sequence[Any],
    *,
    normalize: bool = True,
    ax: Any = None,
    max_classes: int = 40,
    title: str | None = None,
):
    """Heatmap of a (k, k) confusion matrix; cells annotated when k <= 15. Returns the Figure."""
    plt = import_optional("matplotlib.pyplot")
    m = np.asarray(matrix, dtype=np.float64)
    labels = [str(v) for v in labels]
    if m.shape[0] > max_classes:  # keep the classes with most errors
        err = m.sum(1) - np.diag(m)
        keep = np.sort(np.argsort(-err, kind="mergesort")[:max_classes])
        m = m[np.ix_(keep, keep)]
        labels = [labels[i] for i in keep]
    shown = m / np.maximum(m.sum(1, keepdims=True), 1) if normalize else m
    k = m.shape[0]
    if ax is None:
        size = min(2.0 + 0.45 * k, 14.0)
        fig, ax = plt.subplots(figsize=(size + 1.2, size))
    else:
        fig = ax.figure
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class" if normalize else "rows")
    ax.set_xticks(range(k), labels, rotation=90 if k > 10 else 0)
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or ("Confusion matrix (row-normalised)" if normalize else "Confusion matrix (counts)"))
    if k <= 15:
        for i in range(k):
            for j in range(k):
                if m[i, j]:
                    txt = f"{shown[i, j]:.2f}" if normalize else f"{int(m[i, j])}"
                    ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                            color="white" if shown[i, j] > (0.5 if normalize else shown.max() / 2) else "black")
    fig.tight_layout()
    return fig


def umap_scatter_figure(
    coords: np.ndarray,
    labels: Sequence[Any] | np.ndarray,
    *,
    title: str = "UMAP of the embeddings",
    ax: Any = None,
    order: Sequence[Any] | None = None,
    background: Any = None,
    colors: dict[Any, str] | None = None,
    s: float | None = None,
):
    """Scatter of 2-D ``coords`` coloured by a categorical ``labels`` (one per row).

    ``background`` (a label value, e.g. ``"other"``) is drawn first in light grey so that the
    highlighted groups stay visible. ``order`` fixes the legend order; ``colors`` maps labels to
    colours. Returns the Figure.
    """
    plt = import_optional("matplotlib.pyplot")
    xy = np.asarray(coords, dtype=np.float64)
    lab = np.asarray([str(v) for v in labels], dtype=object)
    if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] != lab.shape[0]:
        from curakit.exceptions import DataError

        raise DataError(
            f"umap_scatter_figure needs coords shaped (n, 2) and one label per row. "
            f"Got coords {xy.shape} and {lab.shape[0]} labels instead."
        )
    groups = [str(v) for v in order] if order is not None else sorted(set(lab.tolist()))
    bg = None if background is None else str(background)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 6))
    else:
        fig = ax.figure
    size = s if s is not None else float(np.clip(3000 / max(len(lab), 1), 2, 25))
    if bg is not None and bg in set(lab.tolist()):
        sel = lab == bg
        ax.scatter(xy[sel, 0], xy[sel, 1], s=size, c="#cfcfcf", label=bg, linewidths=0)
    k = 0
    for g in groups:
        if g == bg:
            continue
        sel = lab == g
        if not sel.any():
            continue
        col = (colors or {}).get(g, _PALETTE[k % len(_PALETTE)])
        k += 1
        ax.scatter(xy[sel, 0], xy[sel, 1], s=size * 1.3, c=col, label=f"{g} ({int(sel.sum())})", linewidths=0)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=2, frameon=False)
    fig.tight_layout()
    return fig


def error_scatter_figure(coords: np.ndarray, errors: np.ndarray, *, title: str = "UMAP coloured by error", ax: Any = None):
    """``umap_scatter_figure`` of correct (grey) vs wrong (red) rows."""
    lab = np.where(np.asarray(errors, dtype=bool), "error", "correct")
    return umap_scatter_figure(coords, lab, title=title, ax=ax, order=["error"], background="correct",
                               colors={"error": "#d62728"})


def slice_labels(slices: Sequence[Slice], n: int, *, top: int = 8, other: str = "other") -> np.ndarray:
    """One label per analysed row: ``"#rank method"`` of the most severe of the first ``top``
    slices that contain it, else ``other``."""
    out = np.full(n, other, dtype=object)
    for rank, s in reversed(list(enumerate(slices[:top], start=1))):
        out[s.indices] = f"#{rank} {s.method}"
    return out


def _summary_table(d: DiagnosisLike, top: int | None = None) -> pd.DataFrame:
    frame = d.to_frame()
    if top is not None:
        frame = frame.head(top)
    cols = ["description", "rank", "method", "size", "error_rate", "error_ci_low", "error_ci_high",
            "lift", "train_share", "q_value", "severity", "reasons"]
    return frame[cols].rename(columns={"description": "slice"})


def diagnosis_summary_html(d: DiagnosisLike, top: int = 10) -> str:
    """Short HTML (for Jupyter): headline numbers and the top slices."""
    head = (
        f"<p><b>Diagnosis</b>: {d.n_analysed} rows, baseline error {d.baseline_error_rate:.3f}, "
        f"methods {escape(', '.join(d.methods))}, {len(d.slices)} slice(s).</p>"
    )
    if not d.slices:
        return head + '<p class="note">No slice passed the tests.</p>'
    return head + frame_html(_summary_table(d, top))


_LEGEND = {
    "slice": "the slice's readable description (its id is under Slice details and in the title's tooltip)",
    "rank": "order of the slice in the report, most severe first",
    "size": "analysed rows in the slice",
    "error_rate": "share of the slice's rows the model gets wrong",
    "error_ci_low / error_ci_high": "95% Wilson interval of error_rate",
    "lift": "error_rate / the baseline error rate",
    "train_share": "share of the training rows in the slice (— when unknown); well below share = under-represented",
    "q_value": "Benjamini-Hochberg adjusted p-value of the slice's excess error",
    "severity": "excess errors in the slice / analysed rows (plus an under-representation term for clusters)",
    "isolation": "distance to the nearest other cluster / the cluster's median member distance (high = isolated)",
    "contains_agreement": "Jaccard agreement of Slice.contains() with the cluster's members on the analysed rows",
}


def _verdict(d: DiagnosisLike) -> str:
    if not d.slices:
        return (f"No slice passed the tests on {d.n_analysed} rows "
                f"(baseline error rate {format_number(d.baseline_error_rate, 3)}).")
    s = d.slices[0]
    return (f"{len(d.slices)} slice(s) where the model errs more than its baseline of "
            f"{format_number(d.baseline_error_rate, 3)}; worst: {s.description} "
            f"({s.size} rows, error rate {format_number(s.error_rate, 3)}).")


def _cluster_section(d: DiagnosisLike, top: int) -> str:
    lab = slice_labels(d.slices, d.n_analysed, top=top)
    order = [f"#{r} {s.method}" for r, s in enumerate(d.slices[:top], start=1)]
    shown = sum(1 for g in order if (lab == g).any())
    figs = [
        figure_html(
            umap_scatter_figure(d.coords, lab, title="UMAP coloured by slice", order=order, background="other"),
            f"UMAP of the embeddings; {shown} of the top {min(top, len(d.slices))} slices visible. Each row takes "
            "the colour of the most severe slice holding it, so legend counts can be below the slice sizes.",
        ),
        figure_html(error_scatter_figure(d.coords, d.errors), "UMAP of the embeddings; errors in red"),
    ]
    table = d.cluster_table
    agree = d.info.get("clusters", {}).get("mean_contains_agreement")
    note = (
        f'<p class="note">Test scheme: {escape(d.info.get("clusters", {}).get("scheme", ""))}; mean Jaccard '
        f"agreement of contains() with the clusters on the analysed rows: {format_number(agree, 3)}.</p>"
        if agree is not None and agree == agree
        else ""
    )
    return section("Embedding clusters", *figs, note, frame_html(table) if table is not None else "")


def _rounded(v: Any) -> Any:
    """Numbers inside lists / dicts rounded for reading (4 significant digits), recursively."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float, np.number)):
        return format_number(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_rounded(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(str(_rounded(x)) for x in list(v)[:20]) + (", …" if len(v) > 20 else "") + "]"
    return str(v)


def _evidence_value(v: Any) -> str:
    return str(_rounded(v))[:300]


def _details_section(d: DiagnosisLike) -> str:
    details = []
    for rank, s in enumerate(d.slices, start=1):
        rows = pd.DataFrame({"key": list(s.evidence), "value": [_evidence_value(v) for v in s.evidence.values()]})
        ci = f" [{format_number(s.error_ci[0], 3)}, {format_number(s.error_ci[1], 3)}]" if s.error_ci else ""
        body = (f'<p class="note">id {escape(s.id)}</p>'
                f"<p>{s.size} rows ({s.share:.1%}), error {format_number(s.error_rate, 3)}{ci}"
                f" vs baseline {format_number(s.baseline_error_rate, 3)}; definition kind "
                f"{escape(s.definition['kind'])}.</p>" + frame_html(rows))
        head = f'<h3 title="{escape(s.id)}">#{rank} {escape(s.description)}</h3>'
        # the three most severe open, the rest folded (a long report stays navigable)
        details.append(f"{head}{body}" if rank <= 3 else
                       f'<details><summary title="{escape(s.id)}">#{rank} {escape(s.description)}</summary>{body}</details>')
    return section("Slice details", *details)


#: The keyword options of :func:`diagnosis_html` that add pictures (all optional).
PICTURE_OPTIONS = ("images", "train_images", "embeddings", "train_embeddings", "features", "train_features",
                   "gradcam", "class_names", "n_pictures")


def _check_picture_options(d: DiagnosisLike, options: dict[str, Any]) -> dict[str, Any]:
    from curakit.exceptions import ParameterError
    from curakit.plugins import did_you_mean

    from ._pictures import _check_rows

    for key in options:
        if key not in PICTURE_OPTIONS:
            raise ParameterError(f"The diagnosis report takes no option {key!r}.{did_you_mean(key, list(PICTURE_OPTIONS))} "
                                 f"Its options: title, top, {', '.join(PICTURE_OPTIONS)}.")
    n = d.n_analysed
    for key in ("images", "embeddings", "features"):
        _check_rows(options.get(key), n, key)
    cams = getattr(options.get("gradcam"), "cams", None)
    _check_rows(cams, n, "gradcam maps (keep_cams=True)")
    if options.get("features") is not None and not hasattr(options["features"], "columns"):
        raise ParameterError("The report's features= must be a pandas DataFrame of the analysed rows (named columns).")
    return options


def _slice_pictures(d: DiagnosisLike, rank: int, s: Slice, o: dict[str, Any]) -> str:
    from ._pictures import (
        feature_distributions_figure,
        gradcam_overlay_figure,
        member_order,
        slice_thumbnails_figure,
    )

    members = member_order(s.indices, d.errors)
    figs = []
    if o.get("images") is not None:
        figs.append((slice_thumbnails_figure(o["images"], s.indices, d.y_true, d.y_pred, train_images=o.get("train_images"),
                                             embeddings=o.get("embeddings"), train_embeddings=o.get("train_embeddings"),
                                             class_names=o.get("class_names"), title=f"#{rank}"),
                     "Member images, errors first, and the nearest training images"))
    if o.get("features") is not None:
        figs.append((feature_distributions_figure(o["features"], s.indices, definition=s.definition,
                                                  train_features=o.get("train_features"), title=f"#{rank}"),
                     "Feature distributions: the slice vs all new rows vs the training rows"))
    if o.get("gradcam") is not None:
        figs.append((gradcam_overlay_figure(o["gradcam"], members=members, images=o.get("images"),
                                            class_names=o.get("class_names"), title=f"#{rank}"),
                     "Grad-CAM over the slice's images, errors first"))
    shown = [figure_html(f, cap) for f, cap in figs if f is not None]
    if not shown:
        return ""
    return f'<h3 title="{escape(s.id)}">#{rank} {escape(s.description)}</h3>' + "".join(shown)


def _pictures_section(d: DiagnosisLike, o: dict[str, Any]) -> str:
    if not d.slices or not any(o.get(k) is not None for k in ("images", "features", "gradcam")):
        return ""
    n = int(o.get("n_pictures", 4))
    blocks = [_slice_pictures(d, rank, s, o) for rank, s in enumerate(d.slices[:n], start=1)]
    cam = o.get("gradcam")
    if cam is not None and not any("Grad-CAM" in b for b in blocks):
        from ._pictures import gradcam_overlay_figure

        fig = gradcam_overlay_figure(cam, class_names=o.get("class_names"), title="kept examples")
        if fig is not None:
            blocks.append(figure_html(fig, "Grad-CAM of the report's kept examples (none falls in the slices shown)"))
    blocks = [b for b in blocks if b]
    return section("Slice pictures", *blocks) if blocks else ""


def _named(frame: pd.DataFrame, class_names: Any, columns: Sequence[str]) -> pd.DataFrame:
    """Class columns shown by the user's class names (when given)."""
    if class_names is None:
        return frame
    from ._pictures import _name

    frame = frame.copy()
    for col in columns:
        if col in frame.columns:
            frame[col] = [_name(v, class_names) for v in frame[col]]
    return frame


def _slice_picture_data(d: DiagnosisLike, s: Slice, o: dict[str, Any]) -> dict[str, Any]:
    from ._pictures import _most_different, _rule_features, member_order, nearest_training

    out: dict[str, Any] = {"id": s.id, "description": s.description}
    order = member_order(s.indices, d.errors)
    if o.get("images") is not None:
        out["thumbnails"] = order[:16].tolist()
        if o.get("train_images") is not None and len(o["train_images"]):
            near, space = nearest_training(o["images"], s.indices, o["train_images"], k=8, embeddings=o.get("embeddings"),
                                           train_embeddings=o.get("train_embeddings"))
            out["nearest_training"], out["nearest_space"] = near.tolist(), space
    if o.get("features") is not None:
        feats = o["features"]
        cols, _ = _rule_features(s.definition, list(feats.columns))
        mask = np.zeros(len(feats), dtype=bool)
        mask[s.indices] = True
        out["features_shown"] = (cols or _most_different(feats, mask, 4))[:4]
    if o.get("gradcam") is not None and getattr(o["gradcam"], "cams", None) is not None:
        out["gradcam_rows"] = order[:8].tolist()
    return out


def diagnosis_report_data(d: DiagnosisLike, *, top: int = 8, **pictures: Any) -> dict[str, Any]:
    """What :func:`diagnosis_html` shows, as JSON-able data: the verdict, the headline numbers, the
    slice table (``Diagnosis.to_frame`` rows), per-class metrics, the most confused pairs, the
    cluster table and, per pictured slice, the rows its pictures show (thumbnails errors first, the
    nearest training rows and the space they were found in, the features whose distributions are drawn,
    the Grad-CAM rows). Takes the same options as :func:`diagnosis_html`."""
    from curakit.records import json_ready

    o = _check_picture_options(d, pictures)
    names = o.get("class_names")
    conf = d.confusion
    n_pic = int(o.get("n_pictures", 4)) if any(o.get(k) is not None for k in ("images", "features", "gradcam")) else 0
    data = {
        "verdict": _verdict(d),
        "n_analysed": d.n_analysed,
        "baseline_error_rate": d.baseline_error_rate,
        "methods": list(d.methods),
        "slices": d.to_frame().to_dict("records"),
        "per_class": _named(conf.per_class(), names, ("label",)).to_dict("records"),
        "most_confused": _named(conf.most_confused(10), names, ("true", "pred")).to_dict("records"),
        "clusters": None if d.cluster_table is None else d.cluster_table.to_dict("records"),
        "pictures": [_slice_picture_data(d, s, o) for s in d.slices[:n_pic]],
        "legend": dict(_LEGEND),
    }
    return json_ready(data)


def diagnosis_html(d: DiagnosisLike, *, title: str = "curakit diagnosis", top: int = 8, **pictures: Any) -> str:
    """The full self-contained report: a one-sentence verdict and a table of contents, summary,
    slice table with its legend, confusion matrix, per-class metrics, UMAP scatter coloured by
    slice and by error, cluster table, pictures of the worst slices, per-slice details.

    pictures (all optional; see :data:`PICTURE_OPTIONS`): ``images`` (the analysed images) gives
    each of the ``n_pictures`` (default 4) worst slices a grid of its members, errors first, next
    to the ``train_images`` nearest to it (in the space of ``embeddings`` / ``train_embeddings``
    when given, else pixels); ``features`` (the analysed rows) / ``train_features`` give tabular
    slices their feature distributions; ``gradcam`` (a ``CamReport`` on the analysed images) draws
    Grad-CAM overlays; ``class_names`` (a list by class index or a mapping) names the classes.
    """
    o = _check_picture_options(d, pictures)
    conf = d.confusion
    names = o.get("class_names")
    from ._pictures import _name

    labels = [_name(v, names) for v in conf.labels]
    parts = [
        section(
            "Summary",
            f"<p>{d.n_analysed} analysed rows, {len(conf.labels)} classes, baseline error rate "
            f"<b>{format_number(d.baseline_error_rate, 3)}</b>. Methods run: "
            f"{escape(', '.join(d.methods) or '(none)')}. {len(d.slices)} slice(s) reported, most severe first "
            f"({d.info.get('n_merged', 0)} near-duplicate(s) merged).</p>",
            "".join(
                f'<p class="note">Skipped {escape(m)}: {escape(why)}</p>' for m, why in d.info.get("skipped", {}).items()
            ),
        ),
        section(
            "Slices",
            frame_html(_summary_table(d)) if d.slices else '<p class="note">No slice passed the tests.</p>',
            legend_html(_LEGEND, "Columns explained"),
        ),
        section(
            "Confusion",
            figure_html(confusion_figure(conf.matrix, labels), "Confusion matrix, row-normalised"),
            frame_html(_named(conf.per_class(), names, ("label",))),
            "<p>Most confused pairs</p>",
            frame_html(_named(conf.most_confused(10), names, ("true", "pred"))),
        ),
    ]
    if d.coords is not None:
        parts.append(_cluster_section(d, top))
    parts.append(_pictures_section(d, o))
    if d.slices:
        parts.append(_details_section(d))
    return html_document(title, parts, verdict=_verdict(d))
