"""Measured RTT through the real proxy falls in the profile's range (echo server on loopback)."""

from __future__ import annotations

import asyncio
import random
import statistics

from sync_protocol.fault_proxy import FaultProxy
from tests.integration.link_echo import EchoServer, close, ping


async def _measure(profile: str, n: int, gap: float, seed: int) -> list[float]:
    async with EchoServer() as echo, FaultProxy(echo.address, rng=random.Random(seed),
                                                profile=profile) as proxy:
        r, w = await asyncio.open_connection(*proxy.address)
        await ping(r, w)  # the first one also pays the emulated TCP handshake
        out = []
        for _ in range(n):
            out.append(await ping(r, w) * 1000)
            await asyncio.sleep(gap)
        await close(w)
        return sorted(out)


async def test_good_profile_rtt_50_to_70_ms() -> None:
    r = await _measure("good", 30, 0.01, seed=1)
    # 50–70 ms ± 10 ms jitter; allow a few ms of event-loop slack on a busy machine
    assert r[0] >= 39
    assert 50 <= statistics.median(r) <= 75
    assert r[int(len(r) * 0.9)] <= 100


async def test_cell_edge_rtt_150_to_300_ms() -> None:
    r = await _measure("cell-edge", 12, 0.01, seed=2)
    assert r[0] >= 129
    assert 150 <= statistics.median(r) <= 340


async def test_first_exchange_pays_the_handshake() -> None:
    async with EchoServer() as echo, FaultProxy(echo.address, rng=random.Random(3),
                                                profile="good") as proxy:
        r, w = await asyncio.open_connection(*proxy.address)
        first = await ping(r, w)
        second = await ping(r, w)
        await close(w)
    assert first >= 0.080  # SYN/SYN-ACK plus the request: about two RTTs
    assert second < first
