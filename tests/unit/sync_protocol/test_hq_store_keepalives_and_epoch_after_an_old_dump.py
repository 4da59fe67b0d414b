"""HQ's own PostgreSQL connections (the store's and the shared files') carry the same TCP
keepalives as the lead lock (store_pg.py ``KEEPALIVES``), and a claim never hands out an epoch
at or below one this node has seen: a DBA's plain ``pg_restore`` of an old dump puts an older
leadership row back (docs/backup-pg.md), and the node that led after the dump must still be
fenced by the next claim. Real PostgreSQL (tests/pg_fixtures.py), one server for the module."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest

from hq.store import EPOCH_FILE, HqStore
from hq.store_db import Fenced
from hq.store_pg import KEEPALIVES, PgFileRows, PgHqDb
from tests.integration.sync_env import make_env
from tests.pg_fixtures import PgServer


def _tcp_dsn(pg_server: PgServer, dsn: str) -> str:
    """The same database over TCP to 127.0.0.1 (keepalives apply to TCP only, not the socket)."""
    dbname = dsn.split("dbname=")[1].split()[0]
    return f"host=127.0.0.1 port={pg_server.node.port} dbname={dbname} user={dsn.split('user=')[1].split()[0]}"


def _sockopts(c: psycopg.Connection) -> dict[str, int]:  # type: ignore[type-arg]
    s = socket.socket(fileno=socket.dup(c.pgconn.socket))
    try:
        return {"keepalives": s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                "keepalives_idle": s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                "keepalives_interval": s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                "keepalives_count": s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
                "tcp_user_timeout": s.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)}
    finally:
        s.close()


def test_the_store_and_the_shared_files_connections_carry_keepalives(pg_server: PgServer) -> None:
    dsn = _tcp_dsn(pg_server, pg_server.fresh_database())
    db = PgHqDb(dsn)
    files = PgFileRows(dsn)
    try:
        db.leader()
        with files.locked() as tx:
            tx.heads()
        assert db._c is not None and files._c is not None
        assert _sockopts(db._c) == KEEPALIVES
        assert _sockopts(files._c) == KEEPALIVES
    finally:
        db.close()
        files.close()


def test_a_claim_after_an_old_dump_put_an_older_epoch_back_still_fences_the_later_leader(
        tmp_path: Path, pg_server: PgServer) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    dsn = pg_server.fresh_database()
    a = HqStore(env.hq, store_url=dsn)
    b = HqStore(env.hq, store_url=dsn)
    try:
        assert a.claim("hq-a").epoch == 1
        assert b.claim("hq-b").epoch == 2  # B leads after the dump was taken
        with psycopg.connect(dsn, autocommit=True) as c:  # a plain pg_restore of a dump taken at epoch 1
            c.execute("UPDATE leadership SET epoch = 1, node = 'hq-a'")
        assert a.claim("hq-a").epoch == 3  # not 2: B (epoch 2) is fenced at its next write
        with pytest.raises(Fenced):
            b.touch("T01")  # type: ignore[arg-type]
    finally:
        a.close()
        b.close()
    # a node restarted after the restore remembers, by store, the epoch it last claimed
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("UPDATE leadership SET epoch = 0, node = ''")
    again = HqStore(env.hq, store_url=dsn)
    try:
        assert (env.hq.root / EPOCH_FILE).exists()
        assert again.claim("hq-a").epoch == 4
    finally:
        again.close()
