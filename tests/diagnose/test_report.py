"""Report building blocks reused by the demo: figures and the Diagnosis HTML."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import diagnose
from diagnose import DataError, Slice
from diagnose._report import (
    confusion_figure,
    diagnosis_html,
    error_scatter_figure,
    slice_labels,
    umap_scatter_figure,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _s(sid, idx, n=10):
    return Slice(id=sid, method="m", description=sid, indices=np.asarray(idx), n_analysed=n,
                 error_rate=0.5, baseline_error_rate=0.1)


def test_confusion_figure_normalised_and_counts():
    m = np.array([[8, 2], [1, 9]])
    fig = confusion_figure(m, ["a", "b"])
    img = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(img, [[0.8, 0.2], [0.1, 0.9]])
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.80", "0.20", "0.10", "0.90"]
    fig = confusion_figure(m, ["a", "b"], normalize=False)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), m)
    # many classes: only the classes with most errors are drawn
    big = np.eye(50, dtype=int) * 10
    big[3, 4] = 7
    fig = confusion_figure(big, list(range(50)), max_classes=5)
    assert fig.axes[0].images[0].get_array().shape == (5, 5)


def test_scatter_groups_background_and_errors():
    coords = np.random.default_rng(0).normal(size=(30, 2))
    labels = np.array(["other"] * 20 + ["#1 clusters"] * 6 + ["#2 rules"] * 4)
    fig = umap_scatter_figure(coords, labels, order=["#1 clusters", "#2 rules"], background="other")
    ax = fig.axes[0]
    assert [c.get_offsets().shape[0] for c in ax.collections] == [20, 6, 4]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["other", "#1 clusters (6)", "#2 rules (4)"]
    errors = np.zeros(30, dtype=bool)
    errors[:7] = True
    ax = error_scatter_figure(coords, errors).axes[0]
    assert [c.get_offsets().shape[0] for c in ax.collections] == [23, 7]
    with pytest.raises(DataError, match=r"needs coords shaped \(n, 2\) and one label per row. Got coords \(30, 2\) and 3 labels"):
        umap_scatter_figure(coords, ["a", "b", "c"])


def test_slice_labels_prefer_the_most_severe():
    slices = [_s("a", [0, 1, 2]), _s("b", [2, 3]), _s("c", [4])]
    lab = slice_labels(slices, 10, top=2)
    assert lab.tolist() == ["#1 m", "#1 m", "#1 m", "#2 m", "other", "other", "other", "other", "other", "other"]


def test_diagnosis_html_without_clusters():
    y = np.array([0, 0, 1, 1, 2, 2] * 10)
    p = y.copy()
    p[np.flatnonzero(y == 0)[:15]] = 1
    d = diagnose.find_slices(y, p)
    assert d.slices[0].definition == {"kind": "class", "label": 0}
    html = diagnosis_html(d, title="T <x>")
    assert html.startswith("<!DOCTYPE html>") and "<title>T &lt;x&gt;</title>" in html
    assert html.count("<img") == 1 and "Embedding clusters" not in html
    assert "Slice details" in html and d.slices[0].id in html


def test_plot_embedding_colours_and_errors():
    import numpy as np
    import pytest

    import diagnose

    rng = np.random.default_rng(0)
    emb = np.vstack([rng.normal(0, 1, (150, 5)), rng.normal(6, 1, (60, 5))])
    y = np.r_[np.zeros(150, int), np.ones(60, int)]
    pred = y.copy()
    pred[150:190] = 0
    d = diagnose.find_slices(y, pred, embeddings=emb, methods=["clusters"], random_state=0)
    for color in ("slice", "error", "label", np.arange(len(y)) % 3):
        fig = d.plot_embedding(color)
        assert fig.axes and fig.axes[0].collections
    with pytest.raises(ValueError, match="'color' parameter of Diagnosis.plot_embedding must be"):
        d.plot_embedding("errors")
    with pytest.raises(ValueError, match="got 3 colour values for 210 analysed rows"):
        d.plot_embedding(np.arange(3))
    no_coords = diagnose.find_slices(y, pred, methods=["confusion"])
    with pytest.raises(ValueError, match="has no embedding coordinates"):
        no_coords.plot_embedding()


def test_diagnosis_html_has_header_toc_legend_and_rounded_numbers():
    import re

    from curakit.html import format_number, frame_html

    y = np.array([0, 0, 1, 1, 2, 2] * 10)
    p = y.copy()
    p[np.flatnonzero(y == 0)[:15]] = 1
    d = diagnose.find_slices(y, p)
    html = diagnosis_html(d)
    assert '<p class="verdict">' in html and d.slices[0].description in html.split("</header>")[0]
    ids = set(re.findall(r'<section id="([^"]+)"', html))
    links = re.findall(r'<nav class="toc">.*?</nav>', html)[0]
    hrefs = re.findall(r'href="#([^"]+)"', links)
    assert len(hrefs) >= 4 and set(hrefs) <= ids
    assert "<dt>q_value</dt>" in html and "<dt>isolation</dt>" in html
    # rounding: significant digits, tiny magnitudes as a bound, never a raw exponent float
    assert [format_number(v) for v in (88.88888888888889, 6.353532178441539e-88, 2.401e-06, 0.0, 3.0, 12345.6)] == [
        "88.89", "<1e-6", "0.000002401", "0", "3", "12,346"]
    table = frame_html(pd.DataFrame({"p": [6.353532178441539e-88, 0.123456789]}))
    assert "<1e-6" in table.replace("&lt;", "<") and "0.1235" in table and "e-88" not in table


def test_frame_html_text_columns_with_lists_none_and_duplicate_names():
    from curakit.html import frame_html

    f = pd.DataFrame({"a": [[1, 2], [3, 4]], "b": [None, 0.123456], "c": [1, 2]})
    f.columns = ["a", "b", "a"]
    out = frame_html(f)
    assert '<td class="text">[1, 2]</td>' in out and '<td class="num">—</td>' in out
    assert '<td class="num">0.1235</td>' in out and "None" not in out
    assert out.count('<th class="text">a</th>') == 1 and '<th class="num">a</th>' in out  # duplicate names kept
    assert "&lt;b&gt;" in frame_html(pd.DataFrame({"x": ["<b>"]}))  # escaped


# -- pictures of the worst slices (issue 14) ---------------------------------------------------
def _legend_off_axes(fig):
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    legends = [*fig.legends, *[ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]]
    assert legends
    for leg in legends:
        box = leg.get_window_extent(r)
        assert not any(box.overlaps(ax.get_window_extent(r)) for ax in fig.axes), "legend drawn over a plot"


@pytest.fixture(scope="module")
def digit_diagnosis(digits):
    images, labels = digits
    rng = np.random.default_rng(0)
    analysed, train = images[:400], images[400:1000]
    pred = labels[:400].copy()
    threes = np.flatnonzero(labels[:400] == 3)
    pred[threes[: len(threes) // 2]] = 8  # the model misses half the threes
    pred[rng.choice(400, 8, replace=False)] = 0
    d = diagnose.find_slices(labels[:400], pred, methods=["confusion"])
    return d, analysed, train, labels[400:1000]


def test_member_order_puts_errors_first():
    from diagnose.figures import member_order

    errors = np.array([0, 1, 0, 1, 1, 0], dtype=bool)
    assert member_order(np.array([0, 1, 2, 3, 5]), errors).tolist() == [1, 3, 0, 2, 5]
    conf = np.array([0, 0.2, 0, 0.9, 0, 0])
    assert member_order(np.array([0, 1, 2, 3, 5]), errors, conf).tolist() == [3, 1, 0, 2, 5]


def test_nearest_training_images_share_the_slice_content(digit_diagnosis, digits):
    from diagnose._pictures import nearest_training

    d, images, train, train_labels = digit_diagnosis
    s = next(s for s in d.slices if s.definition.get("label") == 3 or s.definition.get("true") == 3)
    near, space = nearest_training(images, s.indices, train, k=8)
    assert space == "pixel space" and len(near) == 8
    # the mean image of real threes sits among other threes: most neighbours are threes (chance: 1/10)
    assert (train_labels[near] == 3).mean() >= 0.5


def test_image_slices_get_thumbnails_errors_first(digit_diagnosis):
    import matplotlib.pyplot as plt

    from diagnose.figures import slice_thumbnails_figure

    d, images, train, _ = digit_diagnosis
    s = d.slices[0]
    fig = slice_thumbnails_figure(images, s.indices, d.y_true, d.y_pred, train_images=train, n=16, n_train=8,
                                  class_names=[f"digit {k}" for k in range(10)])
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == min(16, s.size) + 8
    titles = [ax.get_title() for ax in drawn[: min(16, s.size)]]
    n_err = int(d.errors[s.indices].sum())
    assert all(t.split("→")[0] != t.split("→")[1] for t in titles[: min(n_err, 16)])  # errors first
    assert titles[0].startswith("digit ")
    plt.close(fig)
    html = diagnosis_html(d, images=images, train_images=train, class_names=[f"digit {k}" for k in range(10)])
    pictures = html.split('id="slice-pictures"')[1].split("</section>")[0]
    assert pictures.count("<img") == min(4, len(d.slices)) and "digit 3" in html


def test_tabular_rule_slices_get_feature_distributions():
    import matplotlib.pyplot as plt
    from sklearn.datasets import load_breast_cancer
    from sklearn.tree import DecisionTreeClassifier

    from diagnose.figures import feature_distributions_figure

    data = load_breast_cancer(as_frame=True)
    x, y = data.data, data.target.to_numpy()
    half = len(y) // 2
    model = DecisionTreeClassifier(max_depth=1, random_state=0).fit(x.iloc[:half], y[:half])
    feats = x.iloc[half:].reset_index(drop=True)
    d = diagnose.find_slices(y[half:], model.predict(feats), features=feats, methods=["rules"])
    s = next(s for s in d.slices if s.definition["kind"] == "rule")
    fig = feature_distributions_figure(feats, s.indices, definition=s.definition, train_features=x.iloc[:half])
    rule_cols = list(dict.fromkeys(c["feature"] for c in s.definition["conditions"]))[:4]
    assert [ax.get_title() for ax in fig.axes] == [c[:30] for c in rule_cols]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        f"slice ({s.size})", f"all new rows ({len(feats)})", f"training rows ({half})"]
    assert any(line.get_linestyle() == "--" for line in fig.axes[0].lines)  # the rule's threshold
    _legend_off_axes(fig)
    plt.close(fig)
    html = diagnosis_html(d, features=feats, train_features=x.iloc[:half])
    assert "Feature distributions" in html and 'id="slice-pictures"' in html


def test_gradcam_overlays_come_from_the_reports_maps(digits):
    torch = pytest.importorskip("torch")
    import matplotlib.pyplot as plt

    from curate.models import SmallCNN
    from diagnose.figures import gradcam_overlay_figure

    images, labels = digits
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10, in_channels=1, width=4).eval()  # untrained: the maps are what they are
    imgs, labs = images[:120], labels[:120]
    cam = diagnose.gradcam(model, imgs, target_layer="backbone.5", labels=labs, keep_cams=True, batch_size=60)
    pred = np.asarray(cam.images["pred"])
    d = diagnose.find_slices(labs, pred, methods=["confusion"])
    members = np.arange(5, 11)
    fig = gradcam_overlay_figure(cam, members=members, images=imgs)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 6
    for ax, i in zip(drawn, members):
        np.testing.assert_allclose(ax.images[1].get_array(), cam.cams[i])  # the map of that very image
        assert ax.get_title().startswith(f"#{i} ")
    plt.close(fig)
    if d.slices:
        html = diagnosis_html(d, images=imgs, gradcam=cam)
        assert "Grad-CAM over the slice" in html


def test_picture_options_fail_in_one_line(digit_diagnosis):
    from curakit.exceptions import DataError as CoreDataError
    from curakit.exceptions import ParameterError

    d, images, _, _ = digit_diagnosis
    with pytest.raises(ParameterError, match=r"takes no option 'image'\. Did you mean 'images'\?"):
        diagnosis_html(d, image=images)
    with pytest.raises(CoreDataError, match=r"got images for 10 rows but the diagnosis analysed 400"):
        diagnosis_html(d, images=images[:10])


def test_report_content_as_json_data(digit_diagnosis):
    import json

    from diagnose._report import diagnosis_report_data

    d, images, train, _ = digit_diagnosis
    data = diagnosis_report_data(d, images=images, train_images=train, class_names=[f"digit {k}" for k in range(10)])
    text = json.dumps(data)  # JSON-able as it is
    assert json.loads(text)["verdict"] == data["verdict"] and data["verdict"] in diagnosis_html(d)
    assert [r["id"] for r in data["slices"]] == [s.id for s in d.slices]
    assert {r["label"] for r in data["per_class"]} == {f"digit {k}" for k in range(10)}
    first = data["pictures"][0]
    s = d.slices[0]
    assert set(first["thumbnails"]) <= set(s.indices.tolist()) and len(first["thumbnails"]) == min(16, s.size)
    assert d.errors[first["thumbnails"][0]] and len(first["nearest_training"]) == 8
    assert diagnosis_report_data(d)["pictures"] == []


def test_diagnosis_to_html_and_report_data_take_the_picture_options(digit_diagnosis, tmp_path):
    d, images, train, _ = digit_diagnosis
    text = d.to_html(tmp_path / "r.html", images=images, train_images=train)
    assert 'id="slice-pictures"' in text and (tmp_path / "r.html").read_text(encoding="utf-8") == text
    assert d.report_data(images=images)["pictures"][0]["id"] == d.slices[0].id


def test_details_round_nested_numbers_and_fold_beyond_the_third(digits):
    import re

    from diagnose._report import _evidence_value

    assert _evidence_value([0.46938384139718530, 6.3e-88]) == "[0.4694, <1e-6]"
    assert _evidence_value({"gap": 11.775092489, "kind": "lr"}) == "{gap: 11.78, kind: lr}"
    images, labels = digits
    pred = labels.copy()
    for c in (1, 3, 5, 7, 8):  # five classes the model half-misses: several slices
        rows = np.flatnonzero(labels == c)
        pred[rows[: len(rows) // 2]] = (c + 1) % 10
    d = diagnose.find_slices(labels, pred, methods=["confusion"])
    assert len(d.slices) > 3
    html = diagnosis_html(d)
    text = re.sub(r'src="data:[^"]+"', "", html)
    assert not re.search(r"\d\.\d{7,}", text), re.search(r".{40}\d\.\d{7,}.{20}", text)
    details = html.split('id="slice-details"')[1]
    assert details.count("<h3") == 3 and details.count("<details>") == len(d.slices) - 3
