"""Real automatic database failover for tests (issue 18): etcd and two Patroni members started by
tooling/patroni.py. tests/conftest.py imports the fixture, so every test can ask for it by name.

- ``patroni_cluster`` (per test: a test kills members): a leader accepting writes with a streaming
  synchronous standby and the ``meibo`` database, before the test starts.

It always kills every member and etcd and removes the base directory when the test ends, passed or
failed; a failed test's Patroni and etcd logs are copied beside its tmp_path first.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg_fixtures import pg_base
from tooling.patroni import PatroniCluster, copy_logs, leftover_alive, start_cluster

_LIVE: list[PatroniCluster] = []


@atexit.register
def _remove_leftovers() -> None:
    for cluster in list(_LIVE):
        cluster.remove()


@pytest.fixture
def patroni_cluster(tmp_path: Path) -> Iterator[PatroniCluster]:
    with pg_base() as base:
        cluster = start_cluster(base)
        _LIVE.append(cluster)
        try:
            yield cluster
        finally:
            copy_logs(cluster, tmp_path / "patroni-logs")
            cluster.remove()
            _LIVE.remove(cluster)
            assert leftover_alive(cluster) == []
