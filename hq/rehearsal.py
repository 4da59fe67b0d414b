"""HQ's side of the rehearsal (リハーサル, 試験モード): the switch, the test ledger, and serving it.

Owns: the switch (HQDIR/rehearsal/state.json, written by ``meibo hq rehearsal start`` and removed
by ``finish``), the test ledger (HQDIR/rehearsal/hq.db, an ``HqStore`` of its own over a
``RehearsalDir``: same registry, certificates and contests as the election, the election id
``rehearsal_id(election)``), and ``RehearsalHost``, which a serving ``HqNode`` asks to serve a
link whose HELLO names the rehearsal's id. The report and ゼロ確認 are hq/rehearsal_report.py.

May import ground, appliance (dirs), sync_protocol and hq's store, ledger and session; never the
server (which imports this), the screens or the CLI.

Why the test records cannot leak: the test ledger is another file with another election id, so
its genesis hashes and batch signatures are the rehearsal's; the real ledger and its store never
see a rehearsal link (the server hands the whole WebSocket over before the real session is made,
and before the real store records the contact), and a rehearsal HELLO that reaches the real
session anyway is refused (``rehearsal_not_started``). While the switch is on, the stations with a
terminal in test mode (seen on a rehearsal link since the start, or named at the start) are
handed to the real sessions, whose ledger refuses every real check-in from them
(``station_in_rehearsal``) until ``finish``.

The serving loop here is a small copy of hq/server.py's (HELLO, BATCH, FLAGS, STATUS) with the
same ``HqSession`` and ``Ledger`` (the same verdict rules) and a plain serial commit instead of
the group commit: a rehearsal is a handful of terminals, and the real node's committer, fence and
rollback alarms must stay the real ledger's only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator

from aiohttp import WSMessage, WSMsgType, web

from appliance.dirs import HqDir, write_atomic
from ground.errors import IllegalTransition, MeiboError, UsageError
from ground.events import Event
from ground.model import ElectionConfig, TerminalId
from ground.rehearsal import rehearsal_id
from hq.ledger import Ledger
from hq.session import HqSession, SessionResult
from hq.store import HqStore
from sync_protocol.codec import Frame, FrameType, decode, encode
from sync_protocol.errors import FrameInvalid, SyncError

if TYPE_CHECKING:
    from hq.server import HqNode

log = logging.getLogger("meibo.hq.rehearsal")

AREA = "rehearsal"
STATE = "state.json"
ONLINE = "online.json"
_CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED)


class RehearsalError(UsageError):
    """A rehearsal command that cannot be done now (a clear Japanese message, a stable code)."""


@dataclass(frozen=True)
class RehearsalDir(HqDir):
    """HQDIR as the test ledger sees it: HQDIR's registry, certificates, keys and contests, but
    the rehearsal's election id, its own hq.db, and no published roll (the test roll of テスト
    voters is the terminals' own, so HQ does not check voters against its real roll)."""

    @property
    def area(self) -> Path:
        return self.root / AREA

    @property
    def hq_db(self) -> Path:
        return self.area / "hq.db"

    @property
    def roll_db(self) -> Path:
        return self.area / "roll.db"  # never made: no roll screening in the test ledger

    def config(self) -> ElectionConfig:
        real = super().config()
        return dataclasses.replace(real, election_id=rehearsal_id(real.election_id))


def area(hq: HqDir) -> Path:
    return hq.root / AREA


def read_state(hq: HqDir) -> dict[str, Any] | None:
    """The switch: None when off."""
    p = area(hq) / STATE
    try:
        d: dict[str, Any] = json.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as e:
        raise RehearsalError(f"リハーサルの状態ファイルが読めません: {p}: {e}", code="rehearsal_state_corrupt")
    return d


def write_state(hq: HqDir, state: dict[str, Any]) -> None:
    write_atomic(area(hq) / STATE, json.dumps(state, ensure_ascii=False, indent=1).encode("utf-8"))


def test_store(hq: HqDir) -> HqStore:
    """The test ledger's store: always SQLite in HQDIR/rehearsal, whatever the real store is."""
    area(hq).mkdir(parents=True, exist_ok=True)
    return HqStore(RehearsalDir(hq.root), store_url="sqlite")


def online_terminals(hq: HqDir) -> list[str]:
    """Terminals connected in test mode right now, as the serving HQ wrote them (none when the
    HQ that wrote the file is no longer running)."""
    p = area(hq) / ONLINE
    try:
        d = json.loads(p.read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return []
    pid = int(d.get("pid", 0))
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError, OverflowError, ValueError):
        return []
    return sorted(str(t) for t in d.get("terminals", []))


def seen_of_run(hq: HqDir, run: str) -> list[str]:
    """The terminals a serving HQ saw in test mode in rehearsal ``run`` (online.json)."""
    try:
        d = json.loads((area(hq) / ONLINE).read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return []
    return sorted(str(t) for t in d.get("seen", [])) if d.get("run") == run else []


def seen_terminals(store: HqStore) -> list[str]:
    """Every terminal that connected in test mode since the start (the test store's contacts)."""
    return sorted(store.contacts())


def destroy_area(hq: HqDir) -> list[str]:
    """Remove the test ledger and the switch; returns the files removed (relative names)."""
    a = area(hq)
    if not a.exists():
        return []
    gone = sorted(str(p.relative_to(hq.root)) for p in a.rglob("*") if p.is_file())
    shutil.rmtree(a)
    fd = os.open(hq.root, os.O_RDONLY)
    try:
        os.fsync(fd)  # the removal itself is durable before the proof says so
    finally:
        os.close(fd)
    return gone


async def _then(first: WSMessage, ws: web.WebSocketResponse) -> AsyncIterator[WSMessage]:
    """``first`` (already read) and then the rest of ``ws``, as ``async for msg in ws`` would."""
    if first.type in _CLOSED:
        return
    yield first
    async for msg in ws:
        yield msg


class RehearsalHost:
    """The serving HQ's rehearsal: routes a rehearsal HELLO to the test ledger while the switch
    is on, and names the stations whose real check-ins are refused meanwhile (module doc)."""

    def __init__(self, node: HqNode) -> None:
        self.node = node
        self.hq = node.hq
        self.election = node.ledger.election_id
        self.rid = rehearsal_id(self.election)
        self.store: HqStore | None = None
        self.ledger: Ledger | None = None
        self.run: str | None = None  # the open test ledger's rehearsal (its started_at)
        self.sessions: dict[str, set[tuple[HqSession, web.WebSocketResponse]]] = {}
        self.seen: set[str] = set()
        self.committed_flags = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hq-rehearsal")
        self._commit_lock = asyncio.Lock()
        self._state_key: tuple[float, int] | None = None
        self._state: dict[str, Any] | None = None
        self._stations: frozenset[str] = frozenset()

    # --- the switch ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any] | None:
        """The switch as the file says now (re-read only when the file changed)."""
        p = area(self.hq) / STATE
        try:
            st = p.stat()
            key = (st.st_mtime, st.st_ino)
        except FileNotFoundError:
            key = None
        if key != self._state_key:
            self._state_key = key
            try:
                self._state = read_state(self.hq) if key is not None else None
            except RehearsalError as e:
                log.error("%s", e.message)
                self._state = None
            run = str(self._state.get("started_at", "")) if self._state is not None else None
            if run != self.run:  # another rehearsal than the open test ledger's (or none): its own terminals
                self.seen = set(seen_of_run(self.hq, run)) if run is not None else set()
            self._restations()
        return self._state

    def _restations(self) -> None:
        st = self._state
        if st is None or st.get("election") != self.rid:
            self._stations = frozenset()
            return
        terms = set(st.get("terminals", [])) | self.seen
        reg = self.node.store.registry
        self._stations = frozenset(str(reg[t].station) for t in terms if t in reg)

    def stations(self) -> frozenset[str]:
        """Stations with a terminal in test mode: their real check-ins are refused."""
        self.state()
        return self._stations

    # --- the test ledger ----------------------------------------------------------------------
    async def io(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _open(self, run: str) -> None:
        if self.run == run and self.store is not None:
            return
        await self._close_store()
        self.store = await self.io(test_store, self.hq)
        self.ledger = await self.io(self.store.load, Ledger)
        self.seen = set(await self.io(seen_terminals, self.store))
        self.committed_flags = len(self.ledger.flags)
        self.run = run
        self._restations()

    async def _close_store(self) -> None:
        for conns in list(self.sessions.values()):
            for _, ws in list(conns):
                with contextlib.suppress(asyncio.TimeoutError, ConnectionError, RuntimeError):
                    await asyncio.wait_for(ws.close(code=4011, message=b"rehearsal_finished"), 2.0)
        if self.store is not None:
            await self.io(self.store.close)
        self.store = self.ledger = self.run = None
        self.seen = set()

    async def stop(self) -> None:
        await self._close_store()
        self._pool.shutdown(wait=True)

    def _write_online(self) -> None:
        """Who is connected in test mode now, and who has been since the start (``finish``
        refuses while anyone is connected; a restarted HQ remembers who was seen)."""
        names = sorted(t for t, conns in self.sessions.items() if conns)
        write_atomic(area(self.hq) / ONLINE, json.dumps({"pid": os.getpid(), "run": self.run, "terminals": names,
                                                         "seen": sorted(self.seen)}).encode())

    # --- serving ------------------------------------------------------------------------------
    async def route(self, ws: web.WebSocketResponse, terminal: TerminalId, serial: int, pending: Any,
                    peer: str) -> AsyncIterator[WSMessage] | None:
        """Read the link's first message. A rehearsal HELLO while the switch is on: served here
        to its end, and None returned. Anything else: the messages for the real session, the
        first one included (a rehearsal HELLO with the switch off among them: refused there)."""
        first = await ws.receive()
        frame: Frame | None = None
        if first.type is WSMsgType.BINARY:
            with contextlib.suppress(FrameInvalid):
                frame = decode(first.data)
        st = self.state()
        if (frame is None or frame.type is not FrameType.HELLO or frame.header.get("election") != self.rid
                or st is None or st.get("election") != self.rid):
            if st is None and self.store is not None and not any(self.sessions.values()):
                await self._close_store()  # finished meanwhile: the file may be gone already
            return _then(first, ws)
        await self._open(str(st.get("started_at", "")))
        await self._serve(ws, frame, terminal, serial, pending, peer)
        return None

    async def _serve(self, ws: web.WebSocketResponse, frame: Frame, terminal: TerminalId, serial: int,
                     pending: Any, peer: str) -> None:
        assert self.store is not None and self.ledger is not None
        node = self.node
        sess = HqSession(self.ledger, terminal, roll_version=node.roll_version,
                         contests=list(node.store.config.contest_ids),
                         certificate_current=lambda: node.store.certificate_current(terminal, serial))
        entry = (sess, ws)
        welcomed = False
        try:
            while True:
                if self.ledger is None or self.store is None:
                    break  # finished while connected
                sess.ledger = self.ledger
                try:
                    res: SessionResult = sess.receive(frame)
                except (SyncError, IllegalTransition) as e:
                    log.warning("rehearsal terminal %s: %s", terminal, e.message)
                    await ws.close(code=4001, message=e.code.encode())
                    break
                if frame.type is FrameType.HELLO and not res.close:
                    if pending is not None:
                        pending.hello()
                    self.sessions.setdefault(terminal, set()).add(entry)
                    if terminal not in self.seen:
                        self.seen.add(terminal)
                        self._restations()
                    await self.io(self.store.touch, terminal, peer, None)
                    await self.io(self._write_online)
                if res.radio is not None:
                    await self.io(self.store.touch, terminal, peer, json.dumps(res.radio, ensure_ascii=False))
                if res.alarm is not None:
                    await self.io(self.store.record_alarm, res.alarm)
                if res.to_commit:
                    self.ledger.apply_all(res.to_commit)
                if res.to_commit or res.pending_ack is not None or (res.send and not res.close):
                    try:
                        await self._commit(res.to_commit)
                    except MeiboError as e:  # not durable: no ACK; read the test ledger again
                        log.error("rehearsal commit failed: %s", e.message)
                        self.ledger = await self.io(self.store.load, Ledger)
                        self.committed_flags = len(self.ledger.flags)
                        break
                for f in res.send:
                    await self._send(ws, f)
                    if f.type is FrameType.WELCOME:
                        welcomed = True
                        for other in list(self.sessions.get(terminal, ())):
                            if other is not entry:
                                node.gate.close_soon(other[1], 4009, b"replaced")
                if res.pending_ack is not None:
                    await self._send(ws, sess.ack_frame(res.pending_ack))
                    await self._push_flags()
                elif frame.type is FrameType.HELLO and welcomed:
                    await self._send_flags(sess, ws)
                if res.close:
                    await ws.close(code=4002, message=b"refused")
                    break
                msg = await ws.receive()
                while msg.type is not WSMsgType.BINARY and msg.type not in _CLOSED and msg.type is not WSMsgType.ERROR:
                    msg = await ws.receive()
                if msg.type is not WSMsgType.BINARY:
                    break
                try:
                    frame = decode(msg.data)
                except FrameInvalid as e:
                    await ws.close(code=4001, message=e.code.encode())
                    break
        finally:
            conns = self.sessions.get(terminal, set())
            conns.discard(entry)
            if self.store is not None:
                with contextlib.suppress(MeiboError, OSError):
                    await self.io(self._write_online)

    async def _commit(self, events: list[Event]) -> None:
        """Durable (fsynced) before any reply, in the order the events were applied."""
        assert self.ledger is not None and self.store is not None
        flags_after = len(self.ledger.flags)
        refused = self.ledger.refusals_for(events)
        async with self._commit_lock:
            await self.io(self.store.commit, events, None, refused)
        self.committed_flags = max(self.committed_flags, flags_after)

    async def _push_flags(self) -> None:
        for conns in list(self.sessions.values()):
            for sess, ws in list(conns):
                await self._send_flags(sess, ws)

    async def _send_flags(self, sess: HqSession, ws: web.WebSocketResponse) -> None:
        while True:
            f = sess.flags_frame(self.committed_flags, self.node.settings.flags_per_frame)
            if f is None or ws.closed:
                return
            await self._send(ws, f)

    async def _send(self, ws: web.WebSocketResponse, frame: Frame) -> None:
        if self.node.fenced is not None:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_bytes(encode(frame))

    def figures(self) -> dict[str, Any] | None:
        """The test ledger's figures while it is open (the console shows them apart)."""
        if self.ledger is None:
            return None
        led = self.ledger
        return {"election": self.rid, "checkins": len(led.checkins), "alerts": len(led.active_alerts()),
                "online": sorted(t for t, c in self.sessions.items() if c), "seen": sorted(self.seen),
                "stations": sorted(self._stations)}


__all__ = ["RehearsalDir", "RehearsalHost", "RehearsalError", "read_state", "write_state", "test_store",
           "online_terminals", "seen_terminals", "seen_of_run", "destroy_area", "area"]
