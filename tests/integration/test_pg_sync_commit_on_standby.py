"""A commit on the primary returns only once its synchronous standby has it (``synchronous_commit
= on``, ``synchronous_standby_names = "pg2"``): the rule issue 18's HQ stands on, that an ACK,
a verdict or a FLAGS frame leaves only what two machines hold. Real servers (tests/pg_fixtures.py).
"""

from __future__ import annotations

import threading

import psycopg

from tests.pg_fixtures import PgPair
from tooling.pgcluster import PgNode, wait_for

WAIT_S = 30.0


def _rows(node: PgNode) -> list[tuple[object, ...]]:
    with node.connect() as conn:
        return conn.execute("SELECT id, name FROM voter ORDER BY id").fetchall()


def _make_table(pair: PgPair) -> None:
    with pair.primary.connect() as conn:
        conn.execute("CREATE TABLE voter (id int PRIMARY KEY, name text NOT NULL)")


def test_standby_streams_as_synchronous(pg_pair: PgPair) -> None:
    assert pg_pair.primary.replication() == {"pg2": ("streaming", "sync")}
    assert pg_pair.primary.is_primary()
    assert not pg_pair.standby.is_primary()


def test_committed_row_is_on_standby_when_commit_returns(pg_pair: PgPair) -> None:
    _make_table(pg_pair)
    with pg_pair.primary.connect() as conn:
        conn.execute("INSERT INTO voter VALUES (1, '山田 太郎')")  # autocommit: returns after the commit
    # The primary dies the moment the commit returned: nothing more reaches the standby, and
    # the row must already be there. The standby only has to apply what it has flushed.
    pg_pair.primary.kill()
    wait_for("pg2 の再生", pg_pair.standby.replayed_all_received, WAIT_S)
    assert _rows(pg_pair.standby) == [(1, "山田 太郎")]


def test_commit_waits_while_the_standby_is_away(pg_pair: PgPair) -> None:
    _make_table(pg_pair)
    pg_pair.standby.stop()
    done = threading.Event()
    errors: list[BaseException] = []

    def commit() -> None:
        try:
            with psycopg.connect(pg_pair.primary.dsn, autocommit=True) as conn:
                conn.execute("INSERT INTO voter VALUES (2, '鈴木 花子')")
        except BaseException as e:  # reported by the test thread below
            errors.append(e)
        finally:
            done.set()

    writer = threading.Thread(target=commit, daemon=True)
    writer.start()

    def waits_for_standby() -> bool:
        with pg_pair.primary.connect() as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'").fetchone()
        return bool(row and row[0] == 1)

    wait_for("SyncRep 待ち", waits_for_standby, WAIT_S)  # the server says the commit is held
    assert not done.is_set()

    pg_pair.standby.start()
    assert done.wait(WAIT_S), "the commit did not return once the standby was back"
    writer.join(WAIT_S)
    assert errors == []
    wait_for("pg2 の再生", pg_pair.standby.replayed_all_received, WAIT_S)
    assert _rows(pg_pair.standby) == [(2, "鈴木 花子")]
    assert pg_pair.primary.replication()["pg2"] == ("streaming", "sync")
