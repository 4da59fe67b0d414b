"""A second HQ node made by ``meibo hq add-node`` (hq/nodes.py) serves a terminal enrolled before
it was made: real TLS 1.3 with the node's own certificate (the terminal checks the election's HQ
name against the CA it pinned at enrollment), one PostgreSQL store (tests/pg_fixtures.py). A
check-in decided by node A is refused as a double vote through node B."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ground.clock import FixedClock
from hq.nodes import add_node, own_cert_differs
from hq.server import HqNode, serve
from sync_protocol.client import until_acked
from tests.builders import EARLY_NOON
from tests.integration.sync_env import checkin, free_port, make_env
from tests.pg_fixtures import PgServer


async def test_node_made_by_add_node_serves_a_terminal_enrolled_before_and_knows_its_votes(
        tmp_path: Path, pg_server: PgServer) -> None:
    env = make_env(tmp_path)
    dsn = pg_server.fresh_database()
    b_dir = add_node(env.hq, tmp_path / "hq-b", "hq-b", FixedClock(EARLY_NOON))
    assert own_cert_differs(env.hq, b_dir)

    a = HqNode(env.hq, store_url=dsn, node_name="hq-a")
    runner = await serve(a, "127.0.0.1", env.port)
    on_a = env.agent("T01", hq_address=f"127.0.0.1:{env.port}")
    task = asyncio.create_task(on_a.run())
    try:
        await asyncio.wait_for(on_a.online.wait(), 10)
        _, first = await checkin(on_a, "100001")
        assert first is not None and not first.provisional and first.withheld == []
        await asyncio.wait_for(until_acked(on_a), 10)
    finally:
        on_a.stop()
        await asyncio.gather(task, return_exceptions=True)
        await a.stop()
        await runner.cleanup()

    port_b = free_port()
    b = HqNode(b_dir, store_url=dsn, node_name="hq-b")
    runner = await serve(b, "127.0.0.1", port_b)
    on_b = env.agent("T02", hq_address=f"127.0.0.1:{port_b}")  # enrolled before hq-b existed
    task = asyncio.create_task(on_b.run())
    try:
        await asyncio.wait_for(on_b.online.wait(), 10)  # the handshake with hq-b's own certificate
        local, again = await checkin(on_b, "100001")  # voted through A: refused through B
        contests = sorted(["shu", "shinsa", "governor", "mayor"])
        if local.seq is None:  # B's FLAGS stream reached T02 first: refused at the terminal
            assert sorted(c.contest for c in local.refused) == contests and local.handed == ()
        else:  # or B's verdict withholds every ballot
            assert again is not None and not again.provisional and sorted(again.withheld) == contests
    finally:
        on_b.stop()
        await asyncio.gather(task, return_exceptions=True)
        await b.stop()
        await runner.cleanup()
