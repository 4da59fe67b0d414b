"""An outage cuts existing connections, refuses new ones, and the link recovers afterwards."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime

import pytest

from ground.clock import JST, FixedClock
from sync_protocol.fault_proxy import FaultProxy
from sync_protocol.lte_link import LinkState, outage_profile, parse_schedule
from tests.integration.link_echo import EchoServer, close, ping


async def _is_cut(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> bool:
    """True when the connection was reset or closed by the proxy."""
    try:
        w.write(b"x")
        await w.drain()
        data = await asyncio.wait_for(r.read(1), 2.0)
    except (ConnectionError, OSError):
        return True
    return data == b""


async def test_scripted_down_window_cuts_refuses_and_recovers() -> None:
    # 10:00–10:01 virtual at 60×: starts 0.5 s after 09:59:30, lasts 1 s of real time
    clock = FixedClock(datetime(2027, 4, 25, 9, 59, 30, tzinfo=JST))
    async with EchoServer() as echo, FaultProxy(
            echo.address, rng=random.Random(5), profile="good", speed=60.0, clock=clock,
            schedule=parse_schedule("10:00-10:01 down")) as proxy:
        r, w = await asyncio.open_connection(*proxy.address)
        assert await ping(r, w) < 0.5
        assert proxy.state() is LinkState.UP
        await asyncio.sleep(0.6 - proxy.now())
        assert proxy.state() is LinkState.DOWN
        assert await _is_cut(r, w)
        await close(w)
        before = echo.connections
        r2, w2 = await asyncio.open_connection(*proxy.address)  # refused: reset at once
        assert await _is_cut(r2, w2)
        await close(w2)
        assert echo.connections == before  # never reached HQ
        await asyncio.sleep(1.6 - proxy.now())
        assert proxy.state() is LinkState.UP
        r3, w3 = await asyncio.open_connection(*proxy.address)
        assert await ping(r3, w3) < 0.5
        await close(w3)
        s = proxy.stats()
    assert s.connections_cut == 1
    assert s.connections_refused == 1
    assert s.connections_total == 2


async def test_outage_profile_is_down_from_the_start_then_up() -> None:
    async with EchoServer() as echo, FaultProxy(
            echo.address, rng=random.Random(1), profile=outage_profile(after_s=0, for_s=30),
            speed=60.0) as proxy:
        r, w = await asyncio.open_connection(*proxy.address)
        assert await _is_cut(r, w)
        await close(w)
        await asyncio.sleep(0.55)
        r, w = await asyncio.open_connection(*proxy.address)
        assert await ping(r, w) < 0.5
        await close(w)
    assert echo.connections == 1


async def test_manual_down_with_reset_then_up() -> None:
    async with EchoServer() as echo, FaultProxy(echo.address, rng=random.Random(2),
                                                profile="good") as proxy:
        r, w = await asyncio.open_connection(*proxy.address)
        await ping(r, w)
        proxy.down(reset=True)
        assert proxy.state() is LinkState.DOWN
        assert await _is_cut(r, w)
        await close(w)
        proxy.up()
        r, w = await asyncio.open_connection(*proxy.address)
        await ping(r, w)
        await close(w)
        assert proxy.stats().connections_cut == 1


async def test_black_hole_holds_data_and_delivers_after_up() -> None:
    async with EchoServer() as echo, FaultProxy(echo.address, rng=random.Random(3),
                                                profile="good") as proxy:
        r, w = await asyncio.open_connection(*proxy.address)
        await ping(r, w)
        proxy.down(reset=False)
        w.write(b"held")
        await w.drain()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(r.readexactly(4), 0.4)
        r2, w2 = await asyncio.open_connection(*proxy.address)  # new one waits, not refused
        w2.write(b"new")
        proxy.up()
        assert await asyncio.wait_for(r.readexactly(4), 2) == b"held"
        assert await asyncio.wait_for(r2.readexactly(3), 2) == b"new"
        await close(w)
        await close(w2)
        assert proxy.stats().connections_cut == 0


async def test_scripted_blackout_holds_bytes_and_delivers_them_in_order_after() -> None:
    # 10:00:00–10:00:30 blackout at 60×: from 0.5 s to 1.0 s of real time
    clock = FixedClock(datetime(2027, 4, 25, 9, 59, 30, tzinfo=JST))
    async with EchoServer() as echo, FaultProxy(
            echo.address, rng=random.Random(6), profile="good", speed=60.0, clock=clock,
            schedule=parse_schedule("10:00:00-10:00:30 blackout")) as proxy:
        r, w = await asyncio.open_connection(*proxy.address)
        await ping(r, w)
        await asyncio.sleep(0.6 - proxy.now())
        assert proxy.state() is LinkState.BLACKOUT
        w.write(b"first,")
        w.write(b"second")
        await w.drain()
        got = await asyncio.wait_for(r.readexactly(12), 3)
        assert got == b"first,second"
        assert proxy.now() >= 1.0  # nothing came back before the radio did
        await close(w)
        assert proxy.stats().connections_cut == 0
