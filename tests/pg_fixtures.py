"""Real PostgreSQL for tests: servers started from Debian's binaries by tooling/pgcluster.py.

tests/conftest.py imports the fixtures, so every test can ask for them by name; import the
types (``PgServer``, ``PgPair``) from here.

- ``pg_server`` (one per test module): a primary, no standby. Its ``fresh_database()`` gives a
  new empty database's DSN, so tests sharing the server never see each other's rows.
- ``pg_database`` (per test): the DSN of a fresh database on the module's ``pg_server``.
- ``pg_pair`` (per test: a test may kill or promote either node): a primary ``pg1`` whose
  synchronous standby is ``pg2``, streaming as ``sync`` before the test starts.
- ``pg_base()`` and ``running_primary()``: the same as context managers, for a test that needs
  servers of its own (a fresh server to restore into, a third node).

Every fixture stops its servers and removes their directories when the test (or module) ends,
passed or failed (``remove_base`` kills whatever still runs there). When PostgreSQL is not
installed the tests fail with the hint rather than skip: ``make install`` installs it, and a
skip would let a machine without it pass.
"""

from __future__ import annotations

import atexit
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tooling.pgcluster import (PgNode, PostgresqlMissing, new_base, pg_bin_dir, remove_base, start_primary,
                               start_standby)


@dataclass
class PgServer:
    """One primary for a test module; ``fresh_database()`` isolates the tests on it."""

    node: PgNode
    base: Path
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def dsn(self) -> str:
        """The ``meibo`` database's DSN (shared by the module's tests: prefer a fresh one)."""
        return self.node.dsn

    def fresh_database(self) -> str:
        """A new empty database on the server; its DSN."""
        return self.node.create_database(f"t{next(self._names)}")


@dataclass(frozen=True)
class PgPair:
    """A primary and its synchronous standby, and the base directory both live in."""

    primary: PgNode
    standby: PgNode
    base: Path


# Bases not yet removed: a run that ends without tearing down (Ctrl-C twice, an internal error)
# still removes them at exit. A SIGKILLed pytest leaves none either: each base's watchdog
# (tooling/lifeline.py, started by new_base) removes it when pytest is gone.
_LIVE: set[Path] = set()


@atexit.register
def _remove_leftovers() -> None:
    for base in list(_LIVE):
        _remove_base(base)


def _remove_base(base: Path) -> None:
    remove_base(base)
    _LIVE.discard(base)


@contextmanager
def pg_base() -> Iterator[Path]:
    """A base directory for servers (tooling/pgcluster.py's ``new_base``), removed on the way out
    with every server still running in it."""
    try:
        pg_bin_dir()
    except PostgresqlMissing as e:
        pytest.fail(f"{e.message} ({e.code})", pytrace=False)
    base = new_base()
    _LIVE.add(base)
    try:
        yield base
    finally:
        _remove_base(base)


@contextmanager
def running_primary(name: str = "pg1") -> Iterator[PgNode]:
    """A primary of its own for one test (e.g. the fresh server a backup is restored into)."""
    with pg_base() as base:
        yield start_primary(base, name)


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PgServer]:
    with pg_base() as base:
        yield PgServer(start_primary(base, "pg1"), base)


@pytest.fixture
def pg_database(pg_server: PgServer) -> str:
    return pg_server.fresh_database()


@pytest.fixture
def pg_pair() -> Iterator[PgPair]:
    with pg_base() as base:
        primary = start_primary(base, "pg1", synchronous_standby="pg2")
        yield PgPair(primary, start_standby(primary, base, "pg2"), base)
