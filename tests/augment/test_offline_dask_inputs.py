"""augment.offline(client=...) with resize= (the workers resize what they read) and with an array
of parents (an .npz's images: written once for the workers to memory-map), on a real
distributed.LocalCluster: the same PNG bytes and manifest as the in-process run, for 1 and 2
workers, and after a worker process is killed mid-run."""

import os
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
from curakit.exceptions import DataError, ParameterError  # noqa: E402
from curakit.imageio import read_images, write_png  # noqa: E402

SIZE = (24, 20)  # H x W, not square: a swapped pair would show


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="2GB",
                      dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """40 real 32x32 RGB tiles of scikit-learn's sample photos as <label>/<file>.png, 4 labels."""
    root = tmp_path_factory.mktemp("inputs") / "tiles"
    tiles = [img[i : i + 32, j : j + 32] for img in load_sample_images().images
             for i in range(0, 320, 64) for j in range(0, 256, 64)][:40]
    for k, t in enumerate(tiles):
        (root / str(k % 4)).mkdir(parents=True, exist_ok=True)
        write_png(root / str(k % 4) / f"p{k:03d}.png", np.ascontiguousarray(t))
    files = sorted(root.rglob("*.png"))  # read_images' order
    return root, [str(p) for p in files], np.asarray([int(p.parent.name) for p in files])


def _pipe():
    return A.Compose([A.HorizontalFlip(p=0.5), A.Affine(rotate=(-15, 15), p=0.7), A.RandomBrightnessContrast(p=0.8)])


ARGS = dict(n=160, random_state=4, progress=False)


def _by_row(result) -> dict[str, bytes]:
    """{row_id: PNG bytes} of a finished out_dir (in-process or shard layout)."""
    return {r: (result.out_dir / p).read_bytes() for r, p in zip(result.manifest["row_id"], result.manifest["path"])}


def _same(dask_result, local) -> None:
    cols = [c for c in local.manifest.columns if c != "path"]
    pd.testing.assert_frame_equal(dask_result.manifest[cols], local.manifest[cols])
    assert _by_row(dask_result) == _by_row(local)  # byte for byte, applied parameters included
    np.testing.assert_array_equal(dask_result.labels, local.labels)
    assert not list(dask_result.out_dir.rglob("*.tmp")) and not (dask_result.out_dir / ".parents.npy").exists()


@pytest.fixture(scope="module")
def local_resized(folder, tmp_path_factory):
    """What `curakit augment FOLDER --resize 24x20` does in one process: read_images(resize=), offline."""
    root, _, _ = folder
    images, labels, _ = read_images(root, resize=SIZE)
    assert images.shape[1:] == (*SIZE, 3)
    return augment.offline(images, labels, _pipe(), out_dir=tmp_path_factory.mktemp("local") / "r", **ARGS)


def test_resize_on_the_workers_gives_the_in_process_pixels_for_one_and_two_workers(client, folder, local_resized,
                                                                                  tmp_path):
    _, paths, labels = folder
    two = augment.offline(paths, labels, _pipe(), client=client, out_dir=tmp_path / "two", shard_size=16,
                          resize=SIZE, **ARGS)
    one_worker = sorted(client.scheduler_info()["workers"])[:1]
    with dask.annotate(workers=one_worker, allow_other_workers=False):  # every shard on one worker process
        one = augment.offline(paths, labels, _pipe(), client=client, out_dir=tmp_path / "one", shard_size=16,
                              resize=SIZE, **ARGS)
    _same(two, local_resized)
    _same(one, local_resized)
    assert augment.AugmentedSet.load(tmp_path / "two").images.shape == (160, *SIZE, 3)
    # the in-process call takes resize= too (a list of paths here), with the same result
    again = augment.offline(paths, labels, _pipe(), out_dir=tmp_path / "ip", resize=SIZE, **ARGS)
    _same(again, local_resized)
    # another size is another run: its out_dir is refused, not mixed
    with pytest.raises(DataError, match="holds another augmentation run"):
        augment.offline(paths, labels, _pipe(), client=client, out_dir=tmp_path / "two", shard_size=16,
                        resize=(20, 20), **ARGS)
    with pytest.raises(ParameterError, match="'resize' parameter of offline must be \\(H, W\\)"):
        augment.offline(paths, labels, _pipe(), client=client, out_dir=tmp_path / "bad", resize=(0, 4))


def test_an_array_of_parents_is_written_once_and_read_by_the_workers(client, folder, local_resized, tmp_path):
    root, _, _ = folder
    images, labels, _ = read_images(root)  # what an .npz holds: arrays, no files
    two = augment.offline(images, labels, _pipe(), client=client, out_dir=tmp_path / "two", shard_size=16,
                          resize=SIZE, **ARGS)
    one_worker = sorted(client.scheduler_info()["workers"])[:1]
    with dask.annotate(workers=one_worker, allow_other_workers=False):
        one = augment.offline(images, labels, _pipe(), client=client, out_dir=tmp_path / "one", shard_size=16,
                              resize=SIZE, **ARGS)
    _same(two, local_resized)
    _same(one, local_resized)
    # without resize: the in-process run on the same arrays
    plain = augment.offline(images, labels, _pipe(), client=client, out_dir=tmp_path / "plain", shard_size=16, **ARGS)
    _same(plain, augment.offline(images, labels, _pipe(), out_dir=tmp_path / "lp", **ARGS))
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == ["images", "manifest.parquet", "run.json"]


def _kill_one_worker_mid_run(client, out_dir: Path, call) -> tuple[dict, list, int]:
    result, errors = {}, []

    def work():
        try:
            result["set"] = call()
        except Exception as exc:  # noqa: BLE001 - reported by the caller's assertion
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
    return result, errors, done_at_kill


@pytest.mark.parametrize("parents", ["files", "array"])
def test_a_worker_killed_mid_run_with_resize_leaves_the_in_process_result(client, folder, local_resized, tmp_path,
                                                                          parents):
    client.wait_for_workers(2, timeout=60)  # the nanny restarts a killed worker; start with two
    root, paths, labels = folder
    images = paths if parents == "files" else read_images(root)[0]
    out_dir = tmp_path / "killed"
    result, errors, done_at_kill = _kill_one_worker_mid_run(client, out_dir, lambda: augment.offline(
        images, labels, _pipe(), client=client, out_dir=out_dir, shard_size=4, resize=SIZE, **ARGS))
    assert not errors and "set" in result, errors
    assert 0 < done_at_kill < 40  # the kill came after the first shard and before the last
    _same(result["set"], local_resized)
    assert len(list((out_dir / "manifest.parquet").glob("part-*.parquet"))) == 40
