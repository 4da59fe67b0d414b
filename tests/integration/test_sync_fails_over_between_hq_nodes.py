"""Terminals know both HQ nodes (issue 18): election.toml's ``[hq] addresses`` lists two HQ nodes,
two real HqNode servers over TLS 1.3 on loopback. The agent checks in on the first node; the first
node is stopped; the agent dials the second (its own certificate for the same HQ name, issued by the
election CA) and its check-ins are acknowledged there. A server with a certificate from the same CA
for any other name is refused by the terminal's TLS before a frame is sent, and the agent goes on
to the next node. Waits watch the agent's state with a deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from appliance.dirs import HqDir
from hq.server import HqNode, HqSettings, serve
from provisioning.pki import hq_server_name
from sync_protocol.client import until_acked
from tests.integration.hq_nodes_env import node_with_own_cert, two_node_env, until
from tests.integration.sync_env import VOTERS, checkin, free_port

ELECTION = "sync-two"


async def _start(hq: HqDir, port: int) -> tuple[HqNode, web.AppRunner]:
    node = HqNode(hq, HqSettings())
    return node, await serve(node, "127.0.0.1", port)


async def _stop(node: HqNode, runner: web.AppRunner) -> None:
    await node.stop()
    await runner.cleanup()


async def test_first_node_stopped_agent_reaches_second(tmp_path: Path) -> None:
    port_a, port_b = free_port(), free_port()
    env = two_node_env(tmp_path, port_a, port_b, ELECTION)
    a, b = f"127.0.0.1:{port_a}", f"127.0.0.1:{port_b}"
    agent = env.agent("T01")
    assert agent.nodes.addresses == (a, b)  # from the terminal's election.toml, in its order
    node_a, runner_a = await _start(env.hq, port_a)
    task = asyncio.create_task(agent.run())
    node_b = runner_b = None
    try:
        await asyncio.wait_for(agent.online.wait(), 15)
        assert agent.hq_address == a and agent.status()["hq"] == a
        _, res = await checkin(agent, VOTERS[0].voter_id)
        assert res is not None and not res.provisional and not res.withheld
        await asyncio.wait_for(until_acked(agent), 10)

        await _stop(node_a, runner_a)  # the first node is gone
        await until(lambda: not agent.online.is_set())
        # the second node: HQ's store as it stood, its own certificate for the same HQ name
        hq_b = node_with_own_cert(env.hq, tmp_path / "hq-b", hq_server_name(ELECTION))
        node_b, runner_b = await _start(hq_b, port_b)
        await until(lambda: agent.online.is_set() and agent.hq_address == b)
        assert node_b.frames_in > 0
        nodes = {n["address"]: n for n in agent.status()["hq_nodes"]}
        assert nodes[b]["current"] and nodes[b]["failures"] == 0 and nodes[a]["failures"] >= 1

        _, res = await checkin(agent, VOTERS[1].voter_id)
        assert res is not None and not res.provisional and not res.withheld  # decided by the second node
        await asyncio.wait_for(until_acked(agent), 10)
        assert agent.pending() == 0
        voted = {voter for voter, _ in node_b.ledger.voted_set()}
        assert {VOTERS[0].voter_id, VOTERS[1].voter_id} <= voted  # the first node's check-in and its own
    finally:
        agent.stop()
        await asyncio.gather(task, return_exceptions=True)
        if node_b is not None and runner_b is not None:
            await _stop(node_b, runner_b)


async def test_server_with_another_name_is_refused_and_the_next_node_reached(tmp_path: Path) -> None:
    port_a, port_b = free_port(), free_port()
    env = two_node_env(tmp_path, port_a, port_b, ELECTION)
    # first in the list: a server holding a certificate of the election CA for another name
    impostor = node_with_own_cert(env.hq, tmp_path / "hq-x", "hq.other-election.meibo")
    node_x, runner_x = await _start(impostor, port_a)
    node_b, runner_b = await _start(env.hq, port_b)  # the second node shares HQ's own certificate
    agent = env.agent("T01")
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.online.wait(), 15)
        assert agent.hq_address == f"127.0.0.1:{port_b}"
        first = agent.status()["hq_nodes"][0]
        assert first["failures"] >= 1 and "certificate" in str(first["last_error"]).lower(), first
        assert node_x.frames_in == 0  # no frame ever reached the other name's server
        _, res = await checkin(agent, VOTERS[2].voter_id)
        assert res is not None and not res.provisional
        await asyncio.wait_for(until_acked(agent), 10)
    finally:
        agent.stop()
        await asyncio.gather(task, return_exceptions=True)
        await _stop(node_x, runner_x)
        await _stop(node_b, runner_b)
