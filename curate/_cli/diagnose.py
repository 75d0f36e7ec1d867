"""``curakit diagnose``: find weak slices from files of predictions, features and embeddings.

Inputs
------
PREDICTIONS  Parquet (``.parquet``/``.pq``) or CSV with columns ``y_true``, ``y_pred`` (names
             changeable with ``--y-true-col`` / ``--y-pred-col``) and optional ``proba_<class>``
             columns (class probabilities, in file order).
--features   Parquet/CSV with one row per prediction (rule slices; embedded for clusters when
             no ``--embeddings`` is given). Passing the PREDICTIONS file again uses its other
             columns (everything but the label, prediction and ``proba_*`` columns).
--embeddings ``.npy`` array (n, d), one row per prediction (cluster slices).
--train-features / --train-embeddings: the training rows, for under-representation.

Images are not read by this command: embed them in Python with
``np.save("emb.npy", diagnose.embed(model, images))`` and pass ``--embeddings emb.npy``.

Outputs (in ``--out``; each file written atomically, nothing written if the run fails):
``diagnosis.json`` (``diagnose.Diagnosis.load``), ``report.html`` (self-contained) and
``slices.csv`` (one row per slice). A short table of the top slices is printed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from diagnose._exceptions import DataError, ParameterError
from diagnose._io import read_table

__all__ = ["add_parser", "run"]


def _read_npy(path: str, what: str) -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, "No such file", str(p))
    if p.suffix.lower() != ".npy":
        raise DataError(f"{what} file {p.name!r} must be a .npy array saved with numpy.save. Got {p.suffix!r} instead.")
    try:
        return np.load(p, allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{what} file {p.name!r} is not a plain numeric .npy array ({exc}). Save it with numpy.save.") from exc


def _parse_options(items: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        method, dot, name = key.partition(".")
        if not sep or not dot or not method or not name:
            raise ParameterError(
                f"--set expects METHOD.OPTION=VALUE (for example clusters.min_cluster_size=20). Got {item!r} instead."
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(method, {})[name] = value
    return out


def run(args: argparse.Namespace) -> int:
    import diagnose

    preds = read_table(args.predictions, "predictions")
    for col, flag in ((args.y_true_col, "--y-true-col"), (args.y_pred_col, "--y-pred-col")):
        if col not in preds.columns:
            raise DataError(
                f"The predictions file has no column {col!r} ({preds.shape[1]} columns). "
                f"Name the column with {flag}."
            )
    proba_cols = [c for c in preds.columns if str(c).startswith("proba_")]
    own = {args.y_true_col, args.y_pred_col, *proba_cols}
    features = train_features = None
    if args.features:
        if Path(args.features).resolve() == Path(args.predictions).resolve():
            features = preds.drop(columns=list(own))
            if features.shape[1] == 0:
                raise DataError(
                    "The predictions file has no columns besides the labels, predictions and proba_* columns, "
                    "so it holds no features. Pass a separate --features file."
                )
        else:
            features = read_table(args.features, "features")
    if args.train_features:
        train_features = read_table(args.train_features, "train features")
        # a training file in the predictions layout: drop its label / prediction / proba columns
        drop = [c for c in train_features.columns if c in own and (features is None or c not in features.columns)]
        train_features = train_features.drop(columns=drop)
    embeddings = _read_npy(args.embeddings, "embeddings") if args.embeddings else None
    train_embeddings = _read_npy(args.train_embeddings, "train embeddings") if args.train_embeddings else None
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    options = _parse_options(args.set or [])

    d = diagnose.find_slices(
        preds[args.y_true_col].to_numpy(),
        preds[args.y_pred_col].to_numpy(),
        proba=preds[proba_cols].to_numpy(dtype=np.float64) if proba_cols else None,
        features=features,
        embeddings=embeddings,
        train_features=train_features,
        train_embeddings=train_embeddings,
        methods=methods,
        random_state=args.random_state,
        **options,
    )
    html = d.to_html(title=args.title)
    frame = d.to_frame()

    from diagnose._io import atomic_write_text

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "slices.csv", frame.to_csv(index=False))
    atomic_write_text(out / "report.html", html)
    d.save(out / "diagnosis.json")

    print(
        f"{d.n_analysed} rows, baseline error {d.baseline_error_rate:.3f}, methods: {', '.join(d.methods)}; "
        f"{len(d.slices)} slice(s)."
    )
    if len(frame):
        shown = frame.head(args.top)[["rank", "method", "size", "error_rate", "lift", "description"]].copy()
        shown["description"] = shown["description"].str.slice(0, 70)
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"Wrote {out / 'diagnosis.json'}, {out / 'report.html'} and {out / 'slices.csv'}.")
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "diagnose",
        help="find weak slices from files of predictions, features and embeddings",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("predictions", help="Parquet/CSV with y_true, y_pred and optional proba_* columns")
    p.add_argument("--out", required=True, help="output folder (diagnosis.json, report.html, slices.csv)")
    p.add_argument("--features", help="Parquet/CSV of features, one row per prediction (or the predictions file)")
    p.add_argument("--embeddings", help=".npy embeddings (n, d), one row per prediction")
    p.add_argument("--train-features", help="Parquet/CSV of the training rows' features")
    p.add_argument("--train-embeddings", help=".npy embeddings of the training rows")
    p.add_argument("--methods", help="comma-separated methods (default: all the inputs allow)")
    p.add_argument(
        "--set",
        action="append",
        metavar="METHOD.OPTION=VALUE",
        help="a method option, e.g. clusters.min_cluster_size=20 (repeatable; VALUE parsed as JSON)",
    )
    p.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    p.add_argument("--y-true-col", default="y_true", help="label column (default y_true)")
    p.add_argument("--y-pred-col", default="y_pred", help="prediction column (default y_pred)")
    p.add_argument("--top", type=int, default=10, help="slices shown in the printed table (default 10)")
    p.add_argument("--title", default="curakit diagnosis", help="report title")
    p.set_defaults(func=run)
    return p
