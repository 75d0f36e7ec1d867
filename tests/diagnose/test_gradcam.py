"""diagnose.gradcam on a SmallCNN trained on real digits: the maps equal pytorch-grad-cam's,
statistics follow from them, flags follow the object masks, batching does not change results,
reports round-trip and bad input fails with one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import diagnose
from diagnose import DataError, ParameterError, Slice
from diagnose._gradcam import CAM_METHODS, CamReport

LAYER = "backbone.5"


@pytest.fixture(scope="module")
def cnn(digits):
    from curate.models import SmallCNN

    images, labels = digits
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10, in_channels=1, width=8)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    X = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    Y = torch.from_numpy(labels)
    g = torch.Generator().manual_seed(0)
    for _ in range(2):
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), 64):
            b = perm[i : i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(X[b]), Y[b]).backward()
            opt.step()
    model.eval()
    return model, images[:300], labels[:300]


@pytest.fixture(scope="module")
def report(cnn):
    model, images, labels = cnn
    return diagnose.gradcam(model, images, target_layer=LAYER, labels=labels, keep_cams=True, batch_size=64)


def test_maps_match_pytorch_grad_cam_and_stats_follow(cnn, report):
    from pytorch_grad_cam import GradCAM

    model, images, labels = cnn
    x = torch.from_numpy(images[:40]).permute(0, 3, 1, 2).float() / 255
    raw = GradCAM(model=model, target_layers=[dict(model.named_modules())[LAYER]])
    try:
        direct = raw(input_tensor=x, targets=None)
    finally:
        raw.activations_and_grads.release()
    np.testing.assert_allclose(report.cams[:40], direct, atol=1e-6)
    frame = report.to_frame()
    assert len(frame) == 300 and list(frame["index"]) == list(range(300))
    flat = report.cams.reshape(300, -1).astype(np.float64)
    energy = flat.sum(1)
    top = np.sort(flat, axis=1)[:, ::-1][:, : round(0.1 * 64)].sum(1)
    ok = energy > 0
    np.testing.assert_allclose(frame["concentration"][ok], (top / energy)[ok], rtol=1e-5)
    assert ((frame["entropy"][ok] > 0) & (frame["entropy"][ok] <= 1 + 1e-9)).all()
    assert frame["drop"][ok].between(-1, 1).all()
    with torch.no_grad():
        proba = torch.softmax(model(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255), 1).numpy()
    np.testing.assert_array_equal(frame["pred"], proba.argmax(1))
    np.testing.assert_allclose(frame["confidence"], proba.max(1), atol=1e-5)
    classes = report.class_frame()
    assert set(classes["class"]) == set(np.unique(labels).tolist())
    assert classes["accuracy"].between(0, 1).all() and not report.settings["has_masks"]


def test_flags_follow_the_object_masks(cnn, report):
    """Masks built from each image's own map, so the outcome holds for any trained weights: the 40
    brightest of 64 pixels hold at least 40/64 of the energy (their mean is at least the map's),
    the other 24 at most 24/64; the flag threshold 0.5 lies between."""
    model, images, labels = cnn
    flat = report.cams.reshape(300, -1)
    order = np.argsort(-flat, axis=1, kind="stable")
    on_focus = np.zeros(flat.shape, dtype=bool)
    np.put_along_axis(on_focus, order[:, :40], True, axis=1)
    on_focus = on_focus.reshape(report.cams.shape)  # the object is where the map looks
    off_focus = ~on_focus  # the object is where it does not
    seen = diagnose.gradcam(model, images, target_layer=LAYER, labels=labels, masks=on_focus, n_examples=0)
    missed = diagnose.gradcam(model, images, target_layer=LAYER, labels=labels, masks=off_focus, n_examples=0)
    assert seen.flagged_classes == [] and np.nanmin(seen.to_frame()["inside"]) >= 40 / 64 - 1e-6
    assert np.nanmax(missed.to_frame()["inside"]) <= 24 / 64 + 1e-6
    assert missed.flagged_classes == sorted(np.unique(labels).tolist())
    assert all("on the object" in r for r in missed.class_frame()["reason"])
    # boxes give the same numbers as the equivalent masks
    boxes = np.tile([2, 1, 6, 7], (300, 1))  # x0, y0, x1, y1
    box_mask = np.zeros((300, 8, 8), dtype=bool)
    box_mask[:, 1:7, 2:6] = True
    a = diagnose.gradcam(model, images, target_layer=LAYER, boxes=boxes, n_examples=0, occlusion=None)
    b = diagnose.gradcam(model, images, target_layer=LAYER, masks=box_mask, n_examples=0, occlusion=None)
    np.testing.assert_allclose(a.to_frame()["inside"], b.to_frame()["inside"])
    assert a.to_frame()["area"].eq(24 / 64).all() and a.to_frame()["drop"].isna().all()


def test_batching_explained_class_and_slices(cnn, report):
    model, images, labels = cnn
    small = diagnose.gradcam(
        model,
        images,
        target_layer=LAYER,
        labels=labels,
        batch_size=7,
        slices={"odd": labels % 2 == 1},
        n_examples=0,
        progress=False,
    )
    cols = ["pred", "confidence", "concentration", "entropy", "drop"]
    np.testing.assert_allclose(
        small.to_frame()[cols].to_numpy(float), report.to_frame()[cols].to_numpy(float), atol=1e-5
    )
    assert small.slice_frame().loc[0, "n"] == int((labels % 2 == 1).sum())
    by_label = diagnose.gradcam(
        model, images[:50], target_layer=LAYER, labels=labels[:50], explained_class="true", n_examples=0
    )
    assert (by_label.to_frame()["explained"] == labels[:50]).all()
    assert by_label.settings["explained_class"] == "true" and "explained class: true" in by_label.to_html()
    with pytest.warns(FutureWarning, match="'progress_bar' parameter of gradcam is renamed 'progress'"):
        old_name = diagnose.gradcam(
            model, images[:50], target_layer=LAYER, labels=labels[:50], explained_class="true", n_examples=0,
            progress_bar=False,
        )
    assert old_name == by_label
    s = Slice(
        id="s",
        method="test",
        description="first ten",
        indices=np.arange(10),
        n_analysed=300,
        error_rate=0.0,
        baseline_error_rate=0.0,
    )
    assert diagnose.gradcam(model, images, target_layer=LAYER, slices=[s], n_examples=0).slice_frame().loc[0, "n"] == 10


@pytest.mark.parametrize("method", sorted(CAM_METHODS))
def test_every_cam_method(cnn, method):
    model, images, labels = cnn
    rep = diagnose.gradcam(model, images[:32], target_layer=LAYER, labels=labels[:32], method=method, n_examples=4)
    frame = rep.to_frame()
    assert len(frame) == 32 and frame["confidence"].between(0, 1).all()
    assert np.isfinite(frame["concentration"]).sum() >= 28 and rep.settings["method"] == method
    assert len(rep.examples) == 4


def test_overlays_html_and_round_trip(report, tmp_path):
    png = tmp_path / "grid.png"
    report.save_grid(png, n=8)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temp files left
    worst = [e["index"] for e in report.examples]
    conc = report.to_frame()["concentration"].to_numpy()
    assert len(worst) == 16 and np.nanmax(conc[worst]) <= np.nanmin(np.delete(conc, worst)) + 1e-9
    html = report.to_html(tmp_path / "cam.html")
    assert "data:image/png;base64" in html and "Per class" in report._repr_html_()
    again = CamReport.from_json(report.to_json())
    assert again == report and again.cams is None


def test_memory_is_per_image_statistics_only(report):
    light = report.to_dict()
    assert set(light["images"]) >= {"concentration", "drop", "confidence"}
    assert all(len(v) == 300 for v in light["images"].values())


def test_bad_inputs(cnn):
    model, images, labels = cnn
    with pytest.raises(DataError, match="images must be uint8 in \\[0, 255\\]. Got dtype float32"):
        diagnose.gradcam(model, images.astype(np.float32), target_layer=LAYER)
    with pytest.raises(DataError, match=r"images must be shaped \(n, H, W, C\). Got shape \(300, 8, 8\)"):
        diagnose.gradcam(model, images[..., 0], target_layer=LAYER)
    other = np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images[..., :1]
    with pytest.raises(DataError, match=r"images have \d channel\(s\) but \d are expected\. Convert"):
        diagnose.gradcam(model, other, target_layer=LAYER)
    with pytest.raises(ParameterError, match="Layer 'backbone.55' is not in the model. Did you mean 'backbone.5'?"):
        diagnose.gradcam(model, images, target_layer="backbone.55")
    with pytest.raises(DataError, match=r"Inputs differ in length \(images=300, labels=10\)"):
        diagnose.gradcam(model, images, target_layer=LAYER, labels=labels[:10])
    with pytest.raises(
        DataError,
        match=r"masks must be boolean shaped \(n, H, W\) = \(300, 8, 8\). Got dtype bool and shape \(300, 4, 4\)",
    ):
        diagnose.gradcam(model, images, target_layer=LAYER, masks=np.ones((300, 4, 4), bool))
    with pytest.raises(DataError, match=r"images is empty \(shape \(0, 8, 8, 1\)\)"):
        diagnose.gradcam(model, images[:0], target_layer=LAYER)
    with pytest.raises(ParameterError, match=r"The 'batch_size' parameter of gradcam must be an int in the range \[1, inf\)\. Got 0"):
        diagnose.gradcam(model, images, target_layer=LAYER, batch_size=0)
    with pytest.raises(ParameterError, match=r"The 'top_fraction' parameter of gradcam must be a float in the range \(0\.0, 1\.0\)\. Got 'x'"):
        diagnose.gradcam(model, images, target_layer=LAYER, top_fraction="x")
    with pytest.raises(ParameterError, match="gradcam needs a torch nn.Module. Got LogisticRegression"):
        from sklearn.linear_model import LogisticRegression

        diagnose.gradcam(LogisticRegression(), images, target_layer=LAYER)
    with pytest.raises(ParameterError, match="explained_class='true' explains each image's true class and needs labels="):
        diagnose.gradcam(model, images, target_layer=LAYER, explained_class="true")
    with pytest.raises(DataError, match=r"labels of gradcam must be one label per row \(a list or array\), not a string"):
        diagnose.gradcam(model, images[:3], target_layer=LAYER, labels="abc")
    with pytest.raises(DataError, match=r"labels of gradcam holds 1 missing \(NaN or None\) label"):
        diagnose.gradcam(model, images[:3], target_layer=LAYER, labels=[1.0, np.nan, 2.0])
    with pytest.raises(DataError, match=r"explained_class='true' needs labels in 0\.\.9 \(the model has 10 outputs\)"):
        diagnose.gradcam(model, images[:3], target_layer=LAYER, labels=[1, 12, 2], explained_class="true")
    with pytest.raises(DataError, match=r"explained_class='true' needs labels that are the model's class indices"):
        diagnose.gradcam(model, images[:3], target_layer=LAYER, labels=["a", "b", "c"], explained_class="true")
    with pytest.raises(ParameterError, match=r"The 'explained_class' parameter of gradcam must be one of \['predicted', 'true'\]"):
        diagnose.gradcam(model, images, target_layer=LAYER, explained_class="label")


def test_target_is_the_old_name_of_explained_class(cnn):
    model, images, labels = cnn
    new = diagnose.gradcam(model, images[:20], target_layer=LAYER, labels=labels[:20], explained_class="true",
                           n_examples=0, occlusion=None)
    with pytest.warns(FutureWarning, match="The 'target' parameter of gradcam is renamed 'explained_class'"):
        old = diagnose.gradcam(model, images[:20], target_layer=LAYER, labels=labels[:20], target="label",
                               n_examples=0, occlusion=None)
    assert old == new
    with pytest.warns(FutureWarning, match="renamed 'explained_class'"):
        predicted = diagnose.gradcam(model, images[:20], target_layer=LAYER, target="predicted", n_examples=0,
                                     occlusion=None)
    assert predicted.settings["explained_class"] == "predicted"
    with pytest.raises(ParameterError, match="gradcam got both 'target' and its new name 'explained_class'; pass only 'explained_class'"):
        diagnose.gradcam(model, images[:20], target_layer=LAYER, labels=labels[:20], target="label",
                         explained_class="true")
    # a report saved before the rename (settings say target='label') still renders
    old_dict = new.to_dict()
    old_dict["settings"].pop("explained_class")
    old_dict["settings"]["target"] = "label"
    assert "explained class: true" in CamReport.from_dict(old_dict).to_html()
