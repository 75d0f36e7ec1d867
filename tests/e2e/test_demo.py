"""The whole loop, end to end, on the reduced digits drift scenario (real scans)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from curate import run_demo

    out = tmp_path_factory.mktemp("demo") / "out"
    return run_demo(out, random_state=0, quick=True, progress=False)


def test_promoted_model_beats_incumbent_on_new_within_tolerance_on_old(demo):
    table = demo.table.set_index("strategy")
    assert {"do_nothing", "continue_all", "scratch_all"} <= set(table.index)
    best = demo.metrics["candidate"]
    assert demo.promoted, demo.decision
    gain_new = table.loc[best, "new"] - table.loc["do_nothing", "new"]
    drop_old = table.loc["do_nothing", "old"] - table.loc[best, "old"]
    assert gain_new > 0.1, f"new holdout gain only {gain_new:.3f}"
    assert drop_old <= 0.02
    # the weak slices got better on the new holdout
    slice_cols = [c for c in table.columns if c.startswith("slice:") and c.endswith(":new")]
    assert slice_cols
    # per slice: not worse than the incumbent by more than one image of that slice (16-17-row slices
    # in the quick scenario: one image is 6 points, which float differences across CPUs can flip)
    for c in slice_cols:
        sid = c.split(":")[1]
        n = demo.metrics["strategies"]["do_nothing"]["slices"][sid]["new"]["n"]
        if n and not pd.isna(table.loc[best, c]):
            assert table.loc[best, c] >= table.loc["do_nothing", c] - 1.0 / n, (c, n)


def test_outputs_are_complete_and_reload(demo):
    import curate
    import diagnose

    out = demo.out_dir
    for name in ("report.html", "metrics.json", "comparison.csv", "diagnosis.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["promoted"] is True and set(metrics["strategies"]) >= {"do_nothing", "continue_all", "scratch_all"}
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 5 and "Confusion matrix" in html and "UMAP" in html

    ts = curate.TrainingSet.load(out / "training_set")
    counts = ts.manifest["origin"].value_counts()
    assert counts["old"] > 0 and counts["new"] > 0 and counts["augmented"] > 0
    aug = ts.manifest[ts.manifest["origin"] == "augmented"]
    assert aug["parent_ids"].astype(str).map(lambda s: json.loads(s)[0].startswith("new:")).all()
    assert aug["slice_ids"].astype(str).map(lambda s: len(json.loads(s)) == 1).all()

    d = diagnose.Diagnosis.load(out / "diagnosis.json")
    assert len(d.slices) > 0 and d.slices[0].id in {s.id for s in d.slices}

    man = pd.read_parquet(out / "augmented" / "manifest.parquet")
    assert len(man) == counts["augmented"] and man["seed"].notna().all()


def test_registry_keeps_both_versions_and_rolls_back(demo):
    import curate

    reg = curate.Registry(demo.out_dir / "registry")
    versions = [v.version for v in reg.versions()]
    assert len(versions) == 2 and reg.champion == versions[-1]
    back = reg.rollback()
    assert back.version == versions[0] and reg.champion == versions[0]
    model = reg.load()
    from curakit.adapters import predict_proba
    from curate.datasets import load_digits_drift

    scen = load_digits_drift(random_state=0, n_samples=700)
    acc = (predict_proba(model, scen.old_test["images"]).argmax(1) == scen.old_test["labels"]).mean()
    assert acc == pytest.approx(demo.table.set_index("strategy").loc["do_nothing", "old"], abs=1e-9)


def test_heavy_slanted_slices_were_found(demo):
    import diagnose
    from curate.datasets import load_digits_drift

    scen = load_digits_drift(random_state=0, n_samples=700)
    d = diagnose.Diagnosis.load(demo.out_dir / "diagnosis.json")
    top = [s for s in d.slices if s.method == "clusters"][:3]
    heavy, old_rate = np.asarray(scen.new["heavy"], dtype=bool), float(np.mean(scen.old["heavy"]))
    members = np.unique(np.concatenate([s.indices for s in top]))
    inside, base = float(heavy[members].mean()), float(heavy.mean())
    # the cluster slices lie where training is thin: heavy digits are ~3-5 % of old and most of new, so the
    # slices' heavy share is many times the old rate, and never clearly below new's own rate (3 binomial SE)
    assert inside > 10 * old_rate, (inside, old_rate)
    assert inside >= base - 3 * np.sqrt(base * (1 - base) / len(members)), (inside, base, len(members))


def test_one_random_state_gives_identical_outputs_in_another_process(demo, tmp_path):
    """Same seed, fresh process (other torch default seed, other hash seed): same results."""
    import os
    import subprocess
    import sys

    import curate

    out = tmp_path / "again"
    env = dict(os.environ, PYTHONHASHSEED="123")
    subprocess.run([sys.executable, "-m", "curate", "-q", "demo", "--quick", "--no-progress", "--out", str(out)],
                   check=True, env=env, capture_output=True)
    first = pd.read_csv(demo.out_dir / "comparison.csv").drop(columns="train_time")
    second = pd.read_csv(out / "comparison.csv").drop(columns="train_time")
    pd.testing.assert_frame_equal(first, second)
    a = curate.TrainingSet.load(demo.out_dir / "training_set")
    b = curate.TrainingSet.load(out / "training_set")
    assert a.fingerprint() == b.fingerprint()
    assert json.loads((demo.out_dir / "diagnosis.json").read_text())["slices"] == json.loads(
        (out / "diagnosis.json").read_text())["slices"]


@pytest.mark.parametrize("width", (1024, 1400))
def test_demo_report_in_browser(demo, browser, width, tmp_path):
    """The demo's report at 1024 and 1400 px: no sideways scroll, images load, contents resolve,
    slices named by description (never a hash id as a visible name), under 5 MB."""
    from _browser import HASH_ID, open_and_check

    path = demo.out_dir / "report.html"
    facts = open_and_check(browser, path, width, tmp_path / f"demo_{width}.png")
    assert path.stat().st_size < 5 * 2**20
    summary = facts["text"].split("Scenario: the writers switched pens")[1]  # [0] ends in the contents
    assert "embedding cluster" in summary and not HASH_ID.search(summary)
    html = path.read_text(encoding="utf-8")
    assert "<pre>" not in html
    pictures = html.split("What the weak slices look like</h2>")[1].split("</section>")[0]
    n_weak = len(demo.metrics["slices"])
    assert pictures.count("<img") == 2 * n_weak and "Grad-CAM of the incumbent" in pictures


def test_summary_and_data_name_slices_by_description(demo):
    from _browser import HASH_ID

    text = demo.summary()
    assert "embedding cluster" in text and not HASH_ID.search(text.splitlines()[0])
    frame = demo.to_frame()
    assert not [c for c in frame.columns if HASH_ID.search(str(c))]
    data = json.loads(demo.to_json())
    assert data["candidate"] == demo.metrics["candidate"] and data["table"][0]["strategy"] == "do_nothing"


def test_fill_estimate_is_reported_next_to_what_the_retrain_measured(demo):
    """Issue 11.3: the fill's estimate (gain on new, forgetting on old, intervals) before the retrain, in
    metrics.json, the printed summary and the report, next to the candidate's measured gain over naive."""
    record = json.loads((demo.out_dir / "metrics.json").read_text())["fill_value"]
    per = record["per_fill"][0]
    assert per["fill"] == "augmented" and per["n_fill"] > 0
    assert per["gain_low"] <= per["gain"] <= per["gain_high"]
    assert per["forgetting_low"] <= per["forgetting"] <= per["forgetting_high"]
    slices = {s["id"] for s in demo.metrics["slices"]}
    assert {r["slice"] for r in record["rows"]} == {"all"} | slices
    assert record["measured"]["strategy"] == demo.metrics["candidate"]
    assert set(record["measured"]) >= {"vs_naive:new"} | {f"slice:{s}" for s in slices}
    text = demo.summary()
    assert "Fill estimate before the retrain" in text and "measured by the retrain" in text
    html = (demo.out_dir / "report.html").read_text()
    assert "Fill estimate: was the fill worth it?" in html and "candidate \u2212 naive" in html and "Forgetting on the old rows" in html


def test_gate_searches_regressions_and_the_summary_says_where_the_pick_was_made(demo):
    """The demo's gate gets the eval sets, so the regression search runs (issue 11.1) besides the named
    slices; the summary and the report say on which rows the candidate was picked."""
    gate = demo.metrics["decision"]["decision"]
    assert "regressions" in gate and gate["checks"]["regressions"]["regions_tested"] > 0
    assert sorted(gate["checks"]["regressions"]["searched"]) == ["new", "old"]
    assert any("regression search" in r for r in demo.decision.reasons)
    assert demo.metrics["selection_split"] is None
    text = demo.summary()
    assert "picked on the new holdout the gate judges" in text
    assert "picked on the new holdout the gate judges" in (demo.out_dir / "report.html").read_text()
    assert demo.metrics["fill_value"]["skip_if_harmful"] is False and demo.metrics["fill_value"]["skipped"] == []


def test_skip_if_harmful_leaves_a_harmful_fill_out_of_the_demo_build(demo):
    """fill.skip_if_harmful in the demo, on real data: every new image augmented once and labelled as the next
    digit (a label-mapping bug in a fill) is estimated clearly harmful on the demo's incumbent (its gain on new
    lies below 0: about -0.12 [-0.16, -0.07] here) and left out of the training set; without
    skip_if_harmful it is only reported. (Zeros labelled 6 on this 700-scan scenario cost old ~0.03-0.05,
    too close to the 0.02 rule to test on any CPU.)"""
    import dataclasses

    import augment
    import curate
    from curate._demo import DEMO_PIPELINE, _build, _estimate
    from curate.datasets import load_digits_drift

    scen = load_digits_drift(random_state=0, n_samples=700)
    reg = curate.Registry(demo.out_dir / "registry")
    incumbent = reg.load(reg.versions()[0].version)
    weak = [s for s in diagnose_slices(demo)]
    once = augment.offline(scen.new["images"], scen.new["labels"], DEMO_PIPELINE, n=None, random_state=0)
    harmful = dataclasses.replace(once, labels=(np.asarray(once.labels) + 1) % 10)
    record = _estimate(incumbent, scen, harmful, weak, 0, max_forgetting=0.02, skip_if_harmful=True)
    per = record["per_fill"][0]
    assert record["skipped"] == ["augmented"] and per["harmful"]
    assert per["gain_high"] < 0
    eval_sets = {"old": scen.source("old_test"), "new": scen.source("new_test")}
    ts = _build(scen, None if record["skipped"] else harmful, eval_sets, 0)
    assert set(ts.manifest["origin"].astype(str)) == {"old", "new"}
    assert _estimate(incumbent, scen, harmful, weak, 0, skip_if_harmful=False)["skipped"] == []


def diagnose_slices(demo):
    import diagnose

    d = diagnose.Diagnosis.load(demo.out_dir / "diagnosis.json")
    ids = {s["id"] for s in demo.metrics["slices"]}
    return [s for s in d.slices if s.id in ids]


def test_demo_with_selection_split_and_skip_if_harmful(tmp_path):
    """curakit demo --selection-split 0.5 --skip-if-harmful: the pick is made on the selection halves, the table
    and the gate score the other halves, the summary says so; the demo's fill is kept unless estimated
    harmful; the gate's verdict is stated with its reasons either way (promoted or not)."""
    import subprocess
    import sys

    out = tmp_path / "split"
    proc = subprocess.run([sys.executable, "-m", "curate", "-q", "demo", "--quick", "--no-progress", "--out", str(out),
                           "--selection-split", "0.5", "--skip-if-harmful"], check=True, capture_output=True, text=True)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["selection_split"] == 0.5
    fv = metrics["fill_value"]
    assert fv["skip_if_harmful"] is True
    assert fv["skipped"] == [f["fill"] for f in fv["per_fill"] if f["harmful"]]
    table = pd.read_csv(out / "comparison.csv").set_index("strategy")
    assert {"select_new", "select_old"} <= set(table.columns)
    n_new = metrics["strategies"]["do_nothing"]["new"]["n"]
    n_sel = metrics["strategies"]["do_nothing"]["select_new"]["n"]
    assert abs(n_new - n_sel) <= 10  # halves, stratified by class
    cands = table.drop(index=["do_nothing", "naive"])
    assert metrics["candidate"] == cands["select_new"].idxmax()
    assert "picked on 50% of each holdout" in proc.stdout
    named = metrics["decision"]["decision"]["checks"]["named_slices"]["slices"]
    assert named and {r["eval_set"] for r in named} <= {"new", "old"}  # judged on the scored halves only
    assert sorted(metrics["decision"]["decision"]["checks"]["regressions"]["searched"]) == ["new", "old"]
    assert ("PROMOTED" in proc.stdout) == metrics["promoted"]
    assert metrics["decision"]["reasons"] and all(": pass" in r or ": fail" in r for r in metrics["decision"]["reasons"])
    if not metrics["promoted"]:  # the gate says which check failed
        assert any(r.endswith(": fail") for r in metrics["decision"]["reasons"])


def test_demo_refuses_a_bad_selection_split_in_one_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    proc = subprocess.run([str(Path(sys.executable).with_name("curakit")), "demo", "--selection-split", "2", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and not (tmp_path / "o").exists()
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--selection-split" in lines[0] and "Traceback" not in proc.stderr
