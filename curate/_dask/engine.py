"""Engine selection: pandas when the data is pandas, Dask when it is Dask.

:func:`open_engine` is what ``curakit build --scheduler ADDRESS --workers N`` and recipes'
``engine: dask`` call: it connects to a running scheduler (``scheduler=`` or the
``DASK_SCHEDULER_ADDRESS`` variable) or starts a ``distributed.LocalCluster`` of ``workers``
processes, and closes only what it started. Its ``storage_options`` are the fsspec options (s3fs:
``key``, ``secret``, ``endpoint_url``, ...) of object-storage URLs (``s3://``, ``gs://``, ...) read
or written while it is open (:mod:`curate._dask.objectstore`).
"""

from __future__ import annotations

import contextlib
import contextvars
import numbers
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from curakit.exceptions import ParameterError
from curakit.optional import import_optional

__all__ = ["ENGINES", "Engine", "default_storage_options", "is_dask_collection", "open_engine"]

ENGINES = ("auto", "pandas", "dask")
ENV_ADDRESS = "DASK_SCHEDULER_ADDRESS"
_STORAGE_OPTIONS: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "curakit_storage_options", default=None)


def default_storage_options() -> dict[str, Any] | None:
    """The fsspec options of the innermost open :func:`open_engine` (None outside one)."""
    options = _STORAGE_OPTIONS.get()
    return None if options is None else dict(options)


@dataclass(frozen=True)
class Engine:
    """The engine a build runs on.

    name : ``"pandas"`` or ``"dask"``.
    client : the ``distributed.Client`` (Dask) or None (pandas).
    address : the scheduler address (Dask) or None.
    started_cluster : True when :func:`open_engine` started a LocalCluster (closed on exit).
    storage_options : the fsspec options of object-storage URLs while the engine is open, or None.
    """

    name: str
    client: Any = None
    address: str | None = None
    started_cluster: bool = False
    storage_options: dict[str, Any] | None = None

    @property
    def dashboard_link(self) -> str | None:
        """The Dask dashboard URL, when the scheduler serves one."""
        if self.client is None:
            return None
        try:
            return self.client.dashboard_link
        except Exception:  # pragma: no cover - a scheduler without a dashboard
            return None


def is_dask_collection(obj: Any) -> bool:
    """True for a Dask DataFrame / Series, decided without importing Dask."""
    return type(obj).__module__.split(".", 1)[0] == "dask" and hasattr(obj, "npartitions")


def _check_workers(workers: Any) -> int | None:
    if workers is None:
        return None
    if not isinstance(workers, numbers.Integral) or isinstance(workers, bool) or workers < 1:
        raise ParameterError(f"The 'workers' parameter of open_engine must be an int in the range [1, inf). Got {workers!r} instead.")
    return int(workers)


@contextlib.contextmanager
def open_engine(
    engine: str = "auto",
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    memory_limit: str | int | None = "auto",
    timeout: str = "20s",
    storage_options: dict[str, Any] | None = None,
    cluster_log_level: str = "warning",
) -> Iterator[Engine]:
    """Choose and open the engine of a build; a context manager yielding an :class:`Engine`.

    - ``engine="pandas"``: no Dask (``scheduler=`` / ``workers=`` are then an error).
    - ``engine="dask"``: connect a ``distributed.Client`` to ``scheduler`` (an address such as
      ``"tcp://10.0.0.5:8786"``), else to ``$DASK_SCHEDULER_ADDRESS``, else start a
      ``LocalCluster(n_workers=workers or 2, threads_per_worker, memory_limit, processes=True)``.
    - ``engine="auto"``: Dask when ``scheduler``, ``workers`` or ``$DASK_SCHEDULER_ADDRESS`` is
      given, else pandas (``TrainingSetBuilder`` also picks Dask by itself for Dask inputs).

    While open, the client is Dask's default, so Dask inputs given to ``TrainingSetBuilder``
    compute on it. An address that does not answer within ``timeout`` is a one-line
    :class:`~curakit.exceptions.ParameterError`. On exit the client is closed, and the cluster too when this call started it.

    ``storage_options`` (a dict of fsspec options, such as ``{"endpoint_url": "http://minio:9000"}``
    for s3fs) apply, while the engine is open, to the object-storage URLs given as
    ``TrainingSetBuilder`` inputs (``"s3://bucket/old/"``; always read on Dask, with any engine) and to
    ``DaskTrainingSet.save`` / ``load`` / ``TrainingSet.load`` of a URL, unless those get their own.
    They travel to the workers inside the task graph; without them the filesystem's own environment
    chain applies (s3: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_ENDPOINT_URL``), on
    the client and on every worker.

    ``cluster_log_level``: the level from which a local cluster this call starts prints its own log
    lines (scheduler, nannies, workers; Dask's default ``"warning"``). The CLI passes ``"error"``: a
    task that fails is then reported once, as the command's one-line error, not also as a worker's
    "Compute Failed ... Traceback" warning.
    """
    from curakit.validation import check_choice

    from .objectstore import check_options

    check_choice(cluster_log_level, "cluster_log_level", "open_engine", ("debug", "info", "warning", "error", "critical"))

    options = check_options(storage_options, "open_engine")
    token = _STORAGE_OPTIONS.set(options if options is not None else _STORAGE_OPTIONS.get())
    try:
        with _open(engine, scheduler, workers, threads_per_worker, memory_limit, timeout, cluster_log_level) as opened:
            yield opened if options is None else replace(opened, storage_options=options)
    finally:
        _STORAGE_OPTIONS.reset(token)


@contextlib.contextmanager
def _open(engine: str, scheduler: str | None, workers: Any, threads_per_worker: int, memory_limit: Any,
          timeout: str, log_level: str = "warning") -> Iterator[Engine]:
    if engine not in ENGINES:
        raise ParameterError(f"The 'engine' parameter of open_engine must be one of {list(ENGINES)}. Got {engine!r} instead.")
    workers = _check_workers(workers)
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler):
        raise ParameterError(f"The 'scheduler' parameter of open_engine must be an address such as 'tcp://host:8786'. Got {scheduler!r} instead.")
    if scheduler is not None and workers is not None:
        raise ParameterError("open_engine takes scheduler= (a running cluster) or workers= (a local one), not both.")
    address = scheduler or os.environ.get(ENV_ADDRESS) or None
    if engine == "pandas":
        if scheduler is not None or workers is not None:
            raise ParameterError("open_engine(engine='pandas') takes no scheduler= or workers=. Pass engine='dask'.")
        yield Engine("pandas")
        return
    if engine == "auto" and address is None and workers is None:
        yield Engine("pandas")
        return
    distributed = import_optional("distributed")
    cluster = None
    if address is None:
        cluster = distributed.LocalCluster(
            n_workers=workers or 2, threads_per_worker=threads_per_worker, memory_limit=memory_limit,
            processes=True, dashboard_address=":0", silence_logs=log_level.upper(),
        )
        address = cluster.scheduler_address
    try:
        client = distributed.Client(address, set_as_default=True, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise ParameterError(f"Cannot reach the Dask scheduler at {address!r} ({type(exc).__name__}). "
                        "Check the address, or pass workers= for a local cluster.") from None
    try:
        yield Engine("dask", client=client, address=address, started_cluster=cluster is not None)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
