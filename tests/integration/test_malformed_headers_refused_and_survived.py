"""Malformed header values over real TLS 1.3 websockets (issue 16 part 7):

- a real ``SyncAgent`` whose HQ answers its first HELLO with a malformed WELCOME logs it, drops
  that link, backs off and reconnects — its ``run()`` task never ends — and the next, real HQ
  link works (online, a check-in gets its verdict);
- the real ``HqNode`` answers a HELLO whose ``cursor`` is a string with a REFUSED frame
  ``header_invalid`` naming the field, before it closes (before: a traceback and close 1006).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from nacl.signing import SigningKey

from ground.events import genesis_hash
from provisioning.pki import hq_server_name
from sync_protocol.codec import Frame, FrameType, decode, encode
from sync_protocol.session import TerminalLink
from sync_protocol.tls import client_context
from tests.integration.sync_env import checkin, make_env

GOOD_WELCOME: dict[str, Any] = {"acked_seq": 0, "acked_head": genesis_hash("sync-test", "T01").hex(), "roll": 0}


@pytest.mark.parametrize("bad", [{"acked_seq": [0]}, {"acked_seq": "zero"}, {"ok": [[1]]},
                                 {"acked_head": 7}], ids=["acked_seq_list", "acked_seq_text", "ok_range_short",
                                                          "acked_head_int"])
async def test_agent_survives_one_bad_welcome_and_reconnects(tmp_path, bad: dict[str, Any]) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    node = await env.start_hq()  # serves the real HQ on env.port; the front below takes a second port
    hellos: list[Frame] = []
    bad_sent = asyncio.Event()

    async def front(request: web.Request) -> web.StreamResponse:
        if hellos:  # every connection after the first: the real HQ
            hellos.append(Frame(FrameType.HELLO, {}))
            return await node.handle(request)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        msg = await ws.receive()
        hellos.append(decode(msg.data))
        await ws.send_bytes(encode(Frame(FrameType.WELCOME, {**GOOD_WELCOME, **bad})))
        bad_sent.set()
        async for _ in ws:  # until the agent drops the link
            pass
        return ws

    app = web.Application()
    app.router.add_get("/sync", front)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=node.tls.listener)
    await site.start()
    port = runner.addresses[0][1]
    agent = env.agent("T01", budget=3.0, hq_address=f"127.0.0.1:{port}")
    run = asyncio.create_task(agent.run())
    online = asyncio.create_task(agent.online.wait())
    try:
        done, _ = await asyncio.wait({run, online}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
        assert bad_sent.is_set(), "the agent never reached the front"
        assert run not in done, f"SyncAgent.run() ended on a bad WELCOME: {run.exception()!r}"
        assert online in done, "the agent did not come back online through the real HQ"
        assert len(hellos) >= 2 and hellos[0].type is FrameType.HELLO
        assert agent.refused is None  # a bad frame is not HQ's refusal
        _, res = await checkin(agent, "100010")
        assert res is not None and not res.provisional  # the reconnected link is whole
        assert not run.done()
    finally:
        agent.stop()
        online.cancel()
        await asyncio.gather(run, online, return_exceptions=True)
        await runner.cleanup()
        await env.stop_hq()


async def test_hq_refuses_hello_with_string_cursor_before_closing(tmp_path) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    await env.start_hq()
    hello = TerminalLink("sync-test", "T01", "E01", SigningKey(b"\x02" * 32)).connect(0, b"\x00" * 32, 0, 0)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"wss://127.0.0.1:{env.port}/sync",
                                       ssl=client_context(env.terminals["T01"].tls),
                                       server_hostname=hq_server_name("sync-test")) as ws:
                await ws.send_bytes(encode(Frame(FrameType.HELLO, {**hello.header, "cursor": "12"})))
                msg = await ws.receive(timeout=10)
                assert msg.type is aiohttp.WSMsgType.BINARY, f"closed without REFUSED: {msg!r}"
                frame = decode(msg.data)
                assert frame.type is FrameType.REFUSED
                assert frame.header == {"code": "header_invalid", "message": "HELLO の cursor が不正です"}
                closing = await ws.receive(timeout=10)
                assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                assert ws.close_code == 4002  # HqNode.handle: refused, after the REFUSED frame
    finally:
        await env.stop_hq()



async def test_hq_says_why_before_closing_a_second_hello(tmp_path) -> None:
    """A frame out of turn (a second HELLO on a ready link) gets REFUSED ``illegal_transition``
    before the close, as a malformed one does (before: close 4001 and nothing said)."""
    env = make_env(tmp_path, {"T01": "E01"})
    await env.start_hq()
    hello = TerminalLink("sync-test", "T01", "E01", SigningKey(b"\x02" * 32)).connect(
        0, genesis_hash("sync-test", "T01"), 0, 0)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"wss://127.0.0.1:{env.port}/sync",
                                       ssl=client_context(env.terminals["T01"].tls),
                                       server_hostname=hq_server_name("sync-test")) as ws:
                await ws.send_bytes(encode(hello))
                while True:  # WELCOME (and any FLAGS) first
                    msg = await ws.receive(timeout=10)
                    assert msg.type is aiohttp.WSMsgType.BINARY, f"closed early: {msg!r}"
                    if decode(msg.data).type is FrameType.WELCOME:
                        break
                await ws.send_bytes(encode(hello))
                while True:
                    msg = await ws.receive(timeout=10)
                    assert msg.type is aiohttp.WSMsgType.BINARY, f"closed without REFUSED: {msg!r}"
                    frame = decode(msg.data)
                    if frame.type is FrameType.REFUSED:
                        break
                assert frame.header["code"] == "illegal_transition" and "手順にないフレーム" in frame.header["message"]
                closing = await ws.receive(timeout=10)
                assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                assert ws.close_code == 4001
    finally:
        await env.stop_hq()
