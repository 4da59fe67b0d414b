"""Issue 16 part 2, with real TLS 1.3: terminal T01 enrolled by ``meibo hq enroll-local`` and
re-enrolled with ``--replace``. The old machine keeps its CA-signed certificate naming T01; it must
get no WELCOME. The CRL refuses it in the handshake (a link it already held is closed at once), and
that holds after an HQ restart and after ``meibo hq crl-renew``; the new T01 syncs throughout. Where
TLS still runs on the CRL from before the replacement, HQ's session refuses the old certificate
itself (``certificate_replaced``) and never shows it as the terminal online.

With TLS 1.3 a client certificate refused by the server shows as a dropped connection
(aiohttp.ClientError), not as an alert the client can read.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509

from hq.terminals import enroll_local
from appliance.dirs import TerminalDir
from appliance.store import Store
from appliance.terminal import Terminal
from provisioning import pki
from provisioning.pki import CrlSettings, hq_server_name
from sync_protocol.client import SyncAgent, SyncSettings
from hq.server import HqNode, HqSettings, serve
from sync_protocol.tls import client_context
from tests.builders import TEST_PIN, insert_voters, open_station
from tests.integration.sync_env import VOTERS, Env, checkin, make_env
from tests.security_helpers import meibo

FAST = HqSettings(crl=CrlSettings(check_interval_s=0.1))


async def until(cond: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait for ``cond`` (an event HQ or a terminal reaches), failing with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def start(env: Env, settings: HqSettings) -> HqNode:
    env.node = HqNode(env.hq, settings, clock=env.clock)
    env.runner = await serve(env.node, "127.0.0.1", env.port)
    return env.node


def agent(env: Env, tdir: TerminalDir) -> SyncAgent:
    return SyncAgent(tdir, Terminal.open(tdir, env.clock),
                     SyncSettings(verdict_budget_s=1.5, backoff_initial_s=0.05, backoff_max_s=0.2))


def serial_of(tdir: TerminalDir) -> int:
    return x509.load_pem_x509_certificate((tdir.tls / "client.pem").read_bytes()).serial_number


async def old_certificate_connects(env: Env, tdir: TerminalDir) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"wss://127.0.0.1:{env.port}/sync", ssl=client_context(tdir.tls),
                                   server_hostname=hq_server_name("sync-test")) as ws:
            await ws.receive(timeout=2)


def old_machine(env: Env, tmp: Path) -> TerminalDir:
    """The machine T01 runs on today: its own disk (a copy made before the replacement)."""
    shutil.copytree(env.terminals["T01"].root, tmp / "old-T01")
    tdir = TerminalDir(tmp / "old-T01")
    open_station(tdir)
    return tdir


async def replace_t01(env: Env) -> TerminalDir:
    """``meibo hq enroll-local --replace`` for T01 (another process, so: a thread), then the new
    machine opened and loaded as make_env does."""
    out = env.terminals["T01"].root
    await asyncio.to_thread(enroll_local, env.hq.root, "T01", "E01", out, env.clock, replace=True, pin=TEST_PIN)
    tdir = TerminalDir(out)
    open_station(tdir)
    store = Store(tdir.store_path)
    insert_voters(store, VOTERS)
    store.close()
    env.terminals["T01"] = tdir
    return tdir


async def new_t01_syncs(env: Env, tdir: TerminalDir, voter_id: str) -> None:
    a = agent(env, tdir)
    task = asyncio.create_task(a.run())
    try:
        await asyncio.wait_for(a.online.wait(), 5)
        _, r = await checkin(a, voter_id)
        assert r is not None and not r.provisional, "the new T01 could not sync"
        assert env.node is not None and env.node.ledger.holder(voter_id, "governor").terminal == "T01"
    finally:
        a.stop()
        await asyncio.gather(task, return_exceptions=True)


async def test_old_certificate_refused_in_tls_after_replace_restart_and_crl_renew(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env = make_env(tmp_path)
    old_dir = old_machine(env, tmp_path)
    old_serial = serial_of(old_dir)
    node = await start(env, FAST)
    old, t2 = agent(env, old_dir), agent(env, env.terminals["T02"])
    tasks = [asyncio.create_task(old.run()), asyncio.create_task(t2.run())]
    try:
        await asyncio.wait_for(asyncio.gather(old.online.wait(), t2.online.wait()), 5)
        _, r = await checkin(t2, "100010")
        assert r is not None and not r.provisional
        assert "T01" in node.online()
        reloads = node.tls.reloads

        new_dir = await replace_t01(env)
        assert serial_of(new_dir) != old_serial
        info = pki.read_crl(env.hq.pki)
        assert info is not None and old_serial in info.serials  # on the CRL when the command returns
        # the link the old machine held is closed at once; HQ swaps the new CRL in
        await until(lambda: "T01" not in node.online(), "the old certificate's link is still open")
        await until(lambda: node.tls.reloads > reloads, "HQ did not load the new CRL")
        with pytest.raises(aiohttp.ClientError):
            await old_certificate_connects(env, old_dir)
        assert not old.online.is_set()
        await new_t01_syncs(env, new_dir, "100011")

        await env.stop_hq()  # restart: the registry and the CRL on disk still say so
        node = await start(env, FAST)
        with pytest.raises(aiohttp.ClientError):
            await old_certificate_connects(env, old_dir)
        await new_t01_syncs(env, new_dir, "100012")
        await env.stop_hq()

        rc, out = await asyncio.to_thread(meibo, monkeypatch, capsys, "hq", "crl-renew", str(env.hq.root))
        assert rc == 0 and out["via"] == "direct" and out["issued"], out
        info = pki.read_crl(env.hq.pki)
        assert info is not None and old_serial in info.serials and serial_of(new_dir) not in info.serials
        node = await start(env, FAST)
        with pytest.raises(aiohttp.ClientError):
            await old_certificate_connects(env, old_dir)
        await new_t01_syncs(env, new_dir, "100013")
        assert not old.online.is_set() and old.link.acked_seq == 0
    finally:
        old.stop()
        t2.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await env.stop_hq()


async def test_hq_session_refuses_the_replaced_certificate_while_tls_has_the_old_crl(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    old_dir = old_machine(env, tmp_path)
    # HQ's own look at the CRL is an hour off: its TLS context keeps the CRL it started with
    node = await start(env, HqSettings(crl=CrlSettings(check_interval_s=3600)))
    t2 = agent(env, env.terminals["T02"])
    tasks = [asyncio.create_task(t2.run())]
    try:
        await asyncio.wait_for(t2.online.wait(), 5)
        _, r = await checkin(t2, "100010")
        assert r is not None and not r.provisional
        new_dir = await replace_t01(env)

        old = agent(env, old_dir)
        tasks.append(asyncio.create_task(old.run()))
        await until(lambda: old.refused == "certificate_replaced", "HQ did not refuse the old certificate")
        assert node.tls.reloads == 0  # the handshake did let it in: the session refused it
        assert not old.online.is_set() and old.link.acked_seq == 0  # no WELCOME ever
        assert "T01" not in node.online() and "T01" not in node.store.contacts()  # not shown online
        await new_t01_syncs(env, new_dir, "100011")
        assert old.refused == "certificate_replaced" and not old.online.is_set()
    finally:
        for a in (t2,) + ((old,) if len(tasks) > 1 else ()):
            a.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await env.stop_hq()
