"""The demo's self-contained HTML report: scenario, diagnosis, fills, training set,
before/after comparison, the gate's decision and the registry's history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from curakit.html import escape, figure_html, format_number, frame_html, html_document, legend_html, section
from curakit.io import atomic_write_text
from curakit.optional import import_optional

from ._compare_report import _LEGEND as _COMPARE_LEGEND
from ._compare_report import readable_columns

__all__ = ["write_demo_report"]


def _image_grid(rows: list[tuple[str, np.ndarray, list[str]]], *, title: str):
    """One row of small images per (row label, images (k, H, W, C), captions)."""
    plt = import_optional("matplotlib.pyplot")
    ncols = max(len(imgs) for _, imgs, _ in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(1.0 * ncols + 1.2, 1.15 * len(rows) + 0.4), squeeze=False)
    for r, (label, imgs, caps) in enumerate(rows):
        for c in range(ncols):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(imgs):
                ax.imshow(imgs[c][..., 0] if imgs[c].shape[-1] == 1 else imgs[c], cmap="gray", vmin=0, vmax=255)
                ax.set_title(caps[c], fontsize=7)
        axes[r, 0].text(-0.35, 0.5, label, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _scenario_section(scen: Any) -> str:
    rng = np.random.default_rng(0)
    rows = []
    for flag, name in ((False, "usual"), (True, "heavy slanted")):
        idx = np.flatnonzero(scen.new["heavy"] == flag)
        pick = np.sort(rng.choice(idx, size=min(10, idx.size), replace=False)) if idx.size else idx
        rows.append((name, scen.new["images"][pick], [str(v) for v in scen.new["labels"][pick]]))
    counts = pd.DataFrame(
        [{"part": p, "images": len(getattr(scen, p)["labels"]), "heavy slanted share": float(getattr(scen, p)["heavy"].mean())}
         for p in ("old", "new", "old_test", "new_test")]
    )
    return section(
        "Scenario: the writers switched pens",
        "<p>scikit-learn's bundled digits (real 8x8 scans, upsampled to 16x16). Heavy slanted strokes "
        "were rare in the old data and are common in the new data. The incumbent was trained on the old data only.</p>",
        frame_html(counts),
        figure_html(_image_grid(rows, title="New data: usual vs heavy slanted digits"), "Samples from the new data"),
    )


def _diagnosis_section(diagnosis: Any, scen: Any, weak: list[Any]) -> str:
    from diagnose.figures import confusion_figure, error_scatter_figure, slice_labels, umap_scatter_figure

    conf = diagnosis.confusion
    parts = [figure_html(confusion_figure(conf.matrix, conf.labels), "Confusion matrix of the incumbent on the new batch")]
    if diagnosis.coords is not None:
        n = diagnosis.n_analysed
        parts.append(figure_html(umap_scatter_figure(diagnosis.coords, slice_labels(list(diagnosis.slices), n),
                                                     background="other", title="UMAP coloured by slice"),
                                 "UMAP of the incumbent's penultimate features, coloured by slice: each point is a new image."))
        parts.append(figure_html(error_scatter_figure(diagnosis.coords, diagnosis.errors), "UMAP coloured by error: where the incumbent errs"))
        truth = np.where(scen.new["heavy"], "heavy slanted", "usual")
        parts.append(figure_html(umap_scatter_figure(diagnosis.coords, truth, background="usual", order=["heavy slanted"],
                                                     title="UMAP coloured by the planted shift (ground truth)"),
                                 "The shifted sub-population, known here because the scenario planted it."))
    frame = diagnosis.to_frame()
    keep = [c for c in ("rank", "id", "method", "description", "size", "error_rate", "baseline_error_rate",
                        "train_share", "share", "q_value", "severity") if c in frame.columns]
    heavy = scen.new["heavy"]
    frame = frame[keep].copy()
    frame["heavy share"] = [float(heavy[s.indices].mean()) if s.size else float("nan") for s in diagnosis.slices]
    parts.append(f"<p>Slices filled: {escape(', '.join(s.id for s in weak))}.</p>")
    parts.append(frame_html(frame.head(15)))
    return section("Diagnosis: where the incumbent is weak", *parts)


def _fill_section(filled: Any, scen: Any) -> str:
    man = filled.manifest
    parts = [f"<p>{len(man)} new images, each with its parent, slice, seed and the exact parameters applied.</p>"]
    if len(man):
        show = man.head(8)
        parents = scen.new["images"][show["parent"].to_numpy(dtype=np.int64)]
        children = filled.images[: len(show)]
        rows = [("parent", parents, [f"new #{p}" for p in show["parent"]]),
                ("augmented", children, [f"label {v}" for v in show["label"]] if "label" in show else [""] * len(show))]
        parts.append(figure_html(_image_grid(rows, title="Offline augmentation of the weak slices"), "Parents and their children"))
        cols = [c for c in ("row_id", "parent_ids", "slice_ids", "seed", "params") if c in man.columns]
        parts.append(frame_html(man[cols].head(5)))
    return section("Fill: offline augmentation", *parts)


def _comparison_section(comparison: Any, decision: Any, registry: Any, weak: list[Any]) -> str:
    frame = readable_columns(comparison.frame, {s.id: s.description for s in weak})
    parts = [frame_html(frame), legend_html(_COMPARE_LEGEND, "Columns explained")]
    if hasattr(comparison, "figure"):
        parts.append(figure_html(comparison.figure(), "Accuracy per strategy on the old and new holdouts"))
    reasons = getattr(decision, "reasons", [])
    verdict = "promoted" if decision.promoted else "not promoted"
    parts.append(f"<p><b>Gate: candidate {verdict}.</b></p><ul>" + "".join(f"<li>{escape(r)}</li>" for r in reasons) + "</ul>")
    hist = registry.history()
    parts.append(frame_html(pd.DataFrame(hist) if not isinstance(hist, pd.DataFrame) else hist))
    return section("Retrain, compare, gate", *parts)


def _verdict(weak: list[Any], comparison: Any, decision: Any) -> str:
    """One sentence: the weak slices found, the candidate's scores and the gate's decision."""
    text = f"{len(weak)} weak slice(s) found"
    frame = getattr(comparison, "frame", None)
    if isinstance(frame, pd.DataFrame) and {"strategy", "new"} <= set(frame.columns) and frame["new"].notna().any():
        cands = frame[frame["strategy"] != "naive"]
        cands = cands if cands["new"].notna().any() else frame
        best = cands.loc[cands["new"].astype(float).idxmax()]
        text += f"; best retrained strategy on the new holdout (naive baseline aside): {best['strategy']} ({format_number(best['new'], 3)})"
    return text + f"; the gate {'promoted' if decision.promoted else 'did not promote'} the candidate."


def write_demo_report(path: str | Path, *, scen: Any, diagnosis: Any, weak: list[Any], filled: Any, ts: Any,
                      comparison: Any, decision: Any, registry: Any, result: Any) -> Path:
    """Write the report atomically to ``path``."""
    body = [
        section("Summary", f"<pre>{escape(result.summary())}</pre>"),
        _scenario_section(scen),
        _diagnosis_section(diagnosis, scen, list(weak)),
        _fill_section(filled, scen),
        section("Training set", frame_html(ts.summary())),
        _comparison_section(comparison, decision, registry, list(weak)),
        section("Timings (s)", frame_html(pd.DataFrame([result.timings]))),
    ]
    doc = html_document("curakit demo: digits drift", body, verdict=_verdict(list(weak), comparison, decision))
    atomic_write_text(path, doc)
    return Path(path)
