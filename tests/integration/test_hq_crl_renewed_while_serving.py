"""HQ keeps its revocation list current while it serves, with real TLS 1.3 and real client
certificates: a terminal connects after the CRL's old expiry because HQ re-issued it; with
renewal off the same expiry refuses everyone; a revocation is enforced in the TLS handshake at
once, without a restart; an operator re-issues through the admin socket or, HQ stopped, directly.

The lifetime is a setting (``CrlSettings.lifetime``): 4 s here instead of 2 days.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest

from ground.clock import SystemClock
from provisioning import pki
from provisioning.pki import CrlSettings, hq_server_name
from hq.store import update_registry
from hq.server import HqNode, HqSettings, serve
from sync_protocol.tls import client_context
from tests.integration.sync_env import Env, make_env
from tests.security_helpers import meibo

SHORT = timedelta(seconds=4)  # renewed when < 2 s are left: room for a loaded machine
ELECTION = "sync-test"


def short_settings(renew: bool = True) -> HqSettings:
    return HqSettings(crl=CrlSettings(lifetime=SHORT, check_interval_s=0.1, renew=renew))


async def start(env: Env, settings: HqSettings = HqSettings()) -> HqNode:
    env.node = HqNode(env.hq, settings, clock=SystemClock())
    env.runner = await serve(env.node, "127.0.0.1", env.port)
    return env.node


async def ws_connect(env: Env, tid: str, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    return await http.ws_connect(f"wss://127.0.0.1:{env.port}/sync", ssl=client_context(env.terminals[tid].tls),
                                 server_hostname=hq_server_name(ELECTION))


async def connects(env: Env, tid: str) -> bool:
    """A fresh TLS handshake and WebSocket upgrade: True if HQ accepts the terminal."""
    try:
        async with aiohttp.ClientSession() as http:
            ws = await ws_connect(env, tid, http)
            ok = not ws.closed
            await ws.close()
            return ok
    except aiohttp.ClientError:
        return False


async def raw_request(env: Env, tid: str, *, sni: bool = True) -> bytes:
    """One HTTP request over a bare TLS 1.3 socket; what HQ answers (b"" if it hangs up).
    Raises ssl.SSLError when HQ aborts the handshake with an alert."""
    ctx = client_context(env.terminals[tid].tls)
    if not sni:
        ctx.check_hostname = False
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", env.port, ssl=ctx, server_hostname=hq_server_name(ELECTION) if sni else None)
    try:
        writer.write(b"GET /nothing HTTP/1.1\r\nHost: hq\r\nConnection: close\r\n\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.read(64), 5)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ssl.SSLError, ConnectionError):
            pass


async def refused_in_tls(env: Env, tid: str) -> bool:
    try:
        return await raw_request(env, tid) == b""
    except (ssl.SSLError, ConnectionError):
        return True


def write_short_crl(env: Env) -> datetime:
    info = pki.write_crl(env.hq.pki, SystemClock(), set(), SHORT)
    return info.next_update


async def sleep_past(at: datetime, extra: float = 0.6) -> None:
    await asyncio.sleep(max(0.0, (at - datetime.now(timezone.utc)).total_seconds()) + extra)


async def test_terminal_connects_after_the_crl_was_renewed_past_its_old_expiry(tmp_path: Path) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    old_expiry = write_short_crl(env)
    node = await start(env, short_settings())
    try:
        async with aiohttp.ClientSession() as http:
            early = await ws_connect(env, "T01", http)  # established before the renewal
            await sleep_past(old_expiry)
            assert datetime.now(timezone.utc) > old_expiry
            info = pki.read_crl(env.hq.pki)
            assert info is not None and info.next_update > old_expiry
            assert node.crl.issued >= 1 and node.tls.reloads >= 1
            assert await connects(env, "T01"), "refused although HQ renewed its CRL"
            assert (await raw_request(env, "T01", sni=False)).startswith(b"HTTP/1.1 404")  # no SNI: same context
            await early.ping()
            assert not early.closed  # the link made before the swap keeps going
            await early.close()
        status = node.crl.status
        assert status["renew"] is True and status["serving"] is True and status["lifetime_s"] == 4.0
    finally:
        await env.stop_hq()
    from hq.crl_keeper import read_status

    assert (read_status(env.hq) or {}).get("serving") is False


async def test_expired_crl_with_renewal_off_refuses_every_terminal(tmp_path: Path) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    old_expiry = write_short_crl(env)
    node = await start(env, short_settings(renew=False))
    try:
        assert await connects(env, "T01")  # the same set-up works while the CRL is current
        await sleep_past(old_expiry)
        assert not await connects(env, "T01"), "an expired CRL must refuse the handshake"
        assert await refused_in_tls(env, "T01")
        info = pki.read_crl(env.hq.pki)
        assert info is not None and info.next_update == old_expiry and node.crl.issued == 0
    finally:
        await env.stop_hq()


async def test_revoked_terminal_is_refused_in_the_handshake_without_restart(tmp_path: Path) -> None:
    env = make_env(tmp_path, {"T01": "E01", "T02": "E02"})
    node = await start(env, HqSettings(crl=CrlSettings(check_interval_s=0.1)))
    try:
        assert await connects(env, "T02")
        assert (await raw_request(env, "T02")).startswith(b"HTTP/1.1 404")
        serial, = pki.serials_of_terminal(env.hq.pki, "T02")
        update_registry(env.hq, "T02", revoked=True, revoked_reason="紛失")  # the registry only: HQ writes the CRL
        t0 = time.monotonic()
        while node.tls.reloads == 0 and time.monotonic() - t0 < 3:
            await asyncio.sleep(0.05)
        assert node.tls.reloads >= 1, "HQ did not re-issue its CRL after the revocation"
        info = pki.read_crl(env.hq.pki)
        assert info is not None and serial in info.serials
        assert not await connects(env, "T02")
        # refused by TLS itself, not by the /sync handler: any other path answers HTTP to an
        # accepted certificate, a revoked one gets a dropped connection (asyncio does not flush
        # OpenSSL's alert, so the client sees EOF or, sometimes, the alert)
        assert await refused_in_tls(env, "T02")
        assert (await raw_request(env, "T01")).startswith(b"HTTP/1.1 404")
        assert await connects(env, "T01")  # everyone else still gets in
    finally:
        await env.stop_hq()


async def test_operator_renews_through_the_admin_socket_then_directly(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    node = await start(env, HqSettings(crl=CrlSettings(check_interval_s=30)))
    admin = await node.serve_admin()
    try:
        await asyncio.sleep(0.05)
        reloads = node.tls.reloads
        rc, out = await asyncio.to_thread(meibo, monkeypatch, capsys, "hq", "crl-renew", str(env.hq.root))
        assert rc == 0 and out["code"] == "ok" and out["via"] == "hq" and out["issued"], out
        assert node.tls.reloads == reloads + 1  # swapped in by the serving HQ, not on its next look
        assert await connects(env, "T01")
    finally:
        admin.close()
        await env.stop_hq()
        (env.hq.root / "hq.sock").unlink()
    rc, out = await asyncio.to_thread(meibo, monkeypatch, capsys, "hq", "crl-renew", str(env.hq.root))
    assert rc == 0 and out["via"] == "direct" and out["issued"], out
    after = pki.read_crl(env.hq.pki)
    assert after is not None and after.next_update > datetime.now(timezone.utc) + timedelta(days=1)


async def test_hq_revoke_in_another_writer_is_picked_up_without_restart(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(tmp_path, {"T01": "E01", "T02": "E02"})
    node = await start(env, HqSettings(crl=CrlSettings(check_interval_s=0.1)))
    try:
        assert await connects(env, "T01")
        rc, out = await asyncio.to_thread(meibo, monkeypatch, capsys, "hq", "revoke", str(env.hq.root), "T01",
                                          "--reason", "盗難")
        assert rc == 0, out  # the command writes the CRL itself; the serving HQ only has to notice
        t0 = time.monotonic()
        while node.tls.reloads == 0 and time.monotonic() - t0 < 3:
            await asyncio.sleep(0.05)
        assert node.tls.reloads >= 1
        assert await refused_in_tls(env, "T01")
        assert (await raw_request(env, "T02")).startswith(b"HTTP/1.1 404")
    finally:
        await env.stop_hq()


async def test_hq_revoke_goes_through_the_serving_hq_and_takes_effect_before_it_returns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(tmp_path, {"T01": "E01", "T02": "E02"})
    node = await start(env, HqSettings(crl=CrlSettings(check_interval_s=30)))  # its own look is far off
    admin = await node.serve_admin()
    try:
        assert await connects(env, "T01")
        await asyncio.sleep(0.05)
        reloads = node.tls.reloads
        rc, out = await asyncio.to_thread(meibo, monkeypatch, capsys, "hq", "revoke", str(env.hq.root), "T01",
                                          "--reason", "紛失")
        assert rc == 0, out
        assert node.tls.reloads == reloads + 1  # the serving HQ wrote and swapped in the CRL: one writer
        assert await refused_in_tls(env, "T01")
        assert (await raw_request(env, "T02")).startswith(b"HTTP/1.1 404")
    finally:
        admin.close()
        await env.stop_hq()
        (env.hq.root / "hq.sock").unlink()
