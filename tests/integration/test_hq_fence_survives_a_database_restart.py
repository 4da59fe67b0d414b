"""An HQ serving on PostgreSQL outlives its database's restart (tests/pg_fixtures.py's
pg_server stopped and started under it): the commit that hit the dead server is not
acknowledged, the ledger's reload is retried with back-off while the server is down (it once
raised out of the committer, and HQ never acknowledged again), and once the server is back HQ
acknowledges and decides again, without a restart and still the leader. Waits are on events
(a log record, the agent's acknowledged seq), never a sleep."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from ground.model import VoterId
from hq.server import HqNode, HqSettings, serve
from hq.store import HqStore
from sync_protocol.client import until_acked
from tests.integration.sync_env import checkin, make_env
from tests.pg_fixtures import PgServer

CONTESTS = {"shu", "shinsa", "governor", "mayor"}


async def _until(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), timeout)


async def test_postgresql_restarted_under_a_serving_hq_then_it_acknowledges_again(
        tmp_path: Path, pg_server: PgServer, caplog: pytest.LogCaptureFixture) -> None:
    env = make_env(tmp_path)
    dsn = pg_server.fresh_database()
    node = HqNode(env.hq, HqSettings(store_retry_initial_s=0.05, store_retry_max_s=0.3), store_url=dsn,
                  node_name="hq-a")
    runner = await serve(node, "127.0.0.1", env.port)
    agent = env.agent("T01")
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.online.wait(), 10)
        _, first = await checkin(agent, "100001")
        assert first is not None and not first.provisional
        await asyncio.wait_for(until_acked(agent), 10)
        acked = agent.link.acked_seq

        await asyncio.to_thread(pg_server.node.stop)
        with caplog.at_level(logging.ERROR, logger="meibo.hq"):
            local, during = await checkin(agent, "100002")  # recorded locally; HQ cannot store it
            assert local.seq is not None and during is not None and during.provisional
            await _until(lambda: any("ledger reload failed" in r.message for r in caplog.records))
        assert agent.link.acked_seq == acked  # nothing acknowledged while the database is down
        assert node._tasks[0].done() is False  # the committer lives on, retrying

        await asyncio.to_thread(pg_server.node.start)
        await _until(lambda: agent.pending() == 0)  # the check-in made offline, acknowledged now
        assert agent.link.acked_seq > local.seq
        _, after = await checkin(agent, "100003")
        assert after is not None and not after.provisional and after.withheld == []  # HQ decides again
        assert node.fenced is None and node.leadership.epoch == 1
    finally:
        agent.stop()
        await asyncio.gather(task, return_exceptions=True)
        await node.stop()
        await runner.cleanup()

    store = HqStore(env.hq, store_url=dsn)
    try:
        led = store.load()
        for voter in ("100001", "100002", "100003"):
            assert all(led.ballot_count(VoterId(voter), c) == 1 for c in CONTESTS), voter
        assert store.leader().node == "hq-a"
    finally:
        store.close()
