"""A fenced HQ node sends the terminal to the next one (issue 18): two HQ nodes on one real
PostgreSQL database (tests/pg_fixtures.py), election.toml's ``[hq] addresses`` naming both. The
agent is on A; B starts and claims the store; A's next commit is fenced and A's REFUSED
``hq_fenced`` makes the same running agent dial B, where the check-in A never acknowledged is
acknowledged and the next one decided. The terminal is never marked refused. Waits watch state
with a deadline."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hq.server import HqNode, serve
from sync_protocol.client import until_acked
from tests.integration.sync_env import checkin, free_port
from tests.integration.hq_nodes_env import two_node_env, until
from tests.pg_fixtures import PgServer


async def test_fenced_leader_sends_the_agent_to_the_next_node(tmp_path: Path, pg_server: PgServer) -> None:
    port_a, port_b = free_port(), free_port()
    env = two_node_env(tmp_path, port_a, port_b)
    dsn = pg_server.fresh_database()
    a = HqNode(env.hq, store_url=dsn, node_name="hq-a")
    runner_a = await serve(a, "127.0.0.1", port_a)
    b = runner_b = None
    agent = env.agent("T01")
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.online.wait(), 15)
        assert agent.hq_address == f"127.0.0.1:{port_a}"
        _, first = await checkin(agent, "100001")
        assert first is not None and not first.provisional
        await asyncio.wait_for(until_acked(agent), 10)

        b = HqNode(env.hq, store_url=dsn, node_name="hq-b")  # B claims the store: A is fenced at its next write
        runner_b = await serve(b, "127.0.0.1", port_b)
        local, _ = await checkin(agent, "100002")  # A cannot decide it; B acknowledges it
        await until(lambda: a.fenced is not None)
        await until(lambda: agent.online.is_set() and agent.hq_address == f"127.0.0.1:{port_b}")
        await asyncio.wait_for(until_acked(agent), 10)
        assert local.seq is not None and agent.link.acked_seq >= local.seq
        assert agent.refused is None  # hq_fenced is about the node, not this terminal
        nodes = agent.status()["hq_nodes"]
        assert nodes[0]["last_error"] in ("hq_fenced", "closed") and nodes[1]["current"], nodes

        _, third = await checkin(agent, "100003")
        assert third is not None and not third.provisional and third.withheld == []  # B's verdict
        await asyncio.wait_for(until_acked(agent), 10)
    finally:
        agent.stop()
        await asyncio.gather(task, return_exceptions=True)
        for node, runner in ((b, runner_b), (a, runner_a)):
            if node is not None and runner is not None:
                await node.stop()
                await runner.cleanup()
