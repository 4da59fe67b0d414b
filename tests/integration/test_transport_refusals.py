"""特定通信 ① and ③ at the socket: only the election's enrolled, unrevoked terminals, TLS 1.3 only."""

from __future__ import annotations

import asyncio
import shutil
import ssl

import aiohttp
import pytest

from ground.clock import FixedClock
from hq.terminals import enroll_local, hq_init
from appliance.dirs import HqDir, TerminalDir
from provisioning.pki import hq_server_name
from hq.store import update_registry
from sync_protocol.tls import client_context
from tests.builders import EARLY_NOON, election_toml
from tests.integration.sync_env import checkin, make_env


async def _connect(env, ctx: ssl.SSLContext) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"wss://127.0.0.1:{env.port}/sync", ssl=ctx,
                                   server_hostname=hq_server_name("sync-test")) as ws:
            await ws.receive(timeout=2)


async def test_enrolled_terminal_connects(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    await env.start_hq()
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"wss://127.0.0.1:{env.port}/sync", ssl=client_context(env.terminals["T01"].tls),
                                       server_hostname=hq_server_name("sync-test"))
            assert not ws.closed
            await ws.close()
    finally:
        await env.stop_hq()


async def test_certificate_from_another_election_ca_is_refused(tmp_path):
    env = make_env(tmp_path / "a", {"T01": "E01"})
    other_cfg = tmp_path / "other.toml"
    other_cfg.write_text(election_toml(election_id="sync-test", hq_address=f"127.0.0.1:{env.port}"), "utf-8")
    other = HqDir(tmp_path / "other-hq")
    hq_init(other.root, other_cfg, FixedClock(EARLY_NOON))
    enroll_local(other.root, "T01", "E01", tmp_path / "rogue", FixedClock(EARLY_NOON))
    rogue = TerminalDir(tmp_path / "rogue")
    # the rogue trusts our HQ (it could copy ca.pem) but its certificate is from another CA
    ctx = client_context(rogue.tls)
    ctx.load_verify_locations(cafile=str(env.hq.pki / "ca.pem"))
    await env.start_hq()
    try:
        with pytest.raises(aiohttp.ClientError):
            await _connect(env, ctx)
        assert env.node.ledger.terminals["T01"].acked_seq == 0
    finally:
        await env.stop_hq()


async def test_tls12_client_is_refused(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    ctx = client_context(env.terminals["T01"].tls)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    await env.start_hq()
    try:
        with pytest.raises((aiohttp.ClientError, ssl.SSLError)):
            await _connect(env, ctx)
    finally:
        await env.stop_hq()


async def test_terminal_without_client_certificate_is_refused(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(env.hq.pki / "ca.pem"))
    await env.start_hq()
    try:
        with pytest.raises(aiohttp.ClientError):
            await _connect(env, ctx)
    finally:
        await env.stop_hq()


async def test_revocation_closes_the_link_at_once_and_keeps_earlier_events(tmp_path):
    env = make_env(tmp_path)
    node = await env.start_hq()
    b = env.agent("T02", budget=0.3)
    tb = asyncio.create_task(b.run())
    try:
        await asyncio.wait_for(b.online.wait(), 5)
        _, r1 = await checkin(b, "100010")
        assert not r1.provisional
        update_registry(env.hq, "T02", revoked=True, revoked_reason="紛失")
        for _ in range(60):
            if not node.sessions.get("T02"):
                break
            await asyncio.sleep(0.05)
        assert not node.sessions.get("T02"), "revoked terminal still connected"
        _, r2 = await checkin(b, "100011")
        assert r2.provisional  # refused by HQ: the station works on, provisionally
        assert node.ledger.holder("100010", "governor").terminal == "T02"  # earlier events stay valid
        assert node.ledger.holder("100011", "governor") is None
        with pytest.raises(aiohttp.ClientError):
            await _connect(env, client_context(env.terminals["T02"].tls))
    finally:
        b.stop()
        await asyncio.gather(tb, return_exceptions=True)
        await env.stop_hq()
