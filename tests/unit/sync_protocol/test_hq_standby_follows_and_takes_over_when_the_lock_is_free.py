"""The standby HQ node (hq/standby.py) on a real PostgreSQL database (tests/pg_fixtures.py): while
the leader holds the lead lock the standby does not take over and its ledger follows every
acknowledged check-in; when the leader's session ends the lock is the standby's, its claim is the
next epoch and the ledger it hands to HqNode equals what a full load gives. A standby on hq.db is
refused. A serving leader takes its lock again after a database restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from ground.errors import UsageError
from ground.model import VoterId
from hq.server import HqNode, HqSettings, serve
from hq.standby import LeadLock, Standby, StandbySettings
from hq.store import HqStore
from hq.store_db import StoreUnreachable
from sync_protocol.client import until_acked
from tests.integration.sync_env import checkin, make_env
from tests.pg_fixtures import PgServer

CONTESTS = ("shu", "shinsa", "governor", "mayor")


async def test_standby_follows_the_leader_and_takes_over_only_once_its_lock_is_free(
        tmp_path: Path, pg_server: PgServer) -> None:
    env = make_env(tmp_path)
    dsn = pg_server.fresh_database()
    a = HqNode(env.hq, store_url=dsn, node_name="hq-a")
    runner = await serve(a, "127.0.0.1", env.port)
    assert a.lead_lock is not None and a.lead_lock.held
    sb = Standby(env.hq, dsn, StandbySettings(poll_s=0.05))
    waiting = asyncio.create_task(sb.wait_for_lead())
    agent = env.agent("T01")
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.online.wait(), 10)
        for voter in ("100001", "100002"):
            _, res = await checkin(agent, voter)
            assert res is not None and not res.provisional
        await asyncio.wait_for(until_acked(agent), 10)

        async def followed() -> None:
            while sb.ledger.ballot_count(VoterId("100002"), "shu") != 1:
                await asyncio.sleep(0.02)
        await asyncio.wait_for(followed(), 10)  # the tail reached the standby's ledger
        assert not waiting.done()  # the leader holds the lock: no take-over
        assert not await asyncio.to_thread(sb.lock.free)  # seen held, from the standby's session
        assert len(sb.ledger.flags) == len(a.ledger.flags)
    finally:
        agent.stop()
        await asyncio.gather(task, return_exceptions=True)
        await a.stop()  # its session ends: the server releases the lock
        await runner.cleanup()
    await asyncio.wait_for(waiting, 10)

    b = HqNode(env.hq, store_url=dsn, node_name="hq-b", standby=sb)
    try:
        assert b.leadership.epoch == a.leadership.epoch + 1
        assert b.lead_lock is sb.lock and sb.lock.held
        store = HqStore(env.hq, store_url=dsn)
        try:
            full = store.load()
        finally:
            store.close()
        for voter in ("100001", "100002"):
            assert all(b.ledger.ballot_count(VoterId(voter), c) == 1 for c in CONTESTS)
        assert list(b.ledger.flags) == list(full.flags)  # warm ledger == a full replay
    finally:
        await b.stop()
    assert not sb.lock.held  # stopping releases it


def test_a_standby_on_hq_db_is_refused(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    with pytest.raises(UsageError) as e:
        Standby(env.hq, "sqlite")
    assert e.value.code == "standby_needs_postgresql"


async def test_leader_takes_its_lock_again_after_the_database_restarts(tmp_path: Path, pg_server: PgServer) -> None:
    """A restart ends every session and so the lock: the serving leader's keeper takes it again,
    and another session cannot have it meanwhile once it is back."""
    env = make_env(tmp_path)
    dsn = pg_server.fresh_database()
    a = HqNode(env.hq, HqSettings(lead_lock_poll_s=0.05), store_url=dsn, node_name="hq-a")
    runner = await serve(a, "127.0.0.1", env.port)
    other = LeadLock(dsn)
    try:
        assert a.lead_lock is not None and a.lead_lock.held and not other.take()
        await asyncio.to_thread(pg_server.node.stop)
        await asyncio.to_thread(pg_server.node.start)

        def advisory_held() -> bool:  # only the keeper asks for it meanwhile
            with psycopg.connect(dsn) as c:
                row = c.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted").fetchone()
            return bool(row and row[0])

        async def retaken() -> None:
            while not await asyncio.to_thread(advisory_held):
                await asyncio.sleep(0.05)
        await asyncio.wait_for(retaken(), 10)
        with pytest.raises(StoreUnreachable):  # other's session died with the restart: said once
            other.take()
        assert not other.take() and a.lead_lock.held  # the leader's again, not free for a standby
    finally:
        other.close()
        await a.stop()
        await runner.cleanup()


async def test_standby_does_not_take_over_a_live_leader_after_the_database_restarts(
        tmp_path: Path, pg_server: PgServer) -> None:
    """The restart ends both sessions and frees the lock for a moment; the standby, polling four
    times as often as the leader's keeper, waits its grace and the leader has it back first."""
    env = make_env(tmp_path)
    dsn = pg_server.fresh_database()
    a = HqNode(env.hq, store_url=dsn, node_name="hq-a")  # the default keeper poll, 0.5 s
    runner = await serve(a, "127.0.0.1", env.port)
    sb = Standby(env.hq, dsn, StandbySettings(poll_s=0.1))
    waiting = asyncio.create_task(sb.wait_for_lead())
    try:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(pg_server.node.stop)
        await asyncio.to_thread(pg_server.node.start)
        await asyncio.sleep(3 * sb.settings.grace_s)
        assert not waiting.done() and a.fenced is None
        assert a.lead_lock is not None and a.lead_lock.held
    finally:
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        sb.lock.close()
        sb.store.close()
        await a.stop()
        await runner.cleanup()
