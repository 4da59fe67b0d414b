"""Bytes keep their order through the proxy whatever the chunk pattern, and stats count them exactly."""

from __future__ import annotations

import asyncio
import random

from hypothesis import given, settings, strategies as st

from sync_protocol.fault_proxy import FaultProxy, ProxySettings
from sync_protocol.lte_link import DirectionParams, LinkProfile
from tests.integration.link_echo import EchoServer, close

JITTERY = LinkProfile(name="jittery", description_ja="試験用: 大きな揺らぎ",
                      up=DirectionParams(one_way_ms=(0.0, 8.0), jitter_ms=8.0),
                      down=DirectionParams(one_way_ms=(0.0, 8.0), jitter_ms=8.0))

pattern = st.lists(st.tuples(st.binary(min_size=1, max_size=3000), st.floats(0, 0.004)),
                   min_size=1, max_size=25)


async def _roundtrip(chunks: list[tuple[bytes, float]], seed: int) -> None:
    async with EchoServer() as echo, FaultProxy(
            echo.address, rng=random.Random(seed), profile=JITTERY,
            settings=ProxySettings(segment_bytes=97, handshake_delay=False)) as proxy:
        r, w = await asyncio.open_connection(*proxy.address)
        sent = b"".join(c for c, _ in chunks)

        async def send() -> None:
            for c, pause in chunks:
                w.write(c)
                await w.drain()
                await asyncio.sleep(pause)
            w.write_eof()

        sender = asyncio.create_task(send())
        got = await asyncio.wait_for(r.read(), 20)
        while more := await r.read(65536):
            got += more
        await sender
        await close(w)
        await asyncio.sleep(0)
        s = proxy.stats()
    assert got == sent
    assert s.up.bytes_in == s.up.bytes_out == len(sent)
    assert s.down.bytes_in == s.down.bytes_out == len(sent)
    assert echo.received == len(sent)


@settings(max_examples=12, deadline=None)
@given(pattern, st.integers(0, 2**31))
def test_order_preserved_under_jitter(chunks: list[tuple[bytes, float]], seed: int) -> None:
    asyncio.run(_roundtrip(chunks, seed))


async def test_stats_count_each_direction_and_connection_exactly() -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        data = await r.readexactly(1234)
        w.write(data * 3)  # 3702 bytes down for 1234 up
        await w.drain()
        w.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with FaultProxy(server.sockets[0].getsockname()[:2], rng=random.Random(0),
                          profile="good") as proxy:
        for _ in range(3):
            r, w = await asyncio.open_connection(*proxy.address)
            w.write(b"a" * 1234)
            await w.drain()
            assert len(await r.readexactly(3702)) == 3702
            await close(w)
        s = proxy.stats()
    server.close()
    await server.wait_closed()
    assert (s.up.bytes_out, s.down.bytes_out) == (3 * 1234, 3 * 3702)
    assert s.connections_total == 3
    assert s.as_dict()["up"]["bytes_out"] == 3 * 1234
