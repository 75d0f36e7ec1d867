"""Every user mistake through the Python API is a one-line curakit error naming the problem and the fix.

One table: each row is a call on tiny real data (iris, breast cancer, digits), the curakit
exception class it must raise and a pattern its message must match. A new entry point is covered
by adding a row. Every row also checks what all curakit errors share: the class derives from
``CurakitError``, the message is one line, and it quotes no data values (no long decimals, no
label text: string labels here carry the marker ``SECRET``).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import augment
import curate
import diagnose
from curakit.exceptions import CurakitError, DataError, NotFittedError, ParameterError, UnknownNameError


# -- data (tiny, real, built once) -------------------------------------------------------------
@pytest.fixture(scope="module")
def D(tmp_path_factory):
    from sklearn.datasets import load_breast_cancer, load_digits, load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris(as_frame=True)
    Xi, yi = iris.data, iris.target.to_numpy()
    bc = load_breast_cancer(as_frame=True)
    cols = list(bc.data.columns[:4])
    frame = bc.data[cols].assign(target=bc.target.to_numpy())
    old, new = frame.iloc[:200].reset_index(drop=True), frame.iloc[200:400].reset_index(drop=True)
    lr = LogisticRegression(max_iter=2000).fit(old[cols], old["target"])
    digits = load_digits()
    images = (digits.images[:40] * (255 / 16)).round().astype(np.uint8)[..., None]  # (40, 8, 8, 1)
    y = np.array([0, 1, 2] * 20)
    p = np.where((y == 2) & (np.arange(60) % 4 != 0), 0, y)  # class 2 mostly called 0: a confusion slice
    d = diagnose.find_slices(y, p, methods=["confusion"])
    folder = tmp_path_factory.mktemp("bad_input_api")
    ts = curate.TrainingSetBuilder(old, new, target="target").build(random_state=0)
    ts.save(folder / "ts_damaged")
    meta = (folder / "ts_damaged" / "training_set.json").read_text()
    (folder / "ts_damaged" / "training_set.json").write_text(meta[: len(meta) // 2])
    import albumentations as A

    augment.offline(images, digits.target[:40], A.Compose([A.HorizontalFlip(p=1.0)]), n=3, out_dir=folder / "aug_damaged")
    run = (folder / "aug_damaged" / "run.json").read_text()
    (folder / "aug_damaged" / "run.json").write_text(run[: len(run) // 2])
    good = folder / "diagnosis.json"
    d.save(good)
    text = good.read_text()
    (folder / "truncated.json").write_text(text[: len(text) // 2])
    both = pd.concat([old, new], ignore_index=True)
    inside = np.flatnonzero(both["mean radius"].to_numpy() > 15.0)
    rule = diagnose.Slice(id="rules-by-hand", method="rules", description="mean radius > 15", indices=inside,
                          n_analysed=len(both), error_rate=0.5, baseline_error_rate=0.1,
                          definition={"kind": "rule", "conditions": [{"feature": "mean radius", "op": ">", "value": 15.0}]})
    assert rule.contains(features=both).sum() == inside.size  # the good call works
    return {
        "rule_slice": rule, "both": both,
        "Xi": Xi, "yi": yi, "old": old, "new": new, "cols": cols, "lr": lr, "images": images,
        "labels": digits.target[:40], "y": y, "p": p, "diagnosis": d, "slice": d.slices[0].to_dict(),
        "folder": folder, "ts": ts,
        "ts_images": curate.TrainingSetBuilder((images[:20], digits.target[:20]), (images[20:], digits.target[20:40]),
                                               target="labels").build(random_state=0),
    }


def _dup(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its first column repeated under the same name."""
    return pd.concat([frame, frame.iloc[:, :1]], axis=1)


def _with_nan(frame: pd.DataFrame, col: str, row: int = 3) -> pd.DataFrame:
    out = frame.copy()
    out.loc[row, col] = np.nan
    return out


def _na_at(labels: np.ndarray, row: int):
    """``labels`` as pandas' nullable Int64 with ``pd.NA`` at ``row``."""
    out = pd.array(labels, dtype="Int64")
    out[row] = pd.NA
    return out


def _slice_with(D, **changes):
    data = dict(D["slice"])
    for k, v in changes.items():
        if v is _DROP:
            data.pop(k)
        else:
            data[k] = v
    return diagnose.Slice.from_dict(data)


_DROP = object()


def _conv1(**kw):
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))


def _cnn1():
    import torch

    from curate.models import SmallCNN

    torch.manual_seed(0)
    return SmallCNN(num_classes=10, in_channels=1, width=4, embedding_dim=8)


def _rgb(images: np.ndarray) -> np.ndarray:
    return np.repeat(images, 3, axis=-1)


def _pipeline(*transforms):
    import albumentations as A

    return A.Compose(list(transforms))


def _resize16():
    import albumentations as A

    return _pipeline(A.Resize(16, 16))


def _flip():
    import albumentations as A

    return _pipeline(A.HorizontalFlip(p=1.0))


def _softmax_rows(k: int, n: int = 60, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(k), size=n)


SECRET = np.array(["SECRET_a", "SECRET_b", "SECRET_c"] * 20)

# (id, call(D), error class, message pattern)
CASES = [
    # -- diagnose.find_slices / confusion: labels
    ("find_slices-str-y_true-int-y_pred", lambda D: diagnose.find_slices(SECRET, D["p"]),
     DataError, r"y_true of find_slices holds strings .* but y_pred holds numbers .*Pass both as class names or both"),
    ("find_slices-probabilities-as-y_pred", lambda D: diagnose.find_slices(D["y"], _softmax_rows(3)[:, 1]),
     DataError, r"y_pred of find_slices holds fractional numbers but y_true holds whole class indices.*argmax"),
    ("find_slices-mixed-object-labels", lambda D: diagnose.find_slices(np.array([0, "SECRET"] * 30, dtype=object), D["p"]),
     DataError, r"y_true of find_slices mixes numbers and strings .*Use one kind"),
    ("find_slices-None-labels", lambda D: diagnose.find_slices(np.array([None, "SECRET_a", "SECRET_b"] * 20, dtype=object),
                                                              SECRET),
     DataError, r"y_true of find_slices holds 20 missing \(NaN or None\) label\(s\) .*Drop those rows"),
    ("confusion-labels-as-string", lambda D: diagnose.confusion(SECRET, SECRET, labels="abc"),
     ParameterError, r"'labels' parameter of confusion must be a list of classes, not a string.*labels=\['a', 'b'"),
    ("find_slices-labels-as-string", lambda D: diagnose.find_slices(SECRET, SECRET[::-1].copy(), labels="abc"),
     ParameterError, r"'labels' parameter .* must be a list of classes, not a string"),
    ("confusion-labels-other-kind", lambda D: diagnose.confusion(D["y"], D["p"], labels=["SECRET_a", "SECRET_b", "SECRET_c"]),
     DataError, r"holds numbers .* but labels holds strings"),
    ("confusion-labels-repeated", lambda D: diagnose.confusion(D["y"], D["p"], labels=[0, 1, 1, 2]),
     ParameterError, r"must not repeat a label"),
    # -- find_slices: tables
    ("find_slices-duplicate-columns-rules", lambda D: diagnose.find_slices(
        D["yi"], np.roll(D["yi"], 1), features=_dup(D["Xi"]), methods=["rules"]),
     DataError, r"features .*has 1 repeated column name\(s\) \(first: 'sepal length \(cm\)'\)\. Rename or drop"),
    ("find_slices-duplicate-columns-default", lambda D: diagnose.find_slices(
        D["yi"], np.roll(D["yi"], 1), features=_dup(D["Xi"])),
     DataError, r"repeated column name"),
    # -- find_slices: per-method options
    ("find_slices-misspelt-rules-option", lambda D: diagnose.find_slices(
        D["yi"], np.roll(D["yi"], 1), features=D["Xi"], methods=["rules"], rules={"min_suport": 5}),
     ParameterError, r"'rules' method of find_slices has no option 'min_suport'\. Did you mean 'min_support'\?"),
    ("find_slices-misspelt-confusion-option", lambda D: diagnose.find_slices(D["y"], D["p"], confusion={"min_recal": 0.5}),
     ParameterError, r"'confusion' method of find_slices has no option 'min_recal'\. Did you mean 'min_recall'\?"),
    ("find_slices-confusion-option-of-wrong-type", lambda D: diagnose.find_slices(D["y"], D["p"],
                                                                                confusion={"min_recall": "high"}),
     ParameterError, r"'min_recall' parameter of the confusion diagnoser must be a float in the range \[0\.0, 1\.0\]"),
    ("find_slices-rules-option-of-wrong-type", lambda D: diagnose.find_slices(
        D["yi"], np.roll(D["yi"], 1), features=D["Xi"], methods=["rules"], rules={"max_depth": 1.5}),
     ParameterError, r"'max_depth' parameter of the 'rules' diagnoser must be an int >= 1"),
    ("find_slices-unknown-method-option", lambda D: diagnose.find_slices(D["y"], D["p"], confusoin={"alpha": 0.1}),
     ParameterError, r"unknown option 'confusoin'\. Did you mean 'confusion'\?"),
    ("find_slices-unknown-method", lambda D: diagnose.find_slices(D["y"], D["p"], methods=["confusoin"]),
     UnknownNameError, r"Unknown diagnoser 'confusoin'\. Did you mean 'confusion'\?"),
    # -- find_slices: proba
    ("find_slices-logits-as-proba", lambda D: diagnose.find_slices(
        D["y"], D["p"], proba=np.random.default_rng(0).normal(scale=4.0, size=(60, 3))),
     DataError, r"proba of find_slices holds values outside \[0, 1\], so they are scores or logits.*softmax"),
    ("find_slices-proba-rows-not-summing-to-1", lambda D: diagnose.find_slices(
        D["y"], D["p"], proba=np.random.default_rng(0).random((60, 3))),
     DataError, r"proba of find_slices has \d+ of 60 row\(s\) that do not sum to 1"),
    ("find_slices-proba-too-few-columns", lambda D: diagnose.find_slices(D["y"], D["p"], proba=_softmax_rows(2)),
     DataError, r"proba of find_slices has 2 columns but the labels hold a class index of 2 or more"),
    ("find_slices-proba-one-column", lambda D: diagnose.find_slices(D["y"], D["p"], proba=_softmax_rows(2)[:, :1]),
     DataError, r"must be shaped \(n, n_classes\).*np\.column_stack"),
    ("find_slices-proba-columns-vs-labels", lambda D: diagnose.find_slices(
        D["y"], D["p"], proba=_softmax_rows(4), labels=[0, 1, 2]),
     DataError, r"proba of find_slices has 4 columns but labels lists 3 classes"),
    ("find_slices-proba-named-classes", lambda D: diagnose.find_slices(SECRET, SECRET[::-1].copy(), proba=_softmax_rows(2)),
     DataError, r"proba of find_slices has 2 columns but the labels hold 3 classes"),
    # -- explain
    ("explain-unfitted-model", lambda D: diagnose.explain(__import__("sklearn.linear_model").linear_model.LogisticRegression(),
                                                          D["old"][D["cols"]]),
     NotFittedError, r"The LogisticRegression passed to explain is not fitted\. Call its fit\(X, y\) first"),
    ("explain-duplicate-columns", lambda D: diagnose.explain(D["lr"], _dup(D["old"][D["cols"]])),
     DataError, r"X of explain has 1 repeated column name\(s\) \(first: 'mean radius'\)"),
    ("explain-nan-in-y", lambda D: diagnose.explain(D["lr"], D["old"][D["cols"]], explained_class="true",
                                                    y=_with_nan(D["old"], "target")["target"]),
     DataError, r"y of explain holds 1 missing \(NaN or None\) label\(s\) among 200 rows"),
    ("explain-y-classes-the-model-does-not-know", lambda D: diagnose.explain(
        D["lr"], D["old"][D["cols"]], explained_class="true", y=np.full(200, 7)),
     DataError, r"y has 1 label\(s\) the model does not know"),
    # -- embed / predict_proba / gradcam: images against the model's first layer
    ("embed-rgb-into-1-channel-model", lambda D: diagnose.embed(_conv1(), _rgb(D["images"])),
     DataError, r"images have 3 channel\(s\) but 1 are expected\. Convert"),
    ("predict_proba-rgb-into-1-channel-model", lambda D: diagnose.predict_proba(_conv1(), _rgb(D["images"])),
     DataError, r"images have 3 channel\(s\) but 1 are expected"),
    ("gradcam-rgb-into-1-channel-model", lambda D: diagnose.gradcam(_conv1(), _rgb(D["images"][:3]), target_layer="0"),
     DataError, r"images have 3 channel\(s\) but 1 are expected"),
    ("predict_proba-unfitted-estimator", lambda D: diagnose.predict_proba(
        __import__("sklearn.linear_model").linear_model.LogisticRegression(), D["old"][D["cols"]]),
     NotFittedError, r"not fitted"),
    ("fit-rgb-into-1-channel-model", lambda D: curate.fit(_cnn1(), _rgb(D["images"]), D["labels"], epochs=1,
                                                          progress=False),
     DataError, r"3 channel\(s\) but 1"),
    ("fit-nan-labels", lambda D: curate.fit(_cnn1(), D["images"], np.where(np.arange(40) == 0, np.nan, D["labels"]),
                                            epochs=1, progress=False),
     DataError, r"labels of fit holds 1 missing \(NaN or None\) label"),
    ("fit-labels-beyond-the-outputs", lambda D: curate.fit(_cnn1(), D["images"], D["labels"] + 10, epochs=1,
                                                           progress=False),
     DataError, r"10 outputs"),
    ("embed-images-of-another-size", lambda D: diagnose.embed(_conv1(), np.zeros((4, 12, 12, 1), dtype=np.uint8), layer="3"),
     DataError, r"The model cannot run on images shaped \(12, 12, 1\) \(mat1 and mat2 shapes.*Pass images of the size"),
    ("predict_proba-images-of-another-size", lambda D: diagnose.predict_proba(_conv1(), np.zeros((4, 12, 12, 1), np.uint8)),
     DataError, r"The model cannot run on inputs shaped \(12, 12, 1\)"),
    ("embed-float-images", lambda D: diagnose.embed(_conv1(), D["images"].astype(np.float32)),
     DataError, r"images must be uint8 in \[0, 255\]\. Got dtype float32.*astype\('uint8'\)"),
    # -- augment.oversample
    ("oversample-nan-labels", lambda D: augment.oversample(D["Xi"], np.where(np.arange(150) == 3, np.nan, D["yi"])),
     DataError, r"y of oversample holds 1 missing \(NaN or None\) label\(s\) among 150 rows\. Drop those rows"),
    ("oversample-pandas-NA-label", lambda D: augment.oversample(D["Xi"], _na_at(D["yi"], 3)),
     DataError, r"holds 1 missing \(NaN or None\) label"),
    ("oversample-single-class", lambda D: augment.oversample(D["Xi"], np.zeros(150, dtype=int)),
     DataError, r"y of oversample holds 1 class\(es\) in 150 rows; oversample needs at least 2"),
    ("oversample-duplicate-columns", lambda D: augment.oversample(_dup(D["Xi"]), D["yi"]),
     DataError, r"X of oversample has 1 repeated column name"),
    ("oversample-labels-as-string", lambda D: augment.oversample(D["Xi"], "abc"),
     DataError, r"y must be 1-d \(one label per row\)"),
    ("oversample-misspelt-option", lambda D: augment.oversample(D["Xi"], D["yi"], k_neighbour=3),
     ParameterError, r"oversample\(method='smote'\) has no option 'k_neighbour'\. Did you mean 'k_neighbors'\?"),
    ("oversample-bad-sampling-strategy", lambda D: augment.oversample(D["Xi"], D["yi"], sampling_strategy="mostly"),
     ParameterError, r"oversample\(method='smote'\): The 'sampling_strategy' parameter of \w+ must be"),
    ("oversample-unknown-method", lambda D: augment.oversample(D["Xi"], D["yi"], method="smoet"),
     UnknownNameError, r"'smoet'\. Did you mean 'smote'\?"),
    # -- augment.offline
    ("offline-nan-labels", lambda D: augment.offline(D["images"], np.where(np.arange(40) == 0, np.nan, D["labels"]),
                                                     _flip(), n=4),
     DataError, r"labels of offline holds 1 missing \(NaN or None\) label\(s\)"),
    ("offline-pipeline-changes-shape", lambda D: augment.offline(D["images"], D["labels"], _resize16(), n=4),
     DataError, r"pipeline of offline changes the image shape from \(8, 8\) to \(16, 16\).*Remove resizing"),
    ("OnlineAugment-nan-labels", lambda D: augment.OnlineAugment(
        (D["images"], np.where(np.arange(40) == 0, np.nan, D["labels"])), _flip()),
     DataError, r"labels of OnlineAugment holds 1 missing \(NaN or None\) label"),
    ("generate-nan-labels", lambda D: augment.generate(
        D["old"][D["cols"]], _with_nan(D["old"], "target")["target"].to_numpy(), select=np.arange(20), n=5, method="vae"),
     DataError, r"labels of augment\.generate holds 1 missing \(NaN or None\) label"),
    # -- curate.TrainingSetBuilder
    ("TrainingSetBuilder-numbers-mixed-with-strings-in-target", lambda D: curate.TrainingSetBuilder(
        D["old"].assign(target=np.where(np.arange(200) == 0, "SECRET", D["old"]["target"]).astype(object)), D["new"],
        target="target").build(),
     DataError, r"mixes numbers and strings"),
    ("TrainingSetBuilder-duplicate-columns", lambda D: curate.TrainingSetBuilder(_dup(D["old"]), D["new"], target="target"),
     DataError, r"not unique|repeated column name"),
    # -- curate.retrain: eval sets
    ("retrain-nan-in-eval-features", lambda D: curate.retrain(
        D["lr"], D["ts"], strategy="scratch_all", eval_sets={"old": _with_nan(D["old"], "mean texture"), "new": D["new"]}),
     DataError, r"Eval set 'old' holds 1 NaN or inf value\(s\) \(column\(s\) 'mean texture'\).*Impute or drop"),
    ("retrain-nan-in-eval-labels", lambda D: curate.retrain(
        D["lr"], D["ts"], strategy="scratch_all", eval_sets={"old": _with_nan(D["old"], "target"), "new": D["new"]}),
     DataError, r"Eval set 'old' column 'target' of retrain holds 1 missing"),
    ("retrain-duplicate-eval-columns", lambda D: curate.retrain(
        D["lr"], D["ts"], strategy="scratch_all", eval_sets={"old": _dup(D["old"]), "new": D["new"]}),
     DataError, r"Eval set 'old' of retrain has 1 repeated column name"),
    ("retrain-rgb-eval-images-into-1-channel-model", lambda D: curate.retrain(
        _cnn1(), D["ts_images"], strategy="continue_all", epochs=1,
        eval_sets={"old": (_rgb(D["images"][:10]), D["labels"][:10]), "new": (D["images"][:10], D["labels"][:10])}),
     DataError, r"Eval set 'old' holds 3-channel images \(shape \(8, 8, 3\)\) but the model's first layer takes 1"),
    ("retrain-nan-eval-image-labels", lambda D: curate.retrain(
        _cnn1(), D["ts_images"], strategy="continue_all", epochs=1,
        eval_sets={"old": (D["images"][:10], np.where(np.arange(10) == 0, np.nan, D["labels"][:10])),
                   "new": (D["images"][:10], D["labels"][:10])}),
     DataError, r"Eval set 'old' labels of retrain holds 1 missing"),
    ("retrain-a-path-as-training-set", lambda D: curate.retrain(D["lr"], "ts_folder", strategy="scratch_all",
                                                                eval_sets={"old": D["old"], "new": D["new"]}),
     ParameterError, r"'ts' parameter of retrain must be a curate\.TrainingSet .*TrainingSet\.load\(folder\)"),
    ("retrain-misspelt-strategy", lambda D: curate.retrain(
        D["lr"], D["ts"], strategy="scratch_al", eval_sets={"old": D["old"], "new": D["new"]}),
     UnknownNameError, r"Unknown strategy 'scratch_al'\. Did you mean 'scratch_all'\?"),
    ("retrain-unfitted-model", lambda D: curate.retrain(
        __import__("sklearn.linear_model").linear_model.LogisticRegression(), D["ts"], strategy="scratch_all",
        eval_sets={"old": D["old"], "new": D["new"]}),
     NotFittedError, r"not fitted"),
    # -- records: Slice / Diagnosis / ConfusionReport / FeatureEmbedder
    ("Slice.contains-duplicate-columns", lambda D: D["rule_slice"].contains(
        features=pd.concat([D["both"], D["both"][[D["rule_slice"].definition["conditions"][0]["feature"]]]], axis=1)),
     DataError, r"features has 1 repeated column name"),
    ("Slice.contains-text-where-numbers", lambda D: D["rule_slice"].contains(
        features=D["both"].assign(**{D["rule_slice"].definition["conditions"][0]["feature"]: "SECRET"})),
     DataError, r"compares column '[\w ]+' with '(>|<=|>=|<)', but the given column has dtype"),
    ("Slice.contains-array-not-frame", lambda D: D["rule_slice"].contains(features=D["both"].to_numpy()),
     DataError, r"features must be a pandas DataFrame with named columns"),
    ("Slice.from_dict-unknown-key", lambda D: _slice_with(D, methd="confusion"),
     DataError, r"Slice record has unknown key\(s\) 'methd'\. Did you mean 'method'\?"),
    ("Slice.from_dict-missing-key", lambda D: _slice_with(D, method=_DROP),
     DataError, r"Slice record lacks the key\(s\) 'method'\. Re-run the diagnosis"),
    ("Slice.from_dict-non-integer-indices", lambda D: _slice_with(D, indices=[0.5, 2.0]),
     DataError, r"Slice key 'indices' must be a flat list of row positions \(integers\)"),
    ("Slice.from_dict-string-indices", lambda D: _slice_with(D, indices=["SECRET", "x"]),
     DataError, r"Slice key 'indices' must be a flat list of row positions"),
    ("Slice.from_dict-text-error-rate", lambda D: _slice_with(D, error_rate="SECRET"),
     DataError, r"Slice key 'error_rate' must be a number \(or null\)\. Got a str instead"),
    ("Slice.from_dict-schema-version-as-string", lambda D: _slice_with(D, schema_version="1"),
     DataError, r"Slice schema_version must be the integer 1\. Got a str \('1'\) instead"),
    ("Slice.from_dict-not-a-mapping", lambda D: diagnose.Slice.from_dict(["SECRET"]),
     DataError, r"Slice record must be a JSON object"),
    ("Slice.from_json-truncated", lambda D: diagnose.Slice.from_json(json.dumps(D["slice"])[:40]),
     DataError, r"Slice file is not valid JSON \(truncated or damaged at line 1"),
    ("Diagnosis.load-truncated-json", lambda D: diagnose.Diagnosis.load(D["folder"] / "truncated.json"),
     DataError, r"Diagnosis file 'truncated\.json' is not valid JSON \(truncated or damaged"),
    ("Diagnosis.from_dict-missing-key", lambda D: diagnose.Diagnosis.from_dict(
        {k: v for k, v in D["diagnosis"].to_dict().items() if k != "slices"}),
     DataError, r"Diagnosis record lacks the key\(s\) 'slices'"),
    ("Diagnosis.from_dict-schema-version-as-string", lambda D: diagnose.Diagnosis.from_dict(
        {**D["diagnosis"].to_dict(), "schema_version": "1"}),
     DataError, r"Diagnosis schema_version must be the integer 1"),
    ("ConfusionReport.from_dict-missing-key", lambda D: diagnose.ConfusionReport.from_dict({"labels": [0, 1]}),
     DataError, r"ConfusionReport record lacks the key\(s\) 'y_true', 'y_pred'"),
    ("FeatureEmbedder.from_dict-unknown-key", lambda D: diagnose.FeatureEmbedder.from_dict({"numerics": []}),
     DataError, r"FeatureEmbedder record lacks the key\(s\)"),
    ("Diagnosis.to_html-into-a-folder", lambda D: D["diagnosis"].to_html(D["folder"]),
     DataError, r"is a folder; a file would replace it\. Pass a file path"),
    ("TrainingSet.load-damaged-json", lambda D: curate.TrainingSet.load(D["folder"] / "ts_damaged"),
     DataError, r"'training_set\.json' is not valid JSON \(truncated or damaged"),
    ("AugmentedSet.load-damaged-json", lambda D: augment.AugmentedSet.load(D["folder"] / "aug_damaged"),
     DataError, r"'run\.json' is not valid JSON \(truncated or damaged"),
    ("ShapReport.from_json-truncated", lambda D: diagnose.ShapReport.from_json('{"schema_version": 1, "feature_na'),
     DataError, r"ShapReport file is not valid JSON \(truncated or damaged"),
    ("ShapReport.from_dict-missing-keys", lambda D: diagnose.ShapReport.from_dict({"schema_version": 1, "values": []}),
     DataError, r"ShapReport record lacks the key\(s\) 'feature_names'"),
    ("RetrainResult.from_dict-unknown-key", lambda D: curate.RetrainResult.from_dict({"strategy": "scratch_all",
                                                                                      "metrcs": {}}),
     DataError, r"RetrainResult record has unknown key\(s\) 'metrcs'\. Did you mean 'metrics'\?"),
    # -- drift
    ("drift-arrays-of-different-width", lambda D: diagnose.drift(np.zeros((50, 3)) + np.arange(50)[:, None],
                                                                 np.zeros((50, 4)) + np.arange(50)[:, None]),
     DataError, r"reference has 3 columns but current has 4"),
    ("drift-duplicate-columns", lambda D: diagnose.drift(_dup(D["old"]), _dup(D["new"])),
     DataError, r"reference of drift has 1 repeated column name"),
]

_DECIMALS = re.compile(r"\d\.\d{4,}")  # a data value printed in full


#: rows whose fix belongs to another file's owner and has not landed yet: id -> the file it waits on
WAITING: dict[str, str] = {}


def _rows():
    for i, c, e, p in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=f"waiting on {WAITING[i]}")] if i in WAITING else []
        yield pytest.param(c, e, p, id=i, marks=marks)


@pytest.mark.parametrize(("call", "error", "pattern"), list(_rows()))
def test_bad_input_is_one_line_curakit_error(D, call, error, pattern):
    with pytest.raises(CurakitError) as info:
        call(D)
    exc = info.value
    msg = str(exc)
    assert isinstance(exc, error), f"{type(exc).__name__} is not a {error.__name__}: {msg}"
    assert re.search(pattern, msg), f"message {msg!r} does not match {pattern!r}"
    assert "\n" not in msg.strip(), "a curakit error message is one line"
    assert "SECRET" not in msg and not _DECIMALS.search(msg), f"message quotes data values: {msg!r}"


def test_table_ids_are_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)) and set(WAITING) <= set(ids)


def test_a_good_call_of_each_record_round_trips(D):
    """The checks refuse only what is wrong: the good records load."""
    s = diagnose.Slice.from_dict(D["slice"])
    assert s == D["diagnosis"].slices[0]
    assert diagnose.Slice.from_json(s.to_json()) == s
    d = diagnose.Diagnosis.load(D["folder"] / "diagnosis.json")
    assert [x.id for x in d.slices] == [x.id for x in D["diagnosis"].slices]
    r = diagnose.confusion(D["y"], D["p"])
    assert diagnose.ConfusionReport.from_dict(r.to_dict()).matrix.tolist() == r.matrix.tolist()
