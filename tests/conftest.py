"""Fixtures every test directory can use. The PC/SC ones own the private pcscd and its two vpcd
slots (tests/pcsc_fixtures.py): each card test starts with empty slots and cannot leave a card
behind for the next one."""

import pytest

from tests.pcsc_fixtures import _pcscd_process, pcsc_reader, pcscd_service, virtual_card  # noqa: F401
from tests.pg_fixtures import pg_database, pg_pair, pg_server  # noqa: F401  (real PostgreSQL servers)
from tests.patroni_fixtures import patroni_cluster  # noqa: F401  (etcd + two Patroni members)


@pytest.fixture(autouse=True)
def _head_records(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test keeps its stores' head records (appliance/freshness.py) in its own directory,
    never in the user's ~/.local/state; subprocesses inherit it through the environment."""
    monkeypatch.setenv("MEIBO_HEAD_DIR", str(tmp_path_factory.mktemp("heads")))
