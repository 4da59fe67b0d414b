"""Rule 3 at HQ over the real link: replay changes nothing, tampering is refused, a forked
journal (a cloned terminal) raises the alarm and holds the terminal."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest
from nacl.signing import SigningKey

from appliance import journal
from appliance.dirs import TerminalDir
from ground.events import Event
from provisioning.pki import hq_server_name
from sync_protocol.codec import Frame, FrameType, decode, encode
from sync_protocol.session import TerminalLink
from sync_protocol.tls import client_context
from tests.integration.sync_env import make_env


async def _raw_session(env, tid: str, frames_after_welcome) -> list[Frame]:
    """Connect as ``tid`` with its real certificate, HELLO, then send the given frames."""
    tdir: TerminalDir = env.terminals[tid]
    got: list[Frame] = []
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"wss://127.0.0.1:{env.port}/sync", ssl=client_context(tdir.tls),
                                   server_hostname=hq_server_name("sync-test")) as ws:
            link = TerminalLink("sync-test", tid, "E01", SigningKey(tdir.device_key.read_bytes()))
            await ws.send_bytes(encode(link.connect(0, b"\0" * 32, 0, 0)))

            async def answer() -> bool:
                """Read until HQ's answer to what we sent (voted-flag pushes are skipped)."""
                while True:
                    msg = await ws.receive(timeout=3)
                    if msg.type is not aiohttp.WSMsgType.BINARY:
                        return False
                    f = decode(msg.data)
                    if f.type is not FrameType.FLAGS:
                        got.append(f)
                        return f.type is not FrameType.REFUSED

            if not await answer():
                return got
            for data in frames_after_welcome:
                await ws.send_bytes(data)
                if not await answer():
                    break
    return got


def _batch(env, tid: str, upto: int | None = None) -> bytes:
    t = env.terminal(tid)
    try:
        evs = journal.entries_after(t.store, 0, limit=10_000)[:upto]
        link = TerminalLink("sync-test", t.terminal_id, t.station.station_id,
                            SigningKey(env.terminals[tid].device_key.read_bytes()))
        link.state = link.state.READY
        from ground.events import genesis_hash

        return encode(link.batch(evs, genesis_hash("sync-test", t.terminal_id)))
    finally:
        t.close()


async def test_replayed_batch_changes_nothing(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    with env.terminal("T01") as t:
        t.checkin("100001", "c1")
        t.checkin("100002", "c1")
    node = await env.start_hq()
    try:
        data = _batch(env, "T01")
        got = await _raw_session(env, "T01", [data, data])
        assert [f.type for f in got] == [FrameType.WELCOME, FrameType.ACK, FrameType.ACK]
        assert got[1].header == got[2].header
        assert node.ledger.order == 2 and node.ledger.terminals["T01"].acked_seq == 2
        rows = node.store.store.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        assert rows == 2
    finally:
        await env.stop_hq()


async def test_tampered_batch_is_refused_and_nothing_applied(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    with env.terminal("T01") as t:
        t.checkin("100001", "c1")
    node = await env.start_hq()
    try:
        frame = decode(_batch(env, "T01"))
        ev = frame.events[0]
        forged = Event(ev.kind, ev.seq, ev.hlc, ev.terminal, {**ev.data, "voter": "100009"})
        data = encode(Frame(FrameType.BATCH, frame.header, (forged,)))
        got = await _raw_session(env, "T01", [data])
        assert got[-1].type is FrameType.REFUSED
        assert got[-1].header["code"] == "batch_signature_invalid"
        assert node.ledger.order == 0 and node.ledger.holder("100009", "governor") is None
        assert not node.ledger.terminals["T01"].held  # tampering in transit is not a clone
    finally:
        await env.stop_hq()


async def test_batch_signed_by_another_terminal_is_refused(tmp_path):
    env = make_env(tmp_path, {"T01": "E01", "T02": "E02"})
    with env.terminal("T02") as t:
        t.checkin("100001", "c1")
    node = await env.start_hq()
    try:
        got = await _raw_session(env, "T01", [_batch(env, "T02")])  # T02's batch over T01's link
        assert got[-1].type is FrameType.REFUSED
        assert got[-1].header["code"] == "batch_identity_mismatch"
        assert node.ledger.order == 0
    finally:
        await env.stop_hq()


@contextmanager
def _other_hardware(heads: Path) -> Iterator[None]:
    """A clone runs on other hardware, with its own head records (appliance/freshness.py): on this
    machine's it would be refused at open as a rolled-back store before HQ ever saw it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEIBO_HEAD_DIR", str(heads))
        yield


async def test_forked_journal_raises_clone_alarm_and_holds_terminal(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    clone_dir = tmp_path / "T01-clone"
    shutil.copytree(env.terminals["T01"].root, clone_dir)
    with env.terminal("T01") as t:
        t.checkin("100001", "c1")
    env.terminals["clone"] = TerminalDir(clone_dir)
    with _other_hardware(tmp_path / "clone-heads"):
        with env.terminal("clone") as t:
            t.checkin("100002", "c1")  # same terminal id, same seq 1, a different event
        clone_batch = _batch(env, "clone")
    node = await env.start_hq()
    try:
        got = await _raw_session(env, "T01", [_batch(env, "T01")])
        assert got[-1].type is FrameType.ACK
        got = await _raw_session(env, "T01", [clone_batch])
        assert got[-1].type is FrameType.REFUSED and got[-1].header["code"] == "clone_alarm"
        assert node.ledger.terminals["T01"].held
        assert [(a.terminal, a.seq) for a in node.ledger.alarms] == [("T01", 1)]
        # held: even the genuine terminal's next HELLO is refused until HQ staff act
        got = await _raw_session(env, "T01", [])
        assert got[0].type is FrameType.REFUSED and got[0].header["code"] == "terminal_held"
        # and the alarm survives a restart of HQ
        await env.stop_hq()
        node = await env.start_hq()
        assert node.ledger.terminals["T01"].held
    finally:
        await env.stop_hq()


async def test_batch_from_another_election_is_refused(tmp_path):
    env = make_env(tmp_path, {"T01": "E01"})
    with env.terminal("T01") as t:
        t.checkin("100001", "c1")
    node = await env.start_hq()
    try:
        t = env.terminal("T01")
        evs = journal.entries_after(t.store, 0)
        t.close()
        link = TerminalLink("other-election", "T01", "E01", SigningKey(env.terminals["T01"].device_key.read_bytes()))
        link.state = link.state.READY
        from ground.events import genesis_hash

        data = encode(link.batch(evs, genesis_hash("other-election", "T01")))
        got = await _raw_session(env, "T01", [data])
        assert got[-1].type is FrameType.REFUSED
        assert node.ledger.order == 0
    finally:
        await env.stop_hq()
