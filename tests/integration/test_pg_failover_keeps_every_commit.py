"""The primary's machine dies mid-write (SIGKILL, no shutdown) and the standby is promoted by
hand (``pg_ctl promote``, docs/operations-pg.md): every commit that returned is there, and the
new primary takes writes, and a new synchronous standby. Real servers (tests/pg_fixtures.py)."""

from __future__ import annotations

import threading

import psycopg

from tests.pg_fixtures import PgPair
from tooling.pgcluster import multi_host_dsn, start_standby, wait_for

WAIT_S = 30.0
ACKED_BEFORE_KILL = 200


class Writer(threading.Thread):
    """Commits one row per transaction until the server goes away; ``acked`` holds the rows whose
    commit returned, ``tried`` every row it sent."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn = dsn
        self.acked: list[int] = []
        self.tried: list[int] = []
        self.enough = threading.Event()
        self.gone: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                for i in range(1, 1_000_000):
                    self.tried.append(i)
                    conn.execute("INSERT INTO checkin (id) VALUES (%s)", (i,))
                    self.acked.append(i)
                    if len(self.acked) >= ACKED_BEFORE_KILL:
                        self.enough.set()
        except psycopg.OperationalError as e:  # the primary was killed under us: expected
            self.gone = e
        finally:
            self.enough.set()


def _ids(dsn: str) -> set[int]:
    with psycopg.connect(dsn) as conn:
        return {int(r[0]) for r in conn.execute("SELECT id FROM checkin").fetchall()}


def test_sigkill_primary_promote_standby_keeps_every_acknowledged_row(pg_pair: PgPair) -> None:
    primary, standby = pg_pair.primary, pg_pair.standby
    with primary.connect() as conn:
        conn.execute("CREATE TABLE checkin (id int PRIMARY KEY)")
    writer = Writer(multi_host_dsn([primary, standby]))  # picks the primary: the standby is read-only
    writer.start()
    assert writer.enough.wait(WAIT_S)
    primary.kill()  # mid-ingest: the writer is between commits or inside one
    writer.join(WAIT_S)
    assert writer.gone is not None, "the writer should have lost its server"

    standby.promote()
    assert standby.is_primary()
    held = _ids(standby.dsn)
    assert set(writer.acked) <= held  # no commit that returned is lost
    assert held <= set(writer.tried)  # and nothing appears that was never sent
    assert len(held - set(writer.acked)) <= 1  # at most the one in flight at the kill

    # A client that names both nodes (libpq's multi-host form) now reaches the promoted one.
    with psycopg.connect(multi_host_dsn([primary, standby]), autocommit=True) as conn:
        conn.execute("INSERT INTO checkin (id) VALUES (0)")
    assert 0 in _ids(standby.dsn)


def test_promoted_standby_takes_a_new_synchronous_standby(pg_pair: PgPair) -> None:
    pg_pair.primary.kill()
    new_primary = pg_pair.standby
    new_primary.promote()
    new_primary.set_synchronous_standby("pg3")
    pg3 = start_standby(new_primary, pg_pair.base, "pg3")  # returns once pg3 streams as sync
    assert new_primary.replication() == {"pg3": ("streaming", "sync")}
    with new_primary.connect() as conn:
        conn.execute("CREATE TABLE after_failover (id int)")
        conn.execute("INSERT INTO after_failover VALUES (1)")
    wait_for("pg3 の再生", pg3.replayed_all_received, WAIT_S)
    with pg3.connect() as conn:
        assert conn.execute("SELECT id FROM after_failover").fetchall() == [(1,)]
