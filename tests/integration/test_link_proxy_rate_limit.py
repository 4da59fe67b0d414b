"""The proxy honours the profile's rate in each direction (roughly: timers on a shared machine)."""

from __future__ import annotations

import asyncio
import random

from sync_protocol.fault_proxy import FaultProxy
from sync_protocol.lte_link import DirectionParams, LinkProfile
from tests.integration.link_echo import close

NARROW = LinkProfile(name="narrow", description_ja="試験用 2/4 Mbit/s",
                     up=DirectionParams(one_way_ms=(1.0, 1.0), rate_bps=2e6),
                     down=DirectionParams(one_way_ms=(1.0, 1.0), rate_bps=4e6))


async def _sink(r: asyncio.StreamReader, w: asyncio.StreamWriter, got: asyncio.Future[int]) -> None:
    n = 0
    while data := await r.read(65536):
        n += len(data)
    got.set_result(n)
    w.close()


async def test_upload_is_limited_to_the_up_rate() -> None:
    loop = asyncio.get_running_loop()
    got: asyncio.Future[int] = loop.create_future()
    server = await asyncio.start_server(lambda r, w: _sink(r, w, got), "127.0.0.1", 0)
    up = server.sockets[0].getsockname()[:2]
    async with FaultProxy(up, rng=random.Random(0), profile=NARROW) as proxy:
        r, w = await asyncio.open_connection(*proxy.address)
        t = loop.time()
        w.write(b"u" * 250_000)  # 2 Mbit at 2 Mbit/s: 1 s
        w.write_eof()
        await w.drain()
        n = await asyncio.wait_for(got, 10)
        elapsed = loop.time() - t
        await close(w)
    server.close()
    await server.wait_closed()
    assert n == 250_000
    assert 0.9 <= elapsed <= 1.8, elapsed


async def test_download_is_limited_to_the_down_rate() -> None:
    loop = asyncio.get_running_loop()

    async def source(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"d" * 250_000)  # 2 Mbit at 4 Mbit/s: 0.5 s
        w.write_eof()
        await w.drain()
        await r.read()
        w.close()

    server = await asyncio.start_server(source, "127.0.0.1", 0)
    async with FaultProxy(server.sockets[0].getsockname()[:2], rng=random.Random(0),
                          profile=NARROW) as proxy:
        r, w = await asyncio.open_connection(*proxy.address)
        t = loop.time()
        data = await asyncio.wait_for(r.read(), 10)
        while more := await r.read(65536):
            data += more
        elapsed = loop.time() - t
        await close(w)
    server.close()
    await server.wait_closed()
    assert len(data) == 250_000
    assert 0.45 <= elapsed <= 1.2, elapsed
