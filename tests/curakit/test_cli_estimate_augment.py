"""``curakit estimate --fill <curakit augment folder>`` through the console script, on real data.

An ImageFolder of sklearn digits (class-name folders, class ``three`` thin in old), a small CNN saved
as a state dict with its class in the user's module (``--model-class net:Net``), and fills made by
``curakit augment`` of the new folder: in this process and on Dask (a partitioned manifest, images in
shard folders); a digits table, a pickled scikit-learn model and a SMOTE fill. The estimate reads each
fill's lineage (parents = rows of --new, found by path) the way ``curakit build --add`` does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

CLI = str(Path(sys.executable).with_name("curakit"))
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
N_MADE = 40

_MODULE = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, width=8, n_classes=10):
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        self.hidden = nn.Linear(width * 16, 32)
        self.fc = nn.Linear(32, n_classes)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(torch.relu(self.hidden(x.flatten(1))))
'''


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ""}
    return subprocess.run([CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def _estimate(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return _cli(cwd, "estimate", "--model", "weights.pt", "--model-class", "net:Net", "--old", "old", "--new", "new",
                *args)


def _write_folder(root: Path, images: np.ndarray, labels: np.ndarray) -> None:
    from curakit.imageio import write_png

    for k, (img, label) in enumerate(zip(images, labels)):
        (root / NAMES[label]).mkdir(parents=True, exist_ok=True)
        write_png(root / NAMES[label] / f"{k:04d}.png", img)


def _train(tmp: Path, old: Path) -> None:
    from curakit.imageio import class_indices, read_images

    sys.path.insert(0, str(tmp))
    try:
        import net
    finally:
        sys.path.remove(str(tmp))
        sys.modules.pop("net", None)
    x, y, _ = read_images(old)
    y, _ = class_indices(y, old)
    torch.manual_seed(0)
    model = net.Net()
    xt = torch.tensor(x[..., 0][:, None] / 255.0, dtype=torch.float32)
    yt = torch.tensor(y)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(40):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    torch.save(model.state_dict(), tmp / "weights.pt")


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    tmp = tmp_path_factory.mktemp("estimate_augment")
    (tmp / "net.py").write_text(_MODULE)
    d = load_digits()
    x = (d.images * (255 / 16)).astype(np.uint8)[..., None]
    idx = np.random.default_rng(0).permutation(len(x))
    thin, rest = idx[d.target[idx] == 3], idx[d.target[idx] != 3]
    parts = {"old": np.concatenate([rest[:500], thin[:6]]), "new": np.concatenate([rest[500:740], thin[6:36]]),
             "other": np.concatenate([rest[740:980], thin[36:66]])}  # as many rows as new, other images
    for name, ix in parts.items():
        _write_folder(tmp / name, x[ix], d.target[ix])
        table = pd.DataFrame(d.data[ix], columns=[f"px{k}" for k in range(64)]).assign(digit=d.target[ix])
        table.to_parquet(tmp / f"{name}.parquet", index=False)
    _train(tmp, tmp / "old")
    old = pd.read_parquet(tmp / "old.parquet")
    joblib.dump(LogisticRegression(max_iter=3000).fit(old.drop(columns="digit"), old["digit"]), tmp / "lr.joblib")
    from curakit._cli import main  # curakit augment in this process (its console script: the Dask test)

    assert main(["augment", str(tmp / "new"), "--pipeline", "default", "--classes", "three", "--n", str(N_MADE),
                 "--out", str(tmp / "aug")]) == 0
    assert main(["augment", str(tmp / "new.parquet"), "--target-col", "digit", "--classes", "3", "--n", str(N_MADE),
                 "--out", str(tmp / "smote")]) == 0
    return tmp


def _frame(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "fill_value.csv").set_index(["fill", "slice"]).sort_index()


def test_image_fill_from_an_augment_folder(user):
    res = _estimate(user, "--fill", "aug", "--out", "est")
    assert res.returncode == 0, res.stderr
    assert f"fill aug: {N_MADE} rows made by curakit augment (offline); parents: rows of --new" in res.stdout
    line = next(ln.split() for ln in res.stdout.splitlines() if ln.split()[:1] == ["aug"])
    header = next(ln.split() for ln in res.stdout.splitlines() if ln.startswith("fill ") and "n_fill" in ln)
    row = dict(zip(header, line))
    assert int(row["n_fill"]) == N_MADE and row["harmful"] in ("True", "False")
    assert {"gain", "forgetting", "forgetting_low", "forgetting_high"} <= set(row)
    rows = _frame(user / "est")
    three = sorted(NAMES).index("three")  # class names index by their sorted order, as ImageFolder
    assert {("aug", "all"), ("aug", f"class={three}")} <= set(rows.index)
    for _, r in rows.iterrows():
        assert r["low"] - 1e-9 <= r["gain"] <= r["high"] + 1e-9
        assert r["forgetting_low"] - 1e-9 <= r["forgetting"] <= r["forgetting_high"] + 1e-9
    saved = json.loads((user / "est" / "fill_value.json").read_text())
    assert saved["params"]["n_fill"] == {"aug": N_MADE}
    assert saved["params"]["n_new"] == 270 and saved["params"]["n_old"] == 506
    # the lineage is used as the library uses it: the same figures as estimate_fill_value(parents="new")
    import augment
    import curate
    from curakit.imageio import class_indices, read_images

    sys.path.insert(0, str(user))
    try:
        import net
    finally:
        sys.path.remove(str(user))
        sys.modules.pop("net", None)
    model = net.Net()
    model.load_state_dict(torch.load(user / "weights.pt"))
    model.eval()
    xo, yo, _ = read_images(user / "old")
    yo, classes = class_indices(yo, user / "old")
    xn, yn, _ = read_images(user / "new")
    fill = augment.AugmentedSet.load(user / "aug")
    import dataclasses

    fill = dataclasses.replace(fill, labels=class_indices(fill.labels.astype(str), user, classes=classes)[0])
    fv = curate.estimate_fill_value(model, (xo, yo), (xn, class_indices(yn, user / "new", classes=classes)[0]),
                                    {"aug": fill}, parents="new", random_state=0)
    ours = fv.to_frame().set_index(["fill", "slice"]).sort_index()
    for col in ("gain", "low", "high", "forgetting"):
        np.testing.assert_allclose(rows[col].to_numpy(), ours.loc[rows.index, col].to_numpy(), atol=1e-9)


def test_dask_sharded_augment_folder_gives_the_same_estimate(user):
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                          dashboard_address=":0")
    try:
        made = _cli(user, "augment", str(user / "new"), "--pipeline", "default", "--classes", "three", "--n",
                    str(N_MADE), "--out", str(user / "aug_dask"), "--scheduler", cluster.scheduler_address,
                    "--shard-size", "15")
    finally:
        cluster.close()
    assert made.returncode == 0, made.stderr
    assert (user / "aug_dask" / "manifest.parquet").is_dir()  # a partitioned manifest, images in shard folders
    assert any((user / "aug_dask" / "images").glob("shard-*/three/*.png"))
    res = _estimate(user, "--fill", "aug", "--fill", "dask=aug_dask", "--out", "est_dask")
    assert res.returncode == 0, res.stderr
    assert f"fill dask: {N_MADE} rows made by curakit augment (offline); parents: rows of --new" in res.stdout
    # the same images and manifest rows as the in-process run: the same estimate, row for row
    rows = pd.read_csv(user / "est_dask" / "fill_value.csv")
    ours, theirs = rows[rows["fill"] == "aug"], rows[rows["fill"] == "dask"]
    assert len(ours) > 2
    pd.testing.assert_frame_equal(ours.drop(columns="fill").reset_index(drop=True),
                                  theirs.drop(columns="fill").reset_index(drop=True))


def test_table_fill_from_a_smote_folder(user, capsys):
    from curakit._cli import main

    args = ["estimate", "--model", "lr.joblib", "--old", "old.parquet", "--new", "new.parquet", "--target", "digit"]
    res = _cli(user, *args, "--fill", "smote", "--out", "est_table")
    assert res.returncode == 0, res.stderr
    # only the rows SMOTE made count (the folder's table holds the input rows too)
    assert f"fill smote: {N_MADE} rows made by curakit augment (smote); parents: rows of --new" in res.stdout
    assert len(pd.read_parquet(user / "smote" / "table.parquet")) == 270 + N_MADE
    saved = json.loads((user / "est_table" / "fill_value.json").read_text())
    assert saved["params"]["n_fill"] == {"smote": N_MADE} and saved["params"]["features"] == "columns"
    here = [a if not a.endswith((".joblib", ".parquet")) else str(user / a) for a in args]
    assert main([*here, "--fill", str(user / "smote"), "--out", str(user / "est_table2")]) == 0  # same seed
    assert (user / "est_table" / "fill_value.csv").read_bytes() == (user / "est_table2" / "fill_value.csv").read_bytes()
    capsys.readouterr()
    assert main([*here, "--fill", str(user / "smote"), "--parents", "none"]) == 0
    assert "parents: not used (--parents none)" in capsys.readouterr().out


def test_lineage_errors_are_one_line(user, capsys):
    from curakit._cli import main

    moved = user / "aug_moved"
    if not moved.exists():
        shutil.copytree(user / "aug", moved)
        record = json.loads((moved / "augment.json").read_text())
        (moved / "augment.json").write_text(json.dumps({**record, "input": str(user / "elsewhere")}))
    (user / "unfinished").mkdir(exist_ok=True)
    (user / "unfinished" / "augment.json").write_text((user / "aug" / "augment.json").read_text())
    base = ["estimate", "--model", str(user / "weights.pt"), "--model-class", "net:Net", "--import-path", str(user)]
    images = [*base, "--old", str(user / "old"), "--new", str(user / "new")]
    cases = [
        ([*images, "--fill", f"a={user / 'aug'}", "--parents", "old"], "was augmented from --new ('new')"),
        ([*images, "--fill", f"a={moved}"], "neither --old nor --new. Pass --parents new or old"),
        ([*base, "--old", str(user / "old"), "--new", str(user / "other"), "--fill", f"a={user / 'aug'}",
          "--parents", "new"], "carry another label than their parent in --new"),
        ([*base, "--old", str(user / "new"), "--new", str(user / "old"), "--fill", f"a={moved}", "--parents", "new"],
         "was augmented from 270 rows (augment.json n_input) but --new has 506"),
        ([*images, "--fill", f"a={user / 'other'}", "--parents", "new"], "or a curakit augment output folder"),
        ([*images, "--fill", f"a={user / 'smote'}"], "holds table fills but the other data are image data"),
        ([*images, "--fill", f"a={user / 'unfinished'}"], "not a finished augmentation run"),
        ([*images, "--fill", str(user / "aug"), "--fill", f"aug={user / 'aug'}"], "--fill names 'aug' twice"),
    ]
    for argv, message in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("Error:") and message in err[0], (argv, err)
