"""The lead lock's connection notices a dead database machine in seconds, and a standby whose
store drops between its claim and its catch-up retries instead of exiting (hq/standby.py, issue
18), on a real PostgreSQL server (tests/pg_fixtures.py).

A pulled cable is not simulated on loopback here (nftables rules in the host's namespace would
touch the machine's own network beside the other tests'; the netns harness puts no PostgreSQL
in its namespaces): instead the test reads back what the kernel and the server were told, the
socket's TCP options and the session's settings, which is what makes the kernel give up."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from hq.server import HqNode
from hq.standby import KEEPALIVES, SERVER_KEEPALIVES, LeadLock, Standby, StandbySettings
from hq.store import HqStore
from hq.store_db import Fenced
from tests.integration.sync_env import make_env
from tests.pg_fixtures import PgServer


def _tcp_dsn(pg_server: PgServer, dsn: str, extra: str = "") -> str:
    """The same database over TCP to 127.0.0.1 (keepalives apply to TCP only, not the socket)."""
    dbname = dsn.split("dbname=")[1].split()[0]
    return f"host=127.0.0.1 port={pg_server.node.port} dbname={dbname} user={dsn.split('user=')[1].split()[0]} {extra}"


def _sockopts(lock: LeadLock) -> dict[str, int]:
    assert lock._c is not None
    s = socket.socket(fileno=socket.dup(lock._c.pgconn.socket))
    try:
        return {"keepalives": s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                "keepalives_idle": s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                "keepalives_interval": s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                "keepalives_count": s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
                "tcp_user_timeout": s.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)}
    finally:
        s.close()


def _server_settings(lock: LeadLock) -> dict[str, int]:
    assert lock._c is not None
    rows = lock._c.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                           (list(SERVER_KEEPALIVES),)).fetchall()
    return {name: int(value) for name, value in rows}


def test_lead_lock_connection_gives_up_on_a_silent_database_within_seconds(pg_server: PgServer) -> None:
    """Both ends of the lock's session are told: the kernel's socket (the leader and the standby
    see a dead server) and the server's (it drops a dead leader's session, and so its lock)."""
    lock = LeadLock(_tcp_dsn(pg_server, pg_server.fresh_database()))
    try:
        assert lock.take()
        assert _sockopts(lock) == KEEPALIVES
        assert _server_settings(lock) == SERVER_KEEPALIVES
        worst_s = KEEPALIVES["keepalives_idle"] + KEEPALIVES["keepalives_interval"] * KEEPALIVES["keepalives_count"]
        assert worst_s <= 15 and KEEPALIVES["tcp_user_timeout"] <= 15_000  # seconds, not two hours
    finally:
        lock.close()


def test_a_dba_s_own_keepalive_settings_in_the_dsn_are_kept(pg_server: PgServer) -> None:
    extra = "keepalives_idle=30 tcp_user_timeout=60000 options='-c tcp_keepalives_idle=40'"
    lock = LeadLock(_tcp_dsn(pg_server, pg_server.fresh_database(), extra))
    try:
        assert lock.take()
        opts, server = _sockopts(lock), _server_settings(lock)
        assert opts["keepalives_idle"] == 30 and opts["tcp_user_timeout"] == 60_000
        assert opts["keepalives_count"] == KEEPALIVES["keepalives_count"]  # the rest still ours
        assert server["tcp_keepalives_idle"] == 40
        assert server["tcp_keepalives_count"] == SERVER_KEEPALIVES["tcp_keepalives_count"]
    finally:
        lock.close()


def _cut_after_claim(sb: Standby, pg_server: PgServer, then: Callable[[], None] | None) -> threading.Thread:
    """Stop the server at the hook (after the claim, before the catch-up); once the standby has
    met the dead store, start it again and run ``then``. No sleeps: the standby's event says when."""
    def restart() -> None:
        assert sb.retried.wait(30), "the standby never retried"
        pg_server.node.start()
        if then is not None:
            then()
    t = threading.Thread(target=restart)

    def cut() -> None:
        pg_server.node.stop()
        t.start()
    sb.before_catch_up = cut
    return t


async def test_standby_take_over_retries_through_a_database_restart_after_its_claim(
        tmp_path: Path, pg_server: PgServer, caplog: pytest.LogCaptureFixture) -> None:
    env = make_env(tmp_path)
    dsn = pg_server.fresh_database()
    first = HqStore(env.hq, store_url=dsn)  # a leader that went away before any check-in
    first.claim("hq-a")
    first.close()
    sb = Standby(env.hq, dsn, StandbySettings(retry_first_s=0.05, retry_max_s=0.5))
    t = _cut_after_claim(sb, pg_server, None)
    with caplog.at_level(logging.WARNING, logger="meibo.hq.standby"):
        b = await asyncio.to_thread(HqNode, env.hq, store_url=dsn, node_name="hq-b", standby=sb)
    t.join(30)
    try:
        assert b.leadership.epoch == 2 and b.fenced is None
        b.store.db.check_fence()  # still the leader after the restart
        assert any("store unreachable after the claim" in r.getMessage() for r in caplog.records)
    finally:
        await b.stop()


def test_standby_take_over_stops_when_another_node_claimed_during_the_drop(
        tmp_path: Path, pg_server: PgServer) -> None:
    env = make_env(tmp_path)
    dsn = pg_server.fresh_database()

    claimed = threading.Event()

    def other_claims() -> None:
        other = HqStore(env.hq, store_url=dsn)
        other.claim("hq-c")
        other.close()
        claimed.set()
    sb = Standby(env.hq, dsn, StandbySettings(retry_first_s=0.05, retry_max_s=0.5))
    # the other node's claim lands while the standby is still cut off: its next retry finds the
    # store reachable AND claimed (without the gate the retry could win the ~100 ms after restart)
    sb.before_retry = lambda: claimed.wait(30)  # set after ``retried``, which starts the restart
    t = _cut_after_claim(sb, pg_server, other_claims)
    try:
        with pytest.raises(Fenced):
            HqNode(env.hq, store_url=dsn, node_name="hq-b", standby=sb)
    finally:
        t.join(30)
        sb.lock.close()
        sb.store.close()
