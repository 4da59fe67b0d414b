"""A backup of HQ's PostgreSQL database (``pg_dump -Fc``) restored into a fresh server
(``pg_restore``) gives the same rows, and its sequences go on where they were. Real servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.pg_fixtures import PgServer, running_primary
from tooling.pgcluster import PgNode

ROWS = [
    (f"V{i:05d}", f"選挙人 {i}", bytes([i % 256]) * 8, '{"station": %d}' % (i % 7))
    for i in range(1, 501)
]
SELECT = "SELECT voter_id, name, sig, extra::text, at FROM flag ORDER BY seq"


@pytest.fixture
def fresh_server() -> Iterator[PgNode]:
    with running_primary("restored") as node:
        yield node


def test_dump_and_restore_into_fresh_server_give_same_rows(pg_server: PgServer, fresh_server: PgNode,
                                                           tmp_path: Path) -> None:
    source = pg_server.fresh_database()
    with psycopg.connect(source) as conn:
        conn.execute("CREATE TABLE flag (seq bigserial PRIMARY KEY, voter_id text UNIQUE NOT NULL, "
                     "name text NOT NULL, sig bytea NOT NULL, extra jsonb NOT NULL, "
                     "at timestamptz NOT NULL DEFAULT '2026-12-03 08:30:00+09')")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO flag (voter_id, name, sig, extra) VALUES (%s, %s, %s, %s)", ROWS)
        before = conn.execute(SELECT).fetchall()
    dump = tmp_path / "hq.dump"
    pg_server.node.dump(dump, str(conninfo_to_dict(source)["dbname"]))

    fresh_server.restore(dump)
    with fresh_server.connect() as conn:
        assert conn.execute(SELECT).fetchall() == before
        nxt = conn.execute("INSERT INTO flag (voter_id, name, sig, extra) "
                           "VALUES ('V99999', '新規', '\\x00', '{}') RETURNING seq").fetchone()
    assert nxt == (len(ROWS) + 1,)  # the sequence came along: no seq is handed out twice
    assert len(before) == len(ROWS)
