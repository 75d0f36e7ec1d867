"""The README's library example, run exactly as printed on the bundled digits drift scenario
(the text below is what /tmp/notes/H1.md proposes for README.md "Using the library")."""

import subprocess
import sys

import pytest

import curate

README_EXAMPLE = '''
import albumentations as A
import torch

import augment
import curate
import diagnose
from curakit.adapters import predict_proba
from curate.datasets import load_digits_drift
from curate.models import SmallCNN

# the bundled scenario: old data, drifted new data, a holdout of each
scen = load_digits_drift(random_state=0, n_samples=700)
old, new = scen.source("old"), scen.source("new")
holdouts = {"old": scen.source("old_test"), "new": scen.source("new_test")}
torch.manual_seed(0)
model, _ = curate.fit(SmallCNN(num_classes=10), old["images"], old["labels"], epochs=6, lr=3e-3, random_state=0)

# 1. where is the model weak?
proba = predict_proba(model, new["images"])
d = diagnose.find_slices(new["labels"], proba.argmax(1), proba=proba,
                         embeddings=diagnose.embed(model, new["images"]),
                         train_embeddings=diagnose.embed(model, old["images"]),
                         methods=["confusion", "clusters"], random_state=0)

# 2. fill the worst slices
pipeline = A.Compose([A.Affine(rotate=(-12, 12), shear={"x": (-10, 10), "y": (0, 0)}, p=1.0)])
filled = augment.offline(new["images"], new["labels"], pipeline, select=d.slices[:3], n=60,
                         out_dir="fills/", random_state=0)

# 3. build the next training set
ts = (curate.TrainingSetBuilder(old, new, target="labels")
      .add(filled, parents="new")
      .exclude(holdouts)
      .split(validation=0.15)
      .build(random_state=0))

# 4. retrain, compare (the table holds do_nothing and naive baselines), promote
table = curate.compare_strategies(model, ts, eval_sets=holdouts, strategies=["continue_all", "scratch_all"],
                                  slices=d.slices[:3], epochs=6, lr=3e-3)
reg = curate.Registry("registry/")
reg.register(model, metrics=table.results["do_nothing"].metrics)   # the incumbent is the champion
candidates = table.frame[~table.frame["strategy"].isin(["do_nothing", "naive"])]
best = candidates.sort_values("new", ascending=False, kind="mergesort")["strategy"].iloc[0]
promo = reg.promote_if_better(table.results[best], gate=curate.Gate(min_gain_new=0.0, max_drop_old=0.02))
print(promo)                                                 # promoted or not, and why
if promo.promoted:
    reg.rollback()                                           # one call back to the former champion
'''


@pytest.mark.slow
def test_readme_library_example_runs_as_printed_and_promotes(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("albumentations")
    run = subprocess.run([sys.executable, "-c", README_EXAMPLE], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "v2: promoted to champion" in run.stdout
    reg = curate.Registry(tmp_path / "registry")
    # promoted, then rolled back: the incumbent is champion again, one history entry per event
    assert reg.champion == "v1" and [v.version for v in reg.versions()] == ["v1", "v2"]
    assert [e["event"] for e in reg.history()] == ["register", "promote", "rollback"]
    frame = reg.to_frame()
    assert frame["new"].notna().all() and frame["old"].notna().all()
