"""Closing the proxy mid-transfer, mid-handshake or while black-holed leaves no task behind."""

from __future__ import annotations

import asyncio
import random

import pytest

from sync_protocol.fault_proxy import FaultProxy
from sync_protocol.lte_link import LinkConfigInvalid
from tests.integration.link_echo import EchoServer, close


async def test_close_with_busy_and_held_connections() -> None:
    async with EchoServer() as echo:
        proxy = FaultProxy(echo.address, rng=random.Random(0), profile="cell-edge")
        await proxy.start()
        r1, w1 = await asyncio.open_connection(*proxy.address)
        w1.write(b"z" * 200_000)  # still crossing a 1 Mbit/s uplink when we close
        r2, w2 = await asyncio.open_connection(*proxy.address)  # still in the emulated handshake
        await asyncio.sleep(0.3)
        proxy.down(reset=False)
        r3, w3 = await asyncio.open_connection(*proxy.address)  # black-holed
        await asyncio.sleep(0.05)
        before = {t for t in asyncio.all_tasks() if t.get_name().startswith("link-proxy")}
        assert before
        await proxy.close()
        after = {t for t in asyncio.all_tasks() if t.get_name().startswith("link-proxy")}
        assert not after
        assert proxy.stats().connections_active == 0
        for w in (w1, w2, w3):
            await close(w)


async def test_close_twice_is_harmless() -> None:
    async with EchoServer() as echo:
        proxy = FaultProxy(echo.address, rng=random.Random(0))
        await proxy.start()
        await proxy.close()
        await proxy.close()


async def test_upstream_that_refuses_resets_the_client() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    async with FaultProxy(("127.0.0.1", port), rng=random.Random(0), profile="ideal") as proxy:
        r, w = await asyncio.open_connection(*proxy.address)
        try:
            data = await asyncio.wait_for(r.read(), 2)
        except (ConnectionError, OSError):
            data = b""
        assert data == b""
        await close(w)
        assert proxy.stats().upstream_failures == 1


@pytest.mark.parametrize("host", ["192.168.1.1", "8.8.8.8", "hq.example.jp", "0.0.0.0"])
def test_only_local_targets_are_accepted(host: str) -> None:
    with pytest.raises(LinkConfigInvalid):
        FaultProxy((host, 443), rng=random.Random(0))
    with pytest.raises(LinkConfigInvalid):
        FaultProxy(("127.0.0.1", 443), rng=random.Random(0), listen=(host, 0))
