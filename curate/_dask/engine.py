"""Engine selection: pandas when the data is pandas, Dask when it is Dask.

:func:`open_engine` is what ``curakit build --scheduler ADDRESS --workers N`` and recipes'
``engine: dask`` call: it connects to a running scheduler (``scheduler=`` or the
``DASK_SCHEDULER_ADDRESS`` variable) or starts a ``distributed.LocalCluster`` of ``workers``
processes, and closes only what it started.
"""

from __future__ import annotations

import contextlib
import numbers
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from curakit.exceptions import ParameterError
from curakit.optional import import_optional

__all__ = ["ENGINES", "Engine", "is_dask_collection", "open_engine"]

ENGINES = ("auto", "pandas", "dask")
ENV_ADDRESS = "DASK_SCHEDULER_ADDRESS"


@dataclass(frozen=True)
class Engine:
    """The engine a build runs on.

    name : ``"pandas"`` or ``"dask"``.
    client : the ``distributed.Client`` (Dask) or None (pandas).
    address : the scheduler address (Dask) or None.
    started_cluster : True when :func:`open_engine` started a LocalCluster (closed on exit).
    """

    name: str
    client: Any = None
    address: str | None = None
    started_cluster: bool = False

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
    """
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
            processes=True, dashboard_address=":0",
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
