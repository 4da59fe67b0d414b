"""Exactly one HQ gives verdicts (hq/store_db.py's leadership fence): two HQ nodes serve one
PostgreSQL database (tests/pg_fixtures.py). A leads and decides a check-in; B starts and claims
the store. A's next commit is fenced: the terminal on A gets no verdict from A after B's claim,
nothing A had not acknowledged is stored, A sends nothing more but its REFUSED ``hq_fenced``,
refuses new links and stays down; the terminal, on B, has the check-in decided by B, durably."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from ground.model import VoterId
from hq.server import HqNode, serve
from hq.store import HqStore
from hq.store_db import Leader
from sync_protocol.client import until_acked
from tests.integration.sync_env import Env, checkin, free_port, make_env
from tests.pg_fixtures import PgServer

CONTESTS = {"shu", "shinsa", "governor", "mayor"}


async def _until(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), timeout)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


@pytest.fixture
async def serving() -> AsyncIterator[list[tuple[HqNode, web.AppRunner]]]:
    nodes: list[tuple[HqNode, web.AppRunner]] = []
    try:
        yield nodes
    finally:
        for node, runner in reversed(nodes):
            await node.stop()
            await runner.cleanup()


async def test_b_claims_the_store_a_is_fenced_and_gives_no_verdict_and_b_decides_durably(
        env: Env, pg_server: PgServer, serving: list[tuple[HqNode, web.AppRunner]],
        caplog: pytest.LogCaptureFixture) -> None:
    dsn = pg_server.fresh_database()
    a = HqNode(env.hq, store_url=dsn, node_name="hq-a")
    serving.append((a, await serve(a, "127.0.0.1", env.port)))
    on_a = env.agent("T01", hq_address=f"127.0.0.1:{env.port}")
    task = asyncio.create_task(on_a.run())
    try:
        await asyncio.wait_for(on_a.online.wait(), 10)
        _, first = await checkin(on_a, "100001")
        assert first is not None and not first.provisional  # A leads: its verdict
        await asyncio.wait_for(until_acked(on_a), 10)
        acked = on_a.link.acked_seq

        port_b = free_port()
        b = HqNode(env.hq, store_url=dsn, node_name="hq-b")  # B starts: it claims the store
        serving.append((b, await serve(b, "127.0.0.1", port_b)))
        assert (a.leadership.epoch, b.leadership.epoch) == (1, 2)
        sent_by_a = a.bytes_out

        with caplog.at_level(logging.CRITICAL, logger="meibo.hq"):
            local, second = await checkin(on_a, "100002")
            assert local.seq is not None and second is not None
            assert second.provisional and second.verdicts == []  # no verdict from A after B's claim
            await _until(lambda: a.fenced is not None)
        assert a.fenced is not None and a.fenced.code == "hq_fenced"
        assert any("FENCED" in r.message for r in caplog.records)  # said loudly
        await _until(lambda: on_a.refused == "hq_fenced" or not on_a.online.is_set())
        assert a.bytes_out == sent_by_a  # no ACK, verdict or FLAGS frame left A
        assert on_a.link.acked_seq == acked < local.seq  # nothing of 100002 acknowledged
        await _until(lambda: a.online() == set())  # its links closed
        with pytest.raises(web.HTTPServiceUnavailable):  # A takes no new link, and does not reclaim
            await a.handle(make_mocked_request("GET", "/sync"))
        assert (await a.admin({"op": "leader"}))["node"] == "hq-b"
    finally:
        on_a.stop()
        await asyncio.gather(task, return_exceptions=True)

    # the same terminal on B: the check-in A never acknowledged goes there and B decides it
    on_b = env.agent("T01", hq_address=f"127.0.0.1:{port_b}")
    task = asyncio.create_task(on_b.run())
    try:
        await asyncio.wait_for(on_b.online.wait(), 10)
        await asyncio.wait_for(until_acked(on_b), 10)
        _, third = await checkin(on_b, "100003")
        assert third is not None and not third.provisional and third.withheld == []  # B's verdict
        await asyncio.wait_for(until_acked(on_b), 10)
    finally:
        on_b.stop()
        await asyncio.gather(task, return_exceptions=True)
    assert a.fenced is not None  # A stayed down all along

    store = HqStore(env.hq, store_url=dsn)  # what is durable, as a third HQ would load it
    try:
        led = store.load()
        for voter in ("100001", "100002", "100003"):
            assert all(led.ballot_count(VoterId(voter), c) == 1 for c in CONTESTS), voter
        assert led.active_alerts() == []
        assert store.leader() == Leader("hq-b", 2, b.leadership.since)
    finally:
        store.close()
