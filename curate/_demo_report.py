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
from ._compare_report import readable_columns, short_name, slice_legend

__all__ = ["format_table", "summary_frame", "write_demo_report"]


#: The columns of the short summary table (slice columns follow, named by description).
SUMMARY_COLUMNS = ("strategy", "old", "new", "forgetting", "gain_new", "vs_naive:new", "n_train")


def summary_frame(table: pd.DataFrame, slice_names: dict[str, str] | None = None) -> pd.DataFrame:
    """The short table a reader needs: scores, forgetting, gain, the naive comparison and each filled
    slice on the new holdout, slice columns named ``<description> (<set>)`` (never by hash id)."""
    keep = [c for c in SUMMARY_COLUMNS if c in table.columns]
    keep += [c for c in table.columns if str(c).startswith("slice:") and str(c).endswith(":new")]
    return readable_columns(table[keep], slice_names or {})


def format_table(table: pd.DataFrame, slice_names: dict[str, str] | None = None) -> str:
    shown = summary_frame(table, slice_names).copy()
    for col in shown.columns:
        if shown[col].dtype.kind == "f":
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    return shown.to_string(index=False)


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
    keep = [c for c in ("rank", "description", "method", "size", "error_rate", "baseline_error_rate",
                        "train_share", "share", "q_value", "severity") if c in frame.columns]
    heavy = scen.new["heavy"]
    frame = frame[keep].rename(columns={"description": "slice"})
    frame["heavy share"] = [float(heavy[s.indices].mean()) if s.size else float("nan") for s in diagnosis.slices]
    parts.append("<p>Slices filled: " + ", ".join(f'<span title="{escape(s.id)}">{escape(s.description)}</span>'
                                                  for s in weak) + ".</p>")
    parts.append(frame_html(frame.head(15)))
    parts.append(legend_html({"slice": "the slice's readable description", "heavy share": "share of the slice's images "
                              "with the planted heavy slanted strokes (the ground truth of this scenario)",
                              "size": "new images in the slice", "error_rate": "share the incumbent gets wrong",
                              "baseline_error_rate": "error rate over the whole new batch",
                              "train_share": "share of the old (training) images in the slice",
                              "share": "share of the new batch in the slice",
                              "q_value": "Benjamini-Hochberg adjusted p-value of the excess error",
                              "severity": "excess errors in the slice / analysed rows"}, "Columns explained"))
    return section("Diagnosis: where the incumbent is weak", *parts)


_SKIP_PARAMS = {"shape", "output_shape", "matrix", "bbox_matrix", "kernel", "interpolation", "fill", "fill_mask",
                "mask_interpolation", "border_mode"}


def _param_value(v: Any) -> str | None:
    if isinstance(v, bool) or isinstance(v, str):
        return str(v)
    if isinstance(v, (int, float)):
        return format_number(v, 3)
    if isinstance(v, dict) and all(isinstance(x, (int, float)) for x in v.values()):
        return " ".join(f"{k} {format_number(x, 3)}" for k, x in v.items())
    return None  # matrices, kernels, nested lists: in the manifest, not in the report


def readable_params(text: Any) -> str:
    """A lineage ``params`` JSON as a short line: each applied transform with its scalar
    parameters rounded to 3 significant digits (matrices and shapes left to the manifest)."""
    import json

    try:
        params = json.loads(text) if isinstance(text, str) else dict(text)
    except (TypeError, ValueError):
        return str(text)[:120]
    applied = params.get("applied") if isinstance(params, dict) else None
    if not isinstance(applied, list):
        return str(text)[:120]
    out = []
    for item in applied:
        name, kw = (item[0], item[1]) if isinstance(item, (list, tuple)) and len(item) == 2 else (str(item), {})
        vals = [f"{k} {v}" for k, raw in (kw or {}).items() if k not in _SKIP_PARAMS
                for v in [_param_value(raw)] if v is not None]
        out.append(f"{name}({', '.join(vals)})" if vals else str(name))
    return "; ".join(out)


def _slice_list(text: Any, names: dict[str, str]) -> str:
    import json

    try:
        ids = json.loads(text) if isinstance(text, str) else list(text)
    except (TypeError, ValueError):
        return str(text)
    return ", ".join(short_name(names.get(str(i), str(i))) for i in ids)


def _pictures_section(diagnosis: Any, scen: Any, weak: list[Any], incumbent: Any) -> str:
    """For each filled slice: its images (errors first) next to the nearest old images, and where the
    incumbent CNN looked (Grad-CAM over the new batch, maps drawn per slice)."""
    from curakit.exceptions import MissingDependencyError
    from diagnose.figures import gradcam_overlay_figure, member_order, slice_thumbnails_figure

    cam, note = None, ""
    if incumbent is not None:
        import diagnose

        try:
            cam = diagnose.gradcam(incumbent, scen.new["images"], target_layer="backbone.5", labels=scen.new["labels"],
                                   keep_cams=True, n_examples=0, progress=False)
        except MissingDependencyError as exc:  # grad-cam not installed: thumbnails only
            note = f'<p class="note">No Grad-CAM: {escape(exc)}</p>'
    parts = [note]
    for rank, s in enumerate(weak, start=1):
        parts.append(f'<h3 title="{escape(s.id)}">{escape(s.description)}</h3>')
        parts.append(figure_html(slice_thumbnails_figure(scen.new["images"], s.indices, diagnosis.y_true, diagnosis.y_pred,
                                                         train_images=scen.old["images"], title=f"slice {rank}"),
                                 "Its new images, errors first, and the old (training) images nearest to it"))
        if cam is not None:
            fig = gradcam_overlay_figure(cam, members=member_order(s.indices, diagnosis.errors), images=scen.new["images"],
                                         title=f"slice {rank}")
            if fig is not None:
                parts.append(figure_html(fig, "Grad-CAM of the incumbent on the slice's images, errors first"))
    return section("What the weak slices look like", *parts)


def _fill_section(filled: Any, scen: Any, names: dict[str, str]) -> str:
    man = filled.manifest
    parts = [f"<p>{len(man)} new images, each with its parent, slice, seed and the exact parameters applied "
             "(all of them in <code>augmented/manifest.parquet</code>; rounded here).</p>"]
    if len(man):
        show = man.head(8)
        parents = scen.new["images"][show["parent"].to_numpy(dtype=np.int64)]
        children = filled.images[: len(show)]
        rows = [("parent", parents, [f"new #{p}" for p in show["parent"]]),
                ("augmented", children, [f"label {v}" for v in show["label"]] if "label" in show else [""] * len(show))]
        parts.append(figure_html(_image_grid(rows, title="Offline augmentation of the weak slices"), "Parents and their children"))
        shown = pd.DataFrame({
            "image": man["row_id"].head(5).map(lambda r: str(r).rsplit(":", 1)[-1]),
            "parent": man["parent"].head(5) if "parent" in man else "",
            "slice": man["slice_ids"].head(5).map(lambda t: _slice_list(t, names)),
            "seed": man["seed"].head(5),
            "transforms applied": man["params"].head(5).map(readable_params),
        })
        parts.append(frame_html(shown))
        parts.append(legend_html({"image": "number of the augmented image", "parent": "row of the new batch it was made from",
                                  "slice": "the weak slice it fills", "seed": "the seed that replays it exactly",
                                  "transforms applied": "each albumentations transform with its sampled parameters"},
                                 "Columns explained"))
    return section("Fill: offline augmentation", *parts)


def _comparison_section(comparison: Any, decision: Any, registry: Any, weak: list[Any]) -> str:
    names = {s.id: s.description for s in weak}
    frame = readable_columns(comparison.frame, names)
    parts = [frame_html(frame, digits=3), legend_html({**_COMPARE_LEGEND, **slice_legend(names)}, "Columns explained")]
    if hasattr(comparison, "figure"):
        parts.append(figure_html(comparison.figure(), "Accuracy per strategy on the old and new holdouts, 95% intervals"))
    fig = comparison.slice_figure() if hasattr(comparison, "slice_figure") else None
    if fig is not None:
        parts.append(figure_html(fig, "Each filled slice before (the incumbent) and after (the best candidate), with its row count"))
    reasons = getattr(decision, "reasons", [])
    verdict = "promoted" if decision.promoted else "not promoted"
    parts.append(f"<p><b>Gate: candidate {verdict}.</b></p><ul>" + "".join(f"<li>{escape(r)}</li>" for r in reasons) + "</ul>")
    hist = registry.history()
    hist = (pd.DataFrame(hist) if not isinstance(hist, pd.DataFrame) else hist).copy()
    if "reasons" in hist.columns:  # listed above: here one line per event, not a Python list
        hist["reasons"] = hist["reasons"].map(lambda r: "; ".join(map(str, r)) if isinstance(r, (list, tuple)) else r)
    parts.append(frame_html(hist))
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


def _summary_section(result: Any) -> str:
    d = result.decision
    reasons = "".join(f"<li>{escape(r)}</li>" for r in getattr(d, "reasons", ()))
    reasons += f"<li>{escape(pick_note(result.metrics.get('selection_split')))}</li>"
    from ._compare import vs_naive

    d = vs_naive(result.table, result.metrics["candidate"])
    if d["vs_naive:new"] is not None:
        reasons += ("<li>what the curation added, against <i>naive</i> (old + new retrain, no fill): new "
                    f"{escape(_interval(d['vs_naive:new'], d['vs_naive:new:low'], d['vs_naive:new:high']))}, old "
                    f"{escape(_interval(d['vs_naive:old'], d['vs_naive:old:low'], d['vs_naive:old:high']))} "
                    "(95% paired intervals)</li>")
    verdict = "promoted" if result.promoted else "not promoted"
    return section(
        "Summary",
        frame_html(summary_frame(result.table, result.slice_names), digits=3),
        f"<p>Best candidate <b>{escape(result.metrics['candidate'])}</b>: {verdict} by the gate.</p><ul>{reasons}</ul>",
        f'<p class="note">Outputs: report.html, metrics.json, comparison.csv, training_set/, registry/. '
        f"Total time {result.timings.get('total', 0.0):.1f} s.</p>",
    )


def pick_note(selection_split: float | None) -> str:
    """Where the candidate was picked, and so what the gate's figures are worth."""
    if selection_split:
        return (f"picked on {selection_split:.0%} of each holdout (select_new); the table and the gate score the "
                "other part, so the candidate is not judged on the rows it was picked on")
    return ("picked on the new holdout the gate judges (2 candidates: a small optimistic bias); "
            "--selection-split 0.5 picks on rows held apart, at the price of a wider bound on the old drop")


def _interval(value: Any, low: Any, high: Any) -> str:
    """``+0.012 [-0.004, +0.027]`` (an em dash where a value is missing)."""
    if value is None or pd.isna(value):
        return "\u2014"
    text = f"{float(value):+.3f}"
    if low is not None and high is not None and not (pd.isna(low) or pd.isna(high)):
        text += f" [{float(low):+.3f}, {float(high):+.3f}]"
    return text


def _estimate_section(result: Any) -> str:
    """The fill's estimate before the retrain, next to what the retrain measured (candidate vs naive)."""
    record = result.metrics.get("fill_value") or {}
    if not record.get("rows"):
        return ""
    m = record.get("measured") or {}
    names = result.slice_names
    rows = []
    for r in record["rows"]:
        s = str(r["slice"])
        measured = _interval(m.get("vs_naive:new"), m.get("vs_naive:new:low"), m.get("vs_naive:new:high")) \
            if s == "all" else _interval(m.get(f"slice:{s}"), None, None)
        rows.append({"slice": "all new rows" if s == "all" else names.get(s, s), "rows": int(r["n"]),
                     "accuracy without \u2192 with the fill": f"{r['acc_without']:.3f} \u2192 {r['acc_with']:.3f}",
                     "estimated gain [95%]": _interval(r["gain"], r["low"], r["high"]),
                     "measured: candidate \u2212 naive": measured})
    per = (record.get("per_fill") or [{}])[0]
    forgetting = _interval(per.get("forgetting"), per.get("forgetting_low"), per.get("forgetting_high"))
    old_measured = _interval(m.get("vs_naive:old"), m.get("vs_naive:old:low"), m.get("vs_naive:old:high"))
    rule = record.get("max_forgetting", 0.02)
    harmful = "clearly harmful" if per.get("harmful") else "not clearly harmful"
    skipped = record.get("skipped") or []
    action = ("so it was <b>left out</b> of the training set (skip_if_harmful)" if skipped else
              "but skip_if_harmful is off, so it was added (the estimate is advice)" if per.get("harmful") else
              "and it was added")
    notes = "".join(f"<li>{escape(w)}</li>" for w in record.get("warnings", ()))
    return section(
        "Fill estimate: was the fill worth it?",
        "<p>Before the full retrain, a head (logistic regression) on the incumbent's frozen embedding was fitted "
        "with and without the fill and scored on held-out rows of the new batch (5 folds) and of the old data. "
        "The last column puts next to it what the retrain measured on the new holdout: the candidate against "
        "<i>naive</i>, the same family retrained on old + new without the fill.</p>",
        frame_html(pd.DataFrame(rows)),
        f"<p><b>Forgetting on the old rows</b> (accuracy lost with the fill; positive = forgets): estimated "
        f"{escape(forgetting)}; measured on the old holdout, candidate \u2212 naive: {escape(old_measured)} "
        "(negative = the candidate lost old rows naive kept).</p>",
        f"<p>The estimate calls the fill <b>{harmful}</b> (harmful means: its gain interval lies below 0, or its "
        f"forgetting interval above {rule:.2f}), {action}.</p>",
        legend_html({"rows": "rows of the new batch in the slice, each scored once by heads that did not see it",
                     "estimated gain [95%]": "head accuracy with the fill minus without, paired bootstrap interval",
                     "measured: candidate \u2212 naive": "the full retrain's accuracy difference on the new holdout "
                                                          "(interval for all rows only)"},
                    "Columns explained"),
        f"<p><b>Prior warnings:</b></p><ul>{notes}</ul>" if notes else "<p>No prior warning.</p>",
    )


def write_demo_report(path: str | Path, *, scen: Any, diagnosis: Any, weak: list[Any], filled: Any, ts: Any,
                      comparison: Any, decision: Any, registry: Any, result: Any, incumbent: Any = None) -> Path:
    """Write the report atomically to ``path`` (``incumbent``: the CNN, for Grad-CAM of the weak slices)."""
    names = {s.id: s.description for s in weak}
    timings = pd.DataFrame([{"step": k, "seconds": v} for k, v in result.timings.items()])
    body = [
        _summary_section(result),
        _scenario_section(scen),
        _diagnosis_section(diagnosis, scen, list(weak)),
        _pictures_section(diagnosis, scen, list(weak), incumbent),
        _fill_section(filled, scen, names),
        _estimate_section(result),
        section("Training set", frame_html(ts.summary())),
        _comparison_section(comparison, decision, registry, list(weak)),
        section("Timings", frame_html(timings)),
    ]
    doc = html_document("curakit demo: digits drift", body, verdict=_verdict(list(weak), comparison, decision))
    atomic_write_text(path, doc)
    return Path(path)
