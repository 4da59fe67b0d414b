"""Connections that have not yet said HELLO (from TCP accept, TLS handshake included) are capped,
from one source address (``max_pending_hello_per_addr``) and in all (``max_pending_hello``): one
over the cap is closed at once. The deadline is long here, so only the cap can close them."""

from __future__ import annotations

import asyncio

from hq.server import HqSettings
from tests.integration.raw_links import close, closed_by_hq, silent_tcp, silent_tls
from tests.integration.sync_env import checkin, make_env

SLOW = 60.0  # no connection here reaches its deadline


async def test_flood_from_one_address_is_capped_and_a_terminal_still_syncs(tmp_path):
    env = make_env(tmp_path, {"T01": "E01", "T02": "E02"})
    node = await env.start_hq(HqSettings(hello_deadline_s=SLOW, max_pending_hello_per_addr=3))
    flood = [await silent_tls(env, "T02", "127.0.0.2") for _ in range(2)]  # handshake done, then silence
    flood.append(await silent_tcp(env, "127.0.0.2"))  # no handshake at all
    excess = [await silent_tcp(env, "127.0.0.2") for _ in range(2)]
    agent = env.agent("T01")
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(asyncio.gather(*(closed_by_hq(s) for s in excess)), 10)
        assert node.gate.pending("127.0.0.2") == 3  # the first three still wait for their deadline
        await asyncio.wait_for(agent.online.wait(), 10)  # from 127.0.0.1: not held up by the flood
        _, res = await checkin(agent, "100010")
        assert not res.provisional
        assert node.gate.pending("127.0.0.2") == 3
    finally:
        agent.stop()
        await asyncio.gather(task, return_exceptions=True)
        await close(*flood, *excess)
        await env.stop_hq()


async def test_total_cap_refuses_at_once_and_frees_when_they_go(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    node = await env.start_hq(HqSettings(hello_deadline_s=SLOW, max_pending_hello=3))
    held = [await silent_tcp(env, f"127.0.0.{i}") for i in (2, 3, 4)]
    extra = await silent_tcp(env, "127.0.0.5")
    agent = env.agent("T01")
    task: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(closed_by_hq(extra), 10)
        assert node.gate.pending() == 3
        await close(*held)  # their slots are freed when the sockets go, not at the deadline
        task = asyncio.create_task(agent.run())
        await asyncio.wait_for(agent.online.wait(), 10)
        _, res = await checkin(agent, "100010")
        assert not res.provisional
    finally:
        agent.stop()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        await close(*held, extra)
        await env.stop_hq()
