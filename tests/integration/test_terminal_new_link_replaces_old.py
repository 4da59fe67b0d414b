"""One live link per terminal: when a terminal's new link reaches WELCOME, its older link is
closed (4009 ``replaced``), and the new one keeps working."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.integration.raw_links import close_frame, say_hello, ws_link
from tests.integration.sync_env import checkin, make_env


async def test_new_link_replaces_the_old_one_and_keeps_syncing(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    node = await env.start_hq()
    agent = env.agent("T01")
    task: asyncio.Task[None] | None = None
    try:
        async with aiohttp.ClientSession() as http:
            old = await ws_link(http, env, "T01")
            await say_hello(old, "T01")  # a link that got as far as WELCOME, then went quiet
            task = asyncio.create_task(agent.run())
            await asyncio.wait_for(agent.online.wait(), 10)
            msg = await close_frame(old)
            assert (msg.type, msg.data, msg.extra) == (aiohttp.WSMsgType.CLOSE, 4009, "replaced")
            await old.close()
        _, res = await checkin(agent, "100010")
        assert not res.provisional
        assert node.ledger.holder("100010", "governor").terminal == "T01"
        async with asyncio.timeout(10):
            while len(node.sessions["T01"]) != 1:  # the old handler leaves once its socket is gone
                await asyncio.sleep(0.05)
        (link,) = node.sessions["T01"]
        assert link[1] is not None and not link[1].closed
        assert agent.online.is_set()
    finally:
        agent.stop()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        await env.stop_hq()
