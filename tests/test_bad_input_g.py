"""Bad input found by the CLI audit (issue 13), fixed at its source: the API refuses it in one line, and
so does the console script (a real ``curakit`` process: no traceback, no "internal error", exit 1).

One table of API cases (each: a call on tiny real data, the curakit error class, a message pattern),
the checks every curakit error shares (one line, no data values), the good calls next to each refusal,
and one console-script run per fix.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import augment
import curate
from curakit.exceptions import CurakitError, DataError, ParameterError

torch = pytest.importorskip("torch")

_DECIMALS = re.compile(r"\d\.\d{4,}")  # a data value printed in full
_NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without a GPU")


@pytest.fixture(scope="module")
def D():
    from sklearn.datasets import load_breast_cancer, load_digits

    bc = load_breast_cancer(as_frame=True)
    table = bc.data.iloc[:120, :4].reset_index(drop=True)
    y_bc = bc.target.to_numpy()[:120]
    digits = load_digits()
    images = (digits.images[:40] * (255 / 16)).round().astype(np.uint8)[..., None]  # (40, 8, 8, 1)
    labels = (digits.target[:40] % 2).astype(np.int64)
    ts = curate.TrainingSetBuilder((images[:20], labels[:20]), (images[20:], labels[20:]),
                                   target="labels").build(random_state=0)
    return {"table": table, "y_bc": y_bc, "images": images, "labels": labels, "ts": ts}


def _flat_linear(n_in: int):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(n_in, 2))


def _gen(D, **kw):
    return augment.generate(D["images"], D["labels"], select={"classes": [0]}, n=2, **kw)


CASES = [
    # 1. the VAE's device
    ("generate-device-gpu", lambda D: _gen(D, device="gpu"),
     ParameterError, r"^device 'gpu' is not a torch device\. Use 'cpu' or 'cuda'"),
    ("generate-device-garbage-index", lambda D: _gen(D, device="cuda:x"),
     ParameterError, r"^device 'cuda:x' is not a torch device\. Use 'cpu' or 'cuda'"),
    ("generate-device-not-a-string", lambda D: _gen(D, device=0.5),
     ParameterError, r"'device' parameter of augment\.generate must be a str.*Got a float instead"),
    ("generate-device-meta", lambda D: _gen(D, device="meta"),
     ParameterError, r"device 'meta' is a torch device curakit does not train on\. Use 'cpu' or 'cuda'"),
    ("vae-fit-device-gpu", lambda D: augment.VAEGenerator.fit(D["images"], D["labels"], kind="image", device="gpu"),
     ParameterError, r"^device 'gpu' is not a torch device"),
    # 3. the VAE's sizes
    ("generate-epochs-0", lambda D: _gen(D, epochs=0),
     ParameterError, r"The 'epochs' parameter of augment\.generate must be an int in the range \[1, inf\)\. Got 0"),
    ("generate-latent-dim-0", lambda D: _gen(D, latent_dim=0),
     ParameterError, r"The 'latent_dim' parameter of augment\.generate must be an int in the range \[1, inf\)"),
    ("generate-epochs-float", lambda D: _gen(D, epochs=2.5),
     ParameterError, r"The 'epochs' parameter of augment\.generate must be an int"),
    ("vae-fit-hidden-0", lambda D: augment.VAEGenerator.fit(D["table"], D["y_bc"], kind="table", hidden=0),
     ParameterError, r"The 'hidden' parameter of augment\.VAEGenerator\.fit must be an int in the range \[1, inf\)"),
    ("vae-fit-lr-0", lambda D: augment.VAEGenerator.fit(D["table"], D["y_bc"], kind="table", lr=0.0),
     ParameterError, r"The 'lr' parameter of augment\.VAEGenerator\.fit must be a float in the range \(0\.0, inf\)"),
    ("vae-fit-batch-size-0", lambda D: augment.VAEGenerator.fit(D["table"], D["y_bc"], kind="table", batch_size=0),
     ParameterError, r"The 'batch_size' parameter of augment\.VAEGenerator\.fit must be an int"),
    # 2. SMOTE-NC's categorical columns
    ("smotenc-unknown-column", lambda D: augment.oversample(D["table"], D["y_bc"], method="smotenc",
                                                           categorical=["nope"], n=5),
     ParameterError, r"^categorical names 1 column\(s\) that X does not have: 'nope'\. X's columns: 'mean radius', "
                     r"'mean texture', 'mean perimeter', 'mean area'\. Name columns of X\.$"),
    ("smotenc-misspelt-column", lambda D: augment.oversample(D["table"], D["y_bc"], method="smotenc",
                                                             categorical=["mean radiu"], n=5),
     ParameterError, r"that X does not have: 'mean radiu'\. Did you mean 'mean radius'\?"),
    ("smotenc-every-column", lambda D: augment.oversample(D["table"], D["y_bc"], method="smotenc",
                                                          categorical=list(D["table"].columns), n=5),
     ParameterError, r"categorical names every column of X; SMOTE-NC needs some numeric ones"),
    ("smotenc-no-column", lambda D: augment.oversample(D["table"], D["y_bc"], method="smotenc", categorical=[], n=5),
     ParameterError, r"categorical must list one or more columns"),
    ("smotenc-position-out-of-range", lambda D: augment.oversample(D["table"], D["y_bc"], method="smotenc",
                                                                   categorical=[9], n=5),
     ParameterError, r"categorical holds a column position outside \[-4, 4\) \(X has 4 columns\)"),
    ("smotenc-mask-of-another-length", lambda D: augment.oversample(D["table"], D["y_bc"], method="smotenc",
                                                                    categorical=[True, False], n=5),
     ParameterError, r"categorical is a boolean mask of 2 entries for 4 columns"),
    ("smotenc-names-on-an-array", lambda D: augment.oversample(D["table"].to_numpy(), D["y_bc"], method="smotenc",
                                                               categorical=["a"], n=5),
     ParameterError, r"categorical names columns, but X is a ndarray without column names"),
    ("smotenc-sampler-unknown-column", lambda D: augment.LineageSMOTENC(["nope"]).fit_resample(D["table"], D["y_bc"]),
     ParameterError, r"^categorical_features names 1 column\(s\) that X does not have: 'nope'"),
    # 4. a torch model that cannot take the training set's images: before any training
    ("retrain-images-the-model-cannot-take", lambda D: curate.retrain(_flat_linear(10), D["ts"], epochs=1,
                                                                      eval_sets={"old": (D["images"], D["labels"])}),
     DataError, r"^retrain, the training set: The model cannot run on inputs shaped \(8, 8, 1\) \(mat1 and mat2 "
                r"shapes cannot be multiplied.*\)\. Pass inputs of the size and channels it was trained on\.$"),
    ("retrain-eval-images-the-model-cannot-take",
     lambda D: curate.retrain(_flat_linear(64), D["ts"], epochs=1,
                              eval_sets={"old": (np.zeros((4, 12, 12, 1), np.uint8), D["labels"][:4])}),
     DataError, r"^retrain, eval set 'old': The model cannot run on inputs shaped \(12, 12, 1\)"),
]


@pytest.mark.parametrize(("name", "call", "error", "pattern"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_curakit_error(D, name, call, error, pattern):
    with pytest.raises(CurakitError) as info:
        call(D)
    exc, msg = info.value, str(info.value)
    assert isinstance(exc, error), f"{type(exc).__name__} is not a {error.__name__}: {msg}"
    assert re.search(pattern, msg), f"message {msg!r} does not match {pattern!r}"
    assert "\n" not in msg.strip(), "a curakit error message is one line"
    assert not _DECIMALS.search(msg), f"message quotes data values: {msg!r}"


def test_table_ids_are_unique():
    assert len({c[0] for c in CASES}) == len(CASES)


@_NO_GPU
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_a_cuda_device_on_a_machine_without_one_is_one_line(D, device):
    with pytest.raises(ParameterError, match=rf"^device '{device}' asks for a GPU, but torch sees no CUDA device on "
                                             r"this machine\. Use device='cpu'\.$"):
        _gen(D, device=device)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_gpu_index_beyond_the_machine_is_one_line():
    from augment._vae_models import check_device

    assert check_device("cuda", "t") == "cuda"
    n = torch.cuda.device_count()
    with pytest.raises(ParameterError, match=rf"device 'cuda:{n}' names GPU {n}, but this machine has {n}\."):
        check_device(f"cuda:{n}", "t")


def test_good_devices_and_sizes_pass(D):
    from augment._vae_models import check_device, check_vae_sizes

    assert check_device("cpu", "t") == "cpu"
    assert check_device(torch.device("cpu"), "t") == "cpu"
    assert check_vae_sizes("t", epochs=np.int64(3), latent_dim=1, lr=1e-3) == {"epochs": 3, "latent_dim": 1, "lr": 1e-3}
    out = _gen(D, epochs=1, latent_dim=1, device="cpu")  # the smallest sizes allowed train and sample
    assert out.images.shape[1:] == (8, 8, 1) and 1 <= len(out.images) <= 2


def test_good_categorical_columns_pass(D):
    table = D["table"].assign(kind=np.where(np.arange(120) % 3 == 0, "a", "b"))
    for categorical in (["kind"], [4], [-1], [False, False, False, False, True]):
        X2, y2, prov = augment.oversample(table, D["y_bc"], method="smotenc", categorical=categorical, n=5,
                                          select={"classes": [0]})
        assert len(X2) == len(table) + 5 and set(X2["kind"].iloc[len(table):]) <= {"a", "b"}


def test_retrain_on_images_the_model_takes_trains(D):
    result = curate.retrain(_flat_linear(64), D["ts"], strategy="continue_all", epochs=1,
                            eval_sets={"old": (D["images"], D["labels"])})
    assert result.score("old") is not None and 0.0 <= result.score("old") <= 1.0


def test_retrain_shape_check_leaves_the_seeded_result_alone(D):
    """The one-row forward pass draws no random numbers: two runs with the same seed are identical."""
    a = curate.retrain(_flat_linear(64), D["ts"], epochs=1, eval_sets={"old": (D["images"], D["labels"])})
    b = curate.retrain(_flat_linear(64), D["ts"], epochs=1, eval_sets={"old": (D["images"], D["labels"])})
    assert a.candidate_hash == b.candidate_hash


def _torchscript(path: Path) -> Path:
    with warnings.catch_warnings():  # torch's own deprecation notes about writing TorchScript
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(_flat_linear(64)), str(path))
    return path


def test_loading_torchscript_prints_no_deprecation_warning(tmp_path):
    from curakit.modelfile import load_model

    path = _torchscript(tmp_path / "lin.ts")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(str(path))
        warnings.warn("another FutureWarning still shows", FutureWarning, stacklevel=1)  # only that one is muted
    assert [str(w.message) for w in caught] == ["another FutureWarning still shows"]
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 2)


# -- the console script: one run per fix ---------------------------------------------------------
def _curakit(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("curakit")
    cmd = [str(exe), *argv] if exe.exists() else [sys.executable, "-m", "curakit", *argv]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def files(D, tmp_path_factory):
    from curakit.imageio import write_png

    folder = tmp_path_factory.mktemp("bad_input_g")
    for i, (img, lab) in enumerate(zip(D["images"], D["labels"])):
        (folder / "imgs" / str(lab)).mkdir(parents=True, exist_ok=True)
        write_png(folder / "imgs" / str(lab) / f"{i:03d}.png", img[..., 0])
    D["table"].assign(target=D["y_bc"]).to_csv(folder / "old.csv", index=False)
    D["ts"].save(folder / "ts_img")
    torch.save(_flat_linear(10), folder / "lin_whole.pt")
    _torchscript(folder / "lin.ts")
    return folder


def _one_error_line(p: subprocess.CompletedProcess, pattern: str) -> None:
    lines = [ln for ln in p.stderr.splitlines() if not ln.startswith(("INFO", "WARNING"))]
    assert p.returncode == 1, (p.returncode, p.stderr[-2000:])
    assert "Traceback" not in p.stderr and len(lines) == 1, p.stderr[-2000:]
    assert re.search(pattern, lines[0]), lines[0]


@pytest.mark.parametrize(("argv", "pattern"), [
    (("augment", "imgs", "--method", "vae", "--classes", "0", "--n", "2", "--device", "gpu", "--out", "a16"),
     r"^Error: device 'gpu' is not a torch device\. Use 'cpu' or 'cuda'"),
    (("augment", "old.csv", "--target-col", "target", "--classes", "0", "--n", "5", "--categorical", "nope",
      "--method", "smotenc", "--out", "a22"),
     r"^Error: categorical names 1 column\(s\) that X does not have: 'nope'\. X's columns: 'mean radius'"),
    (("augment", "imgs", "--method", "vae", "--classes", "0", "--n", "2", "--epochs", "0", "--out", "a40"),
     r"^Error: The 'epochs' parameter of augment\.generate must be an int in the range \[1, inf\)"),
    (("augment", "imgs", "--method", "vae", "--classes", "0", "--n", "2", "--latent-dim", "0", "--out", "a40b"),
     r"^Error: The 'latent_dim' parameter of augment\.generate must be an int in the range \[1, inf\)"),
    (("retrain", "ts_img", "--model", "lin_whole.pt", "--eval", "old=imgs", "--param", "epochs=1", "--out", "r41"),
     r"^Error: retrain, the training set: The model cannot run on inputs shaped \(8, 8, 1\)"),
], ids=["device-gpu", "smotenc-unknown-column", "epochs-0", "latent-dim-0", "retrain-shape"])
def test_console_script_refuses_in_one_line(files, argv, pattern):
    p = _curakit(*argv, cwd=files)
    _one_error_line(p, pattern)
    assert not (files / argv[argv.index("--out") + 1]).exists()


@_NO_GPU
def test_console_script_cuda_without_a_gpu(files):
    p = _curakit("augment", "imgs", "--method", "vae", "--classes", "0", "--n", "2", "--device", "cuda",
                 "--out", "a16b", cwd=files)
    _one_error_line(p, r"^Error: device 'cuda' asks for a GPU, but torch sees no CUDA device on this machine")


def test_console_script_torchscript_model_without_warning(files):
    p = _curakit("registry", "register", "reg5", "--model", "lin.ts", cwd=files)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "FutureWarning" not in p.stderr and "deprecated" not in p.stderr, p.stderr[-2000:]
