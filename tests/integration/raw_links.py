"""Connections to HQ that misbehave on purpose: a TCP socket that never speaks, TLS that never
sends HTTP, a WebSocket that never says HELLO (or says one by hand). For the connection-limit tests."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import aiohttp

from provisioning.pki import hq_server_name
from sync_protocol.codec import PROTOCOL_VERSION, Frame, FrameType, decode, encode
from sync_protocol.tls import client_context
from tests.integration.sync_env import Env

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def silent_tcp(env: Env, source: str = "127.0.0.1") -> Stream:
    """TCP accepted by HQ, then not one byte (no ClientHello)."""
    return await asyncio.open_connection("127.0.0.1", env.port, local_addr=(source, 0))


async def silent_tls(env: Env, tid: str, source: str = "127.0.0.1") -> Stream:
    """A complete TLS 1.3 handshake with terminal ``tid``'s certificate, then nothing."""
    return await asyncio.open_connection("127.0.0.1", env.port, local_addr=(source, 0),
                                         ssl=client_context(env.terminals[tid].tls),
                                         server_hostname=hq_server_name("sync-test"))


async def closed_by_hq(stream: Stream) -> None:
    """Returns when HQ has closed the connection (EOF or reset), whatever was sent before."""
    reader, _ = stream
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        while await reader.read(4096):
            pass


async def close(*streams: Stream) -> None:
    for _, writer in streams:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def ws_link(http: aiohttp.ClientSession, env: Env, tid: str) -> aiohttp.ClientWebSocketResponse:
    """An upgraded WebSocket with ``tid``'s certificate; nothing sent on it yet."""
    return await http.ws_connect(f"wss://127.0.0.1:{env.port}/sync", ssl=client_context(env.terminals[tid].tls),
                                 server_hostname=hq_server_name("sync-test"), heartbeat=None)


async def say_hello(ws: aiohttp.ClientWebSocketResponse, tid: str) -> dict[str, Any]:
    """A minimal HELLO by hand (an empty journal); returns the WELCOME header."""
    await ws.send_bytes(encode(Frame(FrameType.HELLO, {"v": PROTOCOL_VERSION, "election": "sync-test",
                                                       "terminal": tid, "cursor": 0})))
    msg = await ws.receive(timeout=10)
    assert msg.type is aiohttp.WSMsgType.BINARY, msg
    frame = decode(msg.data)
    assert frame.type is FrameType.WELCOME, frame
    return dict(frame.header)


async def close_frame(ws: aiohttp.ClientWebSocketResponse, timeout: float = 10) -> aiohttp.WSMessage:
    """The next CLOSE from HQ, skipping whatever data frames (FLAGS) come before it."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.BINARY:
                return msg
