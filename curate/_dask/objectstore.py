"""Object storage (``s3://``, ``gs://``, ``abfs://``, any fsspec URL) for the Dask engine.

On a real cluster the workers do not share the client's disk, so inputs and saved training sets
live in object storage. This module opens such URLs through fsspec (``s3fs``, ``gcsfs``,
``adlfs``), turns their failures into one-line curakit errors, and saves training sets with a
commit protocol, since object stores have no atomic rename of a folder.

Credentials and endpoint: ``storage_options`` (passed as fsspec passes them, e.g. ``{"key": ...,
"secret": ..., "endpoint_url": ...}`` for s3fs), else the default set by
``curate.open_engine(storage_options=...)``, else the filesystem's own environment chain (for s3:
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_ENDPOINT_URL`` / ``~/.aws``). Explicit
options travel inside the task graph to the workers (so a secret given there is visible in the
graph); options from the environment must be set on every worker.

Commit protocol of a saved set at ``URL`` (one writer per ``URL`` at a time)::

    URL/
      training_set.json                 the commit record: the set's metadata + "version": "v-..."
      v-20261203T184000123456Z-1a2b3c4d/  one version: every file of one save
        data.parquet/part.000000.parquet, ...
        manifest.parquet/part.000000.parquet, ...

1. ``save`` writes every data and manifest file under a fresh version prefix ``v-<UTC time>-<random>``
   (nothing of an earlier version is touched), then reads the written files back on the workers
   to digest them;
2. it then writes the one small object ``URL/training_set.json`` naming that version: this single
   PUT is the commit (object stores replace one object atomically and, as S3, GCS and Azure Blob
   do today, read it back consistently);
3. after the commit, version prefixes older than the committed one are deleted (best effort: a
   failure there leaves garbage, never a broken set; the next save deletes it).

``load`` reads ``training_set.json`` first and then only the version it names, so a save that
dies before its commit (a failed worker task, a killed client) leaves the earlier set readable and
intact; its half-written prefix is deleted by the failed save itself when it can, else by the next
successful save. A bucket is never created (that is the user's decision), and a ``URL`` holding
objects curakit did not write is refused.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from curakit.exceptions import DataError, MissingDependencyError, ParameterError

__all__ = ["COMMIT_FILE", "is_url", "open_url", "read_commit", "storage_errors", "url_files", "write_commit"]

COMMIT_FILE = "training_set.json"
_VERSION = re.compile(r"^v-\d{8}T\d{12}Z-[0-9a-f]{8}$")
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "abfs": "adlfs", "az": "adlfs", "abfss": "adlfs"}


def is_url(obj: Any) -> bool:
    """True for a string with a protocol other than ``file://`` (``s3://bucket/key``, ``gs://...``)."""
    if not isinstance(obj, str):
        return False
    m = _URL.match(obj)
    return m is not None and m.group(1).lower() not in ("file", "local")


def local_path(obj: Any) -> Any:
    """``file:///x`` as ``/x``; anything else unchanged."""
    if isinstance(obj, str) and obj.lower().startswith("file://"):
        return obj[len("file://"):]
    return obj


def check_options(options: Any, owner: str) -> dict[str, Any] | None:
    if options is None:
        return None
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise ParameterError(f"The 'storage_options' parameter of {owner} must be a dict of fsspec options "
                             f"(such as {{'endpoint_url': ...}}). Got a {type(options).__name__} instead.")
    return dict(options)


def _reason(exc: BaseException) -> tuple[str, str] | None:
    """(what went wrong, the fix) for a storage failure, or None when ``exc`` is not one."""
    names = {c.__name__ for c in type(exc).__mro__}
    if names & {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}:
        return ("no credentials were found",
                "Set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or your store's variables) on the client and the "
                "workers, or pass storage_options with key/secret")
    if names & {"EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError", "ServerTimeoutError",
                "ConnectionError", "ConnectionRefusedError", "TimeoutError"}:
        return ("the storage endpoint does not answer",
                "Check the endpoint_url storage option (or AWS_ENDPOINT_URL) and that the store is reachable")
    if isinstance(exc, PermissionError):
        return ("access was denied", "Check the credentials and the bucket's permissions")
    if isinstance(exc, FileNotFoundError):
        return ("no such bucket or object", "Check the URL; a bucket must exist before curakit reads or writes it")
    if names & {"ClientError", "NoSuchBucket", "InvalidBucketName", "ParamValidationError"}:
        return ("the store refused the request", "Check the URL and the storage options")
    return None


@contextlib.contextmanager
def storage_errors(url: str, what: str) -> Iterator[None]:
    """Turn a storage failure under this block into a one-line :class:`DataError` naming ``what``/``url``."""
    try:
        yield
    except (DataError, ParameterError, MissingDependencyError):
        raise
    except Exception as exc:
        reason = _reason(exc)
        if reason is None:
            raise
        raise DataError(f"{what} {url!r}: {reason[0]} ({type(exc).__name__}). {reason[1]}.") from None


def open_url(url: str, what: str, options: dict[str, Any] | None) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) of ``url``; a one-line error for an unknown protocol or a
    missing filesystem package."""
    import_optional_fsspec()
    import fsspec

    protocol = _URL.match(url).group(1).lower()
    try:
        return fsspec.core.url_to_fs(url, **(options or {}))
    except ImportError:
        package = _PACKAGES.get(protocol, f"the fsspec package for {protocol}://")
        raise MissingDependencyError(f"{what} {url!r} needs {package} to be read or written. Install it with: "
                                     f"pip install {package}.") from None
    except ValueError as exc:
        if "protocol" in str(exc).lower():
            raise ParameterError(f"{what} {url!r} has an unknown protocol {protocol + '://'!r}. Use a local path or "
                                 "an fsspec URL such as s3://bucket/key, gs://bucket/key or abfs://container/key.") from None
        raise ParameterError(f"{what} {url!r} is not a usable URL ({type(exc).__name__}). Check its spelling.") from None
    except TypeError as exc:
        raise ParameterError(f"{what} {url!r}: the storage options are not accepted by its filesystem ({exc}). "
                             "Pass only options that filesystem takes.") from None


def import_optional_fsspec() -> None:
    from curakit.optional import import_optional

    import_optional("fsspec")


def check_bucket(fs: Any, root: str, url: str, what: str) -> None:
    """Refuse a URL whose bucket (its first path part) does not exist; a one-line error."""
    bucket = root.strip("/").split("/", 1)[0]
    with storage_errors(url, what):
        if fs.exists(bucket):
            return
    raise DataError(f"{what} {url!r}: the bucket {bucket!r} does not exist (or these credentials cannot see it). "
                    "Create it first, or check the URL.")


def require_exists(fs: Any, root: str, url: str, what: str) -> None:
    """Refuse a missing input URL (naming a missing bucket apart from a missing prefix)."""
    with storage_errors(url, what):
        found = fs.exists(root)
    if not found:
        check_bucket(fs, root, url, what)
        raise DataError(f"{what} {url!r} does not exist (no object under it). Pass the URL of a Parquet file or "
                        "of a folder (prefix) of Parquet files.")


def new_version() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"v-{stamp}-{uuid.uuid4().hex[:8]}"


def _children(fs: Any, root: str, url: str, what: str) -> list[str]:
    with storage_errors(url, what):
        fs.invalidate_cache(root)
        if not fs.exists(root):
            return []
        return [str(p).rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)]


def check_destination(fs: Any, root: str, url: str) -> list[str]:
    """Before a save: the bucket exists and ``url`` is empty or an earlier save (committed or not);
    returns the version prefixes already there."""
    what = "Training set destination"
    check_bucket(fs, root, url, what)
    names = _children(fs, root, url, what)
    if COMMIT_FILE in names:
        read_commit(fs, root, url)  # refuses a training_set.json curakit did not commit here
    foreign = [n for n in names if n != COMMIT_FILE and not _VERSION.match(n)]
    if foreign:
        raise DataError(f"{what} {url!r} already holds objects that curakit did not write ({len(foreign)} "
                        "name(s)); they would be mixed with the set. Choose a new or empty prefix.")
    return [n for n in names if _VERSION.match(n)]


def read_commit(fs: Any, root: str, url: str) -> dict[str, Any]:
    """The commit record of the set saved at ``url`` (its metadata and committed ``version``)."""
    what = "Training set"
    path = f"{root.rstrip('/')}/{COMMIT_FILE}"
    with storage_errors(url, what):
        if not fs.exists(path):
            if not fs.exists(root):
                check_bucket(fs, root, url, what)
            raise DataError(f"{what} {url!r} holds no committed training set (no {COMMIT_FILE}). Pass a URL "
                            "written by DaskTrainingSet.save (an interrupted first save commits nothing).")
        raw = fs.cat_file(path)
    try:
        meta = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"{what} {url!r}: its {COMMIT_FILE} is not valid JSON. Save the set again.") from None
    if not isinstance(meta, dict) or not _VERSION.match(str(meta.get("version", ""))):
        raise DataError(f"{what} {url!r}: its {COMMIT_FILE} was not committed by a curakit object-store save "
                        "(no version). Pass a URL written by DaskTrainingSet.save, or a new prefix to save into.")
    return meta


def write_commit(fs: Any, root: str, url: str, meta: dict[str, Any]) -> None:
    """The commit: one PUT of ``training_set.json`` naming ``meta["version"]``."""
    body = json.dumps(meta, indent=2, sort_keys=True, default=str).encode()
    with storage_errors(url, "Training set destination"):
        fs.pipe_file(f"{root.rstrip('/')}/{COMMIT_FILE}", body)


def committed_version(fs: Any, root: str) -> str | None:
    """The version the commit record names now, or None (unreadable or none)."""
    try:
        return json.loads(fs.cat_file(f"{root.rstrip('/')}/{COMMIT_FILE}")).get("version")
    except Exception:  # noqa: BLE001 - a question, not a read the caller relies on
        return None


def remove_versions(fs: Any, root: str, names: list[str]) -> None:
    """Delete version prefixes (best effort: garbage left here never breaks the committed set)."""
    for name in names:
        with contextlib.suppress(Exception):  # cleanup only; the next save retries
            fs.rm(f"{root.rstrip('/')}/{name}", recursive=True)
    with contextlib.suppress(Exception):
        fs.invalidate_cache(root)


def list_versions(fs: Any, root: str) -> list[str]:
    """The version prefixes under ``root`` now ([] when they cannot be listed: cleanup is best effort)."""
    try:
        fs.invalidate_cache(root)
        return [n for n in (str(p).rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)) if _VERSION.match(n)]
    except Exception:  # noqa: BLE001 - after the commit nothing may fail the save
        return []


def stale_versions(existing: list[str], committed: str) -> list[str]:
    """The version prefixes a save committing ``committed`` deletes: those older than it (a later
    one may belong to a save still running elsewhere)."""
    return sorted(n for n in existing if n < committed)


def url_files(fs: Any, root: str, url: str, version: str) -> list[tuple[str, str]]:
    """(data URL, manifest URL) pairs of one committed version, in partition order."""
    base = f"{root.rstrip('/')}/{version}"
    with storage_errors(url, "Training set"):
        fs.invalidate_cache(base)
        data = sorted(fs.glob(f"{base}/data.parquet/part.*.parquet"))
        man = sorted(fs.glob(f"{base}/manifest.parquet/part.*.parquet"))
    if [p.rsplit("/", 1)[-1] for p in data] != [p.rsplit("/", 1)[-1] for p in man] or not data:
        raise DataError(f"Training set {url!r} has data and manifest files that do not pair up (version {version}). "
                        "Save it again.")
    return [(fs.unstrip_protocol(a), fs.unstrip_protocol(b)) for a, b in zip(data, man)]
