"""augment.offline on a real distributed.LocalCluster (worker processes, one thread each)."""

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")
pytest.importorskip("albumentations")
import albumentations as A  # noqa: E402
import dask  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402
from sklearn.datasets import load_sample_images  # noqa: E402

import augment  # noqa: E402
from curakit.exceptions import DataError, LeakageError, ParameterError  # noqa: E402
from curakit.imageio import write_png  # noqa: E402


def _cluster(n_workers):
    return LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, memory_limit="2GB", dashboard_address=":0"
    )


@pytest.fixture(scope="module")
def client():
    with _cluster(2) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def parents(tmp_path_factory):
    """40 real 32x32 RGB tiles of scikit-learn's sample photos, as PNG files, with 4 labels."""
    root = tmp_path_factory.mktemp("parents")
    tiles = [img[i : i + 32, j : j + 32] for img in load_sample_images().images
             for i in range(0, 320, 64) for j in range(0, 256, 64)][:40]
    paths = [str(write_png(root / f"p{k:03d}.png", np.ascontiguousarray(t))) for k, t in enumerate(tiles)]
    return paths, np.arange(len(paths)) % 4, np.stack(tiles)


def _pipe():
    return A.Compose([A.HorizontalFlip(p=0.5), A.Affine(rotate=(-15, 15), p=0.7), A.RandomBrightnessContrast(p=0.8)])


def _files(out_dir: Path) -> dict[str, bytes]:
    return {p.relative_to(out_dir).as_posix(): p.read_bytes() for p in sorted((out_dir / "images").rglob("*.png"))}


def _run(client, parents, out_dir, **kw):
    paths, labels, _ = parents
    args = dict(n=320, random_state=3, shard_size=8, progress=False)  # 40 shards
    args.update(kw)
    return augment.offline(paths, labels, _pipe(), client=client, out_dir=out_dir, **args)


@pytest.fixture(scope="module")
def reference(client, parents, tmp_path_factory):
    """The run on both workers: (out_dir, AugmentedSet)."""
    out_dir = tmp_path_factory.mktemp("reference") / "two"
    return out_dir, _run(client, parents, out_dir)


def test_one_and_two_workers_make_the_same_files_and_manifest_as_the_in_process_path(client, parents, reference,
                                                                                      tmp_path):
    two_dir, two = reference
    one_worker = sorted(client.scheduler_info()["workers"])[:1]
    with dask.annotate(workers=one_worker, allow_other_workers=False):  # every shard on one worker process
        one = _run(client, parents, tmp_path / "one")
    assert len(two) == 320 and two.images is None
    pd.testing.assert_frame_equal(one.manifest, two.manifest)
    assert _files(tmp_path / "one") == _files(two_dir)
    assert sorted(two.manifest["path"]) == sorted(_files(two_dir))
    assert len(list((two_dir / "manifest.parquet").glob("part-*.parquet"))) == 40
    # the same plan and seeds as offline() in one process: the same images and lineage
    _, labels, images = parents
    local = augment.offline(images, labels, _pipe(), n=320, random_state=3, progress=False)
    back = augment.AugmentedSet.load(two_dir)
    np.testing.assert_array_equal(back.images, local.images)
    cols = [c for c in local.manifest.columns if c != "path"]
    pd.testing.assert_frame_equal(two.manifest[cols], local.manifest[cols])


def test_a_stopped_run_resumes_and_a_parquet_table_of_paths_is_accepted(client, parents, reference, tmp_path):
    paths, labels, _ = parents
    ref_dir, ref = reference
    out = tmp_path / "a"
    shutil.copytree(ref_dir, out)
    # what a stopped client leaves: the parts folder with some parts and images missing, a temporary file
    os.replace(out / "manifest.parquet", out / "manifest.parquet.partial")
    for s in (2, 5):
        (out / "manifest.parquet.partial" / f"part-{s:05d}.parquet").unlink()
    for p in list((out / "images" / "shard-00005").rglob("*.png"))[:5]:
        p.unlink()
    (out / "images" / "shard-00002" / ".x.png.123.tmp").write_bytes(b"half")
    again = _run(client, parents, out)
    pd.testing.assert_frame_equal(again.manifest, ref.manifest)
    assert _files(out) == _files(ref_dir) and not list(out.rglob("*.tmp"))

    table = pd.DataFrame({"path": [Path(p).name for p in paths], "label": labels})
    table.to_parquet(Path(paths[0]).parent / "parents.parquet")
    from_table = augment.offline(Path(paths[0]).parent / "parents.parquet", None, _pipe(), n=320, random_state=3,
                                 shard_size=8, client=client, out_dir=tmp_path / "t", progress=False)
    pd.testing.assert_frame_equal(from_table.manifest, ref.manifest)


def _holdout(parents):
    """An evaluation set holding 6 images the run will make (exactly), 4 it will nearly make
    (RMS about 1 of 255: within the default 2 %) and 6 unrelated tiles."""
    _, labels, images = parents
    free = augment.offline(images, labels, _pipe(), n=320, random_state=3, progress=False).images
    rng = np.random.default_rng(0)
    near = np.clip(free[[50, 150, 250, 300]].astype(int) + rng.integers(-1, 2, size=(4, 32, 32, 3)), 0, 255)
    return np.concatenate([free[[3, 11, 99, 160, 161, 319]], near.astype(np.uint8), images[::7][:6]])


def test_the_leak_guard_on_the_cluster_refuses_what_the_in_process_path_refuses(client, parents, tmp_path):
    paths, labels, images = parents
    evals = {"holdout": _holdout(parents)}
    local = augment.offline(images, labels, _pipe(), n=320, random_state=3, eval_sets=evals, progress=False)
    assert len(local.refused) >= 10 and {"exact", "near"} <= set(local.refused["match"])
    two = _run(client, parents, tmp_path / "two", eval_sets=evals)
    one_worker = sorted(client.scheduler_info()["workers"])[:1]
    with dask.annotate(workers=one_worker, allow_other_workers=False):
        one = _run(client, parents, tmp_path / "one", eval_sets=evals)
    pd.testing.assert_frame_equal(two.refused, local.refused)
    pd.testing.assert_frame_equal(one.refused, two.refused)
    pd.testing.assert_frame_equal(one.manifest, two.manifest)
    assert _files(tmp_path / "one") == _files(tmp_path / "two")
    cols = [c for c in local.manifest.columns if c != "path"]
    pd.testing.assert_frame_equal(two.manifest[cols], local.manifest[cols])
    np.testing.assert_array_equal(two.labels, local.labels)
    back = augment.AugmentedSet.load(tmp_path / "two")  # only the kept images are on disk
    np.testing.assert_array_equal(back.images, local.images)
    pd.testing.assert_frame_equal(back.refused, local.refused)
    assert len(_files(tmp_path / "two")) == 320 - len(local.refused)
    # on_leak="raise": the one-line LeakageError, and the run is left unfinished (no manifest)
    with pytest.raises(LeakageError, match="duplicate evaluation rows"):
        _run(client, parents, tmp_path / "r", eval_sets=evals, on_leak="raise")
    assert not (tmp_path / "r").exists()  # the folder it created is removed, as in one process
    # exact only (leak_tolerance=0) refuses the exact copies alone, on both paths
    exact = _run(client, parents, tmp_path / "x", eval_sets=evals, leak_tolerance=0.0)
    local0 = augment.offline(images, labels, _pipe(), n=320, random_state=3, eval_sets=evals, leak_tolerance=0.0,
                             progress=False)
    pd.testing.assert_frame_equal(exact.refused, local0.refused)
    assert set(exact.refused["match"]) == {"exact"}


def test_progress_uses_dasks_bar_and_bad_arguments_are_one_line_errors(client, parents, tmp_path, capsys):
    _run(client, parents, tmp_path / "p", n=32, progress=True)
    captured = capsys.readouterr()
    assert "100% Completed" in captured.out and "Dask dashboard: http" in captured.err
    paths, labels, images = parents
    with pytest.raises(ParameterError, match="pass out_dir="):
        augment.offline(paths, labels, _pipe(), client=client)
    with pytest.raises(DataError, match="channel"):  # the in-process path's one-line error, before any work
        augment.offline(paths, labels, _pipe(), client=client, out_dir=tmp_path / "e", eval_sets={"t": images[..., :1]})
    assert not (tmp_path / "e").exists()
    with pytest.raises(ParameterError, match="a uint8 array, a list of image paths"):
        augment.offline({"images": images}, labels, _pipe(), client=client, out_dir=tmp_path / "e")
    with pytest.raises(ParameterError, match="shard_size"):
        augment.offline(paths, labels, _pipe(), client=client, out_dir=tmp_path / "e", shard_size=0)


def test_a_worker_killed_mid_run_leaves_a_complete_identical_result(client, parents, reference, tmp_path):
    # last in the module: the nanny's restart of the killed worker is not waited for
    ref_dir, ref = reference
    out_dir = tmp_path / "killed"
    result, errors = {}, []

    def work():
        try:
            result["set"] = _run(client, parents, out_dir)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    pids = client.run(os.getpid)
    thread = threading.Thread(target=work)
    thread.start()
    parts = out_dir / "manifest.parquet.partial"
    deadline = time.monotonic() + 60
    while not (parts.exists() and list(parts.glob("part-*.parquet"))) and time.monotonic() < deadline:
        time.sleep(0.002)
    done_at_kill = len(list(parts.glob("part-*.parquet"))) if parts.exists() else 0
    os.kill(next(iter(pids.values())), signal.SIGKILL)  # one worker process dies mid-run
    thread.join(timeout=120)
    assert not errors and "set" in result
    assert 0 < done_at_kill < 40  # the kill came after the first shard and before the last
    pd.testing.assert_frame_equal(result["set"].manifest, ref.manifest)
    assert _files(out_dir) == _files(ref_dir)
    assert not list(out_dir.rglob("*.tmp"))
