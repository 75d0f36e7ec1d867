"""Fixtures shared by the curate tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def client():
    """A real two-process LocalCluster (small memory limits) for the Dask build tests of one module."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="600MB",
                                       dashboard_address=None)
    c = distributed.Client(cluster, set_as_default=True)
    yield c
    c.close()
    cluster.close()
