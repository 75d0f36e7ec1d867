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
