"""The diagnosis and comparison reports opened in a real browser (system Chromium via Playwright).

At 1024 and 1400 px wide: the page never scrolls sideways, every image loads, no console
errors, every table-of-contents link lands on an element. Screenshots go to ``tmp_path``.
Skipped, with the reason, where /usr/bin/chromium or playwright is missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _browser import WIDTHS, open_and_check


@pytest.fixture(scope="module")
def diagnosis_report(tmp_path_factory):
    from sklearn.datasets import load_breast_cancer
    from sklearn.tree import DecisionTreeClassifier

    import diagnose

    data = load_breast_cancer(as_frame=True)
    x, names = data.data, np.asarray(data.target_names)
    y = names[data.target.to_numpy()]
    half = len(y) // 2
    model = DecisionTreeClassifier(max_depth=1, random_state=0).fit(x.iloc[:half], y[:half])
    feats = x.iloc[half:].reset_index(drop=True)
    d = diagnose.find_slices(y[half:], model.predict(feats), features=feats, methods=["confusion", "rules"])
    path = tmp_path_factory.mktemp("reports") / "diagnosis.html"
    d.to_html(path, features=feats, train_features=x.iloc[:half])
    return path


@pytest.fixture(scope="module")
def image_diagnosis_report(tmp_path_factory, digits):
    """Digits with class names, a model that misses half the threes, thumbnails and Grad-CAM."""
    torch = pytest.importorskip("torch")
    import diagnose
    from curate.models import SmallCNN

    images, labels = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    pred = labels[:300].copy()
    threes = np.flatnonzero(labels[:300] == 3)
    pred[threes[: len(threes) // 2]] = 8
    d = diagnose.find_slices(names[labels[:300]], names[pred], methods=["confusion"])
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10, in_channels=1, width=4).eval()
    cam = diagnose.gradcam(model, images[:300], target_layer="backbone.5", labels=labels[:300], keep_cams=True)
    path = tmp_path_factory.mktemp("reports") / "image_diagnosis.html"
    d.to_html(path, images=images[:300], train_images=images[300:900], gradcam=cam, class_names=list(names))
    return path


@pytest.fixture(scope="module")
def comparison_report(tmp_path_factory, digits):
    from sklearn.linear_model import LogisticRegression

    import curate
    from augment._lineage import LineageRow, lineage_frame
    from curate._trainingset import TrainingSet

    images, labels = digits
    columns = [f"px{i}" for i in range(64)]
    frame = pd.DataFrame(images.reshape(len(labels), 64) / 255.0, columns=columns)
    frame["digit"] = labels
    order = np.random.default_rng(0).permutation(len(labels))
    old_train, old_test, new_train, new_test = order[:600], order[600:900], order[900:1200], order[1200:]
    new_frame = frame.copy()
    new_frame[columns] = 1.0 - frame[columns]  # a real drift: inverted pixels
    train = pd.concat([frame.iloc[old_train], new_frame.iloc[new_train]]).reset_index(drop=True)
    origins = ["old"] * len(old_train) + ["new"] * len(new_train)
    man = lineage_frame([LineageRow(row_id=f"{o}:{i}", origin=o, source=o, operation="original")
                         for i, o in enumerate(origins)])
    man["split"] = np.where(np.random.default_rng(1).random(len(origins)) < 0.2, "val", "train")
    man["weight"] = 1.0
    ts = TrainingSet(kind="tabular", target="digit", frame=train, manifest=man, features=columns)
    evals = {"old": frame.iloc[old_test].reset_index(drop=True), "new": new_frame.iloc[new_test].reset_index(drop=True)}
    model = LogisticRegression(max_iter=200, warm_start=True).fit(frame.iloc[old_train][columns], labels[old_train])
    table = curate.compare_strategies(model, ts, strategies=["scratch_all", "continue_new"], eval_sets=evals)
    path = tmp_path_factory.mktemp("reports") / "comparison.html"
    table.to_html(path)
    return path


@pytest.mark.parametrize("width", WIDTHS)
def test_diagnosis_report_in_browser(browser, diagnosis_report, width, tmp_path):
    open_and_check(browser, diagnosis_report, width, tmp_path / f"diagnosis_{width}.png")
    html = diagnosis_report.read_text(encoding="utf-8")
    assert "malignant" in html and "benign" in html  # class names, not indices


@pytest.mark.parametrize("width", WIDTHS)
def test_image_diagnosis_report_in_browser(browser, image_diagnosis_report, width, tmp_path):
    facts = open_and_check(browser, image_diagnosis_report, width, tmp_path / f"image_diagnosis_{width}.png")
    assert len(facts["images"]) >= 4  # confusion, thumbnails and Grad-CAM per slice
    assert "three" in facts["text"] and "eight" in facts["text"]  # class names, not indices


@pytest.mark.parametrize("width", WIDTHS)
def test_comparison_report_in_browser(browser, comparison_report, width, tmp_path):
    open_and_check(browser, comparison_report, width, tmp_path / f"comparison_{width}.png")
    assert '<p class="verdict">' in comparison_report.read_text(encoding="utf-8")


def test_slice_columns_are_named_by_description():
    from curate._compare_report import readable_columns

    f = pd.DataFrame(columns=["strategy", "slice:clusters-3f1961a9:new", "slice:threes:old", "vs_naive:new"])
    out = readable_columns(f, {"clusters-3f1961a9": "embedding cluster 2"})
    assert list(out.columns) == ["strategy", "embedding cluster 2 (new)", "slice:threes:old", "vs_naive:new"]


@pytest.fixture(scope="module")
def recipe_report(tmp_path_factory):
    """The bundled tabular recipe's comparison report (the recipe-run report)."""
    from pathlib import Path

    import curate

    root = tmp_path_factory.mktemp("recipe")
    recipe = Path(curate.__file__).parent / "recipes" / "breast_cancer_drift.yaml"
    curate.run_recipe(recipe, output=root / "run", registry=root / "registry")
    return root / "run" / "comparison.html"


@pytest.mark.parametrize("width", WIDTHS)
def test_recipe_report_in_browser(browser, recipe_report, width, tmp_path):
    facts = open_and_check(browser, recipe_report, width, tmp_path / f"recipe_{width}.png")
    assert "Slices before and after" in facts["text"]  # the weak slices' before/after bars
