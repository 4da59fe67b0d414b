"""A connection that has not delivered a valid HELLO by ``HqSettings.hello_deadline_s`` (from TCP
accept) is closed, wherever it stalled: before the TLS handshake, in the HTTP upgrade, or on an
open WebSocket (close 4008 ``hello_timeout``). A terminal that said HELLO is not touched by it.

The deadline is small here; each test waits for the close itself, with a generous outer bound."""

from __future__ import annotations

import asyncio

import aiohttp

from hq.server import HqSettings
from tests.integration.raw_links import close, close_frame, closed_by_hq, silent_tcp, silent_tls, ws_link
from tests.integration.sync_env import checkin, make_env

QUICK = HqSettings(hello_deadline_s=0.5)


async def test_tcp_that_never_starts_tls_is_dropped(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    await env.start_hq(QUICK)
    stream = await silent_tcp(env)
    try:
        await asyncio.wait_for(closed_by_hq(stream), 10)
    finally:
        await close(stream)
        await env.stop_hq()


async def test_upgrade_that_stalls_after_tls_is_dropped(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    await env.start_hq(QUICK)
    stream = await silent_tls(env, "T01")  # a valid certificate: only the deadline can close it
    try:
        _, writer = stream
        writer.write(b"GET /sync HTTP/1.1\r\nHost: hq\r\n")  # the rest of the request never comes
        await writer.drain()
        await asyncio.wait_for(closed_by_hq(stream), 10)
    finally:
        await close(stream)
        await env.stop_hq()


async def test_websocket_without_hello_is_closed_and_a_terminal_that_said_hello_stays(tmp_path):
    env = make_env(tmp_path)
    node = await env.start_hq(QUICK)
    agent = env.agent("T01")
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.online.wait(), 10)
        (link,) = node.sessions["T01"]
        async with aiohttp.ClientSession() as http:
            idle = await ws_link(http, env, "T02")  # opened after T01's link: its deadline is later
            msg = await close_frame(idle)
            assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 4008, "hello_timeout")
            await idle.close()
        # T01's own deadline has passed too, yet its link is the same one and still syncs
        assert node.sessions["T01"] == {link}
        _, res = await checkin(agent, "100010")
        assert not res.provisional
        assert node.sessions["T01"] == {link}
    finally:
        agent.stop()
        await asyncio.gather(task, return_exceptions=True)
        await env.stop_hq()
