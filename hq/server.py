"""HQ's sync endpoint: aiohttp WebSocket over mutually authenticated TLS 1.3 (the I/O edge).

One ``HqNode`` per election: it owns the ledger, the durable store, and a session per connected
terminal. The terminal's identity comes from its TLS client certificate only (the HELLO must
agree). Accepted events are applied to the ledger in arrival order and committed in groups (one
fsync for whatever arrived meanwhile); nothing is acknowledged, and no voted flag is sent to
another terminal, before the commit that holds it has returned.

Revocation (``meibo hq revoke`` in another process) rewrites the registry; the node re-reads it
twice a second, closes the revoked terminal's connections and refuses it from then on.

Exactly one HQ gives verdicts: the node claims the store before it loads (store_db.py); when a
write finds another node has claimed it since (``Fenced``), this node stops at once: nothing
queued is acknowledged, no frame leaves it after but a REFUSED ``hq_fenced`` on each link, which
is then closed (the terminal takes it as "this node does not lead" and dials the next HQ node),
new connections are refused (503), and it stays down until an operator restarts it.
On PostgreSQL the leading node also holds the lead lock (hq/standby.py): a standby node waits for
it, takes over when the database releases it, and is handed to this class already warm.
A failed commit (the database lost, say) reloads the ledger from the store; while the store
cannot be read the reload is retried with back-off and nothing is acknowledged meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ground.clock import Clock, clock_from_arg
from appliance.dirs import HqDir
from ground.errors import IllegalTransition, MeiboError, StorageFailed, UsageError
from hq import ops as hq_ops
from ground.events import Event
from ground.model import TerminalId
from provisioning.pki import CrlSettings, cert_identity
from sync_protocol.codec import Frame, FrameType, decode, encode
from sync_protocol.errors import FrameInvalid, SyncError
from hq.listener import GatedSite, HelloGate
from hq.roll import published_version, zaigai_version_or_none
from hq.store import HqStore
from hq.store_db import Fenced, Leader
from hq.ledger import Ledger
from hq.session import HqSession, SessionResult
from hq.rehearsal import RehearsalHost
from hq.crl_keeper import CrlKeeper
from hq.nodes import node_name_of
from sync_protocol.tls import ServerTls

if TYPE_CHECKING:  # hq.standby imports psycopg: loaded only for a PostgreSQL store
    from hq.standby import LeadLock, Standby

log = logging.getLogger("meibo.hq")
ADMIN_SOCKET = "hq.sock"


@dataclass(frozen=True)
class HqSettings:
    heartbeat_s: float = 30.0  # WebSocket ping: keeps NAT/LTE bearers up, ~100 B a minute
    registry_poll_s: float = 0.5
    max_frame: int = 1 << 20
    flags_per_frame: int = 5000
    crl: CrlSettings = CrlSettings()  # the revocation list is re-issued while HQ serves
    # Until its HELLO a connection is pending (hq_listener.py): TCP accept to accepted HELLO
    # within the deadline (a terminal's own connect timeout is 5 s), and few at a time, in all
    # and from one source address (several terminals may share one behind a NAT).
    hello_deadline_s: float = 10.0
    max_pending_hello: int = 256
    max_pending_hello_per_addr: int = 32
    # the ledger's reload after a failed commit, while the store cannot be read: first wait, cap
    store_retry_initial_s: float = 0.2
    store_retry_max_s: float = 5.0
    lead_lock_poll_s: float = 0.5  # the lead lock (hq/standby.py) checked, and taken again after a lost session


# A fenced node's links: REFUSED hq_fenced, then closed 1013 "try again later": the terminal
# dials the next HQ node (sync_protocol/client.py's FENCED) instead of stopping as a refused one does
FENCED = "hq_fenced"
CLOSE_FENCED = 1013


class BindRefused(SyncError):
    code = "public_address_refused"


def check_bind_address(host: str, allow_loopback_dev: bool) -> None:
    """特定通信 ④: HQ binds only a closed-network (private) address, never a public one.
    Loopback is allowed only with the explicit development flag."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise BindRefused(f"待受アドレスは IP アドレスで指定してください: {host}", code="bind_not_ip")
    if ip.is_loopback:
        if not allow_loopback_dev:
            raise BindRefused("ループバックでの待受は開発用フラグ --dev-loopback を付けたときだけです",
                              code="loopback_needs_dev_flag")
        return
    if ip.is_unspecified:
        raise BindRefused("全アドレスでの待受（0.0.0.0 / ::）はできません", code="bind_unspecified")
    if not ip.is_private or ip.is_global:
        raise BindRefused(f"公開アドレスでは待ち受けません（閉域網のアドレスを指定してください）: {host}")


class HqNode:
    def __init__(self, hq: HqDir, settings: HqSettings = HqSettings(), ledger_cls: type[Ledger] = Ledger,
                 clock: Clock | None = None, store_url: str | None = None, node_name: str | None = None,
                 standby: Standby | None = None) -> None:
        self.hq = hq
        # a node made by ``hq add-node`` is named in its node.json (the console shows who leads)
        self.node_name = node_name or node_name_of(hq) or f"{socket.gethostname()}:{os.getpid()}"
        self.fenced: Fenced | None = None  # once set, this node answers nothing more (module doc)
        self._refusing: set[asyncio.Task[None]] = set()
        self.settings = settings
        self.tls = ServerTls(hq.pki)  # new handshakes use the current CRL (crl_keeper.py)
        self.crl = CrlKeeper(hq, settings.crl, clock, self.tls)
        self.store = HqStore(hq, clock, store_url, share_files=True, node=self.node_name)  # hq/store_db.py; None: election.toml's, else hq.db
        self.crl.shared = self.store.shared  # the other node's files pulled each look (hq/shared_files.py)
        # the lock tells a standby when this node is gone; the claim's fence decides who writes
        self.lead_lock: LeadLock | None = standby.lock if standby is not None else self._lead_lock()
        # claimed before the load: the node we take over from can commit nothing after it
        self.leadership: Leader = self.store.claim(self.node_name)
        log.warning("HQ node %s leads the store (epoch %s)", self.node_name, self.leadership.epoch)
        # a standby's ledger is warm: only the tail after the claim is read (hq/standby.py)
        self.ledger = standby.take_over(self.store) if standby is not None else self.store.load(ledger_cls)
        self.sessions: dict[str, set[tuple[HqSession, web.WebSocketResponse]]] = {}  # by TerminalId
        self.committed_flags = len(self.ledger.flags)
        # (events, the ledger they were applied to, the commit's future)
        self._queue: list[tuple[list[Event], Ledger, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # One thread owns the store's connection (SQLite or PostgreSQL): every write goes through ``io()``.
        self._io_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hq-store")
        self._stopping = False
        self._welcomed: set[HqSession] = set()
        self.gate = HelloGate(settings.hello_deadline_s, settings.max_pending_hello,
                              settings.max_pending_hello_per_addr)
        self.frames_in = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.rehearsal = RehearsalHost(self)  # a rehearsal HELLO goes to the test ledger (hq/rehearsal.py)

    def _lead_lock(self) -> LeadLock | None:
        if self.store.url.backend != "postgresql":
            return None  # hq.db: one HQ per file, no standby to tell
        from hq.standby import LeadLock  # lazy: psycopg loads only for a PostgreSQL store
        lock = LeadLock(self.store.url.dsn)
        with contextlib.suppress(StorageFailed):  # unreachable: the claim just below says so
            if not lock.take():
                log.warning("another HQ node holds the lead lock; this node claims the store anyway")
        return lock

    async def _keep_lead_lock(self, lock: LeadLock) -> None:
        """Hold the lead lock while this node leads: taken again after a lost session (a
        database restart); released once fenced, so the node that leads now can hold it."""
        held = True
        while self.fenced is None:
            try:
                was, held = held, await asyncio.to_thread(lock.take)
                if was and not held:  # said once, not every poll
                    log.warning("the lead lock is held by another node (this node is about to be fenced)")
            except StorageFailed as e:
                log.info("lead lock: store unreachable, retrying: %s", e.message)
            await asyncio.sleep(self.settings.lead_lock_poll_s)
        await asyncio.to_thread(lock.close)

    async def io(self, fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._io_pool, fn, *args)
        except Fenced as e:  # whichever write found it: the whole node stops
            self._fence(e)
            raise

    def _fence(self, e: Fenced) -> None:
        """Another node leads now: stop answering at once and stay down (module doc)."""
        if self.fenced is not None:
            return
        self.fenced = e
        log.critical("FENCED: another HQ node has claimed the store; this node (%s, epoch %s) stops "
                     "answering terminals and stays down until restarted: %s",
                     self.node_name, self.leadership.epoch, e.message)
        for _, _, fut in self._queue:  # never acknowledged: the terminal resends to the leader
            if not fut.done():
                fut.set_exception(e)
        self._queue = []
        refused = encode(Frame(FrameType.REFUSED, {"code": FENCED, "message": "この本部ノードは主系ではありません"}))
        for conns in list(self.sessions.values()):
            for _, ws in list(conns):
                task = asyncio.get_running_loop().create_task(self._refuse_fenced(ws, refused))
                self._refusing.add(task)  # held until done: the loop keeps only weak references
                task.add_done_callback(self._refusing.discard)

    async def _refuse_fenced(self, ws: web.WebSocketResponse, refused: bytes) -> None:
        # the one frame a fenced node still sends (``_send`` sends nothing once fenced)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_bytes(refused)
        self.gate.close_soon(ws, CLOSE_FENCED, FENCED.encode())

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._committer()), asyncio.create_task(self._watch_registry()),
                       asyncio.create_task(self.crl.run())]
        if self.lead_lock is not None:
            self._tasks.append(asyncio.create_task(self._keep_lead_lock(self.lead_lock)))

    async def stop(self) -> None:
        """Close every link first (handlers finish), then the committer, then the store."""
        self._stopping = True
        for conns in list(self.sessions.values()):
            for _, ws in list(conns):
                with contextlib.suppress(asyncio.TimeoutError, ConnectionError, RuntimeError):
                    await asyncio.wait_for(ws.close(), 2.0)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for _, _, fut in self._queue:  # never acknowledged: the terminal will resend
            if not fut.done():
                fut.set_exception(SyncError("本部を停止中です", code="hq_stopping"))
        self._queue = []
        await self.rehearsal.stop()
        await self.io(self.store.close)
        if self.lead_lock is not None:
            await asyncio.to_thread(self.lead_lock.close)
        self._io_pool.shutdown(wait=True)

    # --- group commit -----------------------------------------------------------------------
    async def commit(self, events: list[Event]) -> None:
        if self.fenced is not None:
            raise self.fenced
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((events, self.ledger, fut))
        self._wake.set()
        await fut

    async def _committer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            # applied to a ledger a reload has since replaced: not in memory any more, so never
            # stored either (the terminal resends it)
            stale = [fut for _, led, fut in batch if led is not self.ledger]
            batch = [b for b in batch if b[1] is self.ledger]
            for fut in stale:
                if not fut.done():
                    fut.set_exception(SyncError("本部の記録を読み直しました。再送してください", code="hq_commit_failed"))
            if not batch:
                continue
            flags_after = len(self.ledger.flags)
            events = [ev for evs, _, _ in batch for ev in evs]
            refused = self.ledger.refusals_for(events)  # decided on this thread, stored with them
            try:
                await self.io(self.store.commit, events, None, refused)
            except Fenced as fenced:  # _fence (in io) failed the queue's futures and closed the links
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(fenced)
                return  # stays down
            except Exception as raw:  # noqa: BLE001 — any failure: nothing of it is acknowledged
                e = raw if isinstance(raw, MeiboError) else SyncError(f"記録を保存できません: {raw}", code="hq_commit_failed")
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                if not events:  # only the barrier (the fence check) failed: the ledger is the disk's
                    log.error("store check failed, nothing acknowledged: %s", e.message)
                    continue
                # The ledger in memory is ahead of the disk: nothing of it may be acknowledged.
                log.error("commit failed, reloading ledger from disk: %s", e.message)
                if not await self._reload(e):
                    return
                await self._close_all()
                continue
            self.committed_flags = max(self.committed_flags, flags_after)
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_result(None)
            await self.push_flags()

    async def _reload(self, why: MeiboError) -> bool:
        """The ledger again from what the store holds, retried with back-off while the store
        cannot be read (a database restarting): the committer must outlive it. Meanwhile every
        commit asked for fails (no ack), as the failed one did. False once fenced."""
        delay = self.settings.store_retry_initial_s
        while True:
            try:
                self.ledger = await self.io(self.store.load, type(self.ledger))
            except Fenced:
                return False
            except MeiboError as e:
                log.error("ledger reload failed, retrying in %.1f s: %s", delay, e.message)
                for _, _, fut in self._queue:
                    if not fut.done():
                        fut.set_exception(why)
                self._queue = []
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.store_retry_max_s)
                continue
            self.committed_flags = len(self.ledger.flags)
            return True

    async def push_flags(self) -> None:
        for conns in list(self.sessions.values()):
            for sess, ws in list(conns):
                await self._send_flags(sess, ws)

    async def _send_flags(self, sess: HqSession, ws: web.WebSocketResponse) -> None:
        if sess not in self._welcomed:  # never a FLAGS frame before the WELCOME
            return
        while True:
            f = sess.flags_frame(self.committed_flags, self.settings.flags_per_frame)
            if f is None or ws.closed:
                return
            await self._send(ws, f)

    async def _send(self, ws: web.WebSocketResponse, frame: Frame) -> None:
        if self.fenced is not None:  # another node leads: nothing more leaves this one
            return
        data = encode(frame)
        self.bytes_out += len(data)
        try:
            await ws.send_bytes(data)
        except (ConnectionError, RuntimeError):
            pass

    async def _close_all(self) -> None:
        for conns in list(self.sessions.values()):
            for _, ws in list(conns):
                await ws.close()

    # --- registry / revocation --------------------------------------------------------------
    async def _watch_registry(self) -> None:
        while True:
            await asyncio.sleep(self.settings.registry_poll_s)
            await self.refresh_registry()

    async def refresh_registry(self) -> None:
        if not await self.io(self.store.refresh_registry, None):
            return
        self.store.register_all(self.ledger)
        for terminal, conns in list(self.sessions.items()):
            rec = self.store.registry.get(terminal)
            if rec is not None and rec.revoked and conns:
                log.warning("terminal %s revoked: closing its connections", terminal)
            for sess, ws in list(conns):
                if rec is not None and rec.revoked:
                    await ws.close(code=4003, message=b"revoked")
                elif not sess.certificate_current():
                    # re-enrolled (--replace) while the old machine was connected: the CRL only
                    # stops its next handshake, so the link it holds is closed here
                    log.warning("terminal %s re-enrolled: closing the old certificate's link", terminal)
                    await ws.close(code=4003, message=b"certificate_replaced")

    # --- one connection ---------------------------------------------------------------------
    def peer_identity(self, request: web.Request) -> tuple[TerminalId, int] | None:
        """(terminal, certificate serial) of an enrolled, unrevoked terminal of this election.
        A certificate of the terminal's replaced identity passes here: its session refuses it
        with ``certificate_replaced`` (HqSession), so the old machine is told why."""
        sslobj = request.transport.get_extra_info("ssl_object") if request.transport else None
        if sslobj is None:
            return None
        der = sslobj.getpeercert(binary_form=True)
        ident = cert_identity(der) if der else None
        if ident is None:
            return None
        election, named, station, serial = ident
        terminal = TerminalId(named)
        rec = self.store.registry.get(terminal)
        if election != self.ledger.election_id or rec is None or rec.revoked:
            return None
        # an old certificate may name the station the terminal was moved from
        if rec.station != station and self.store.certificate_current(terminal, serial):
            return None
        return terminal, serial

    async def handle(self, request: web.Request) -> web.StreamResponse:
        pending = self.gate.find(request)  # counted and on its deadline until the HELLO
        if self.fenced is not None:
            raise web.HTTPServiceUnavailable(text="hq_fenced: another HQ node leads")
        if await self.io(self.store.refresh_registry, None):
            self.store.register_all(self.ledger)
        ident = self.peer_identity(request)
        if ident is None:
            raise web.HTTPForbidden(text="unknown or revoked terminal")
        terminal, serial = ident
        ws = web.WebSocketResponse(heartbeat=self.settings.heartbeat_s, max_msg_size=self.settings.max_frame,
                                   compress=False)
        await ws.prepare(request)
        if pending is not None:
            pending.ws = ws  # from now on the deadline closes with 4008, not by dropping the socket
        # a HELLO for the rehearsal's id is served by the test ledger, before anything here sees it
        msgs = await self.rehearsal.route(ws, terminal, serial, pending, request.remote or "")
        if msgs is None:
            return ws
        sess = HqSession(self.ledger, terminal, roll_version=self.roll_version,
                         contests=list(self.store.config.contest_ids),
                         zaigai_version=lambda: zaigai_version_or_none(self.hq),
                         certificate_current=lambda: self.store.certificate_current(terminal, serial),
                         rehearsing=self.rehearsal.stations)
        entry = (sess, ws)
        # a replaced certificate is refused at HELLO; meanwhile it is not the terminal online
        listed = sess.certificate_current()
        if listed:
            self.sessions.setdefault(terminal, set()).add(entry)
        peer = request.remote or ""
        try:
            if listed:
                await self._touch(terminal, peer, None)
            async for msg in msgs:
                if msg.type is not WSMsgType.BINARY:
                    if msg.type in (WSMsgType.TEXT,):
                        await ws.close(code=4000, message=b"binary frames only")
                    continue
                self.bytes_in += len(msg.data)
                self.frames_in += 1
                try:
                    frame = decode(msg.data)
                    sess.ledger = self.ledger  # a reload may have replaced it
                    res: SessionResult = sess.receive(frame)
                    if pending is not None and frame.type is FrameType.HELLO and not res.close:
                        pending.hello()
                except (FrameInvalid, SyncError, IllegalTransition) as e:
                    log.warning("terminal %s: %s", terminal, e.message)
                    if isinstance(e, IllegalTransition):  # a frame out of turn: said, then closed
                        with contextlib.suppress(ConnectionError, RuntimeError):
                            await self._send(ws, Frame(FrameType.REFUSED, {"code": e.code, "message": f"手順にないフレームです（{e.message}）"}))
                    await ws.close(code=4001, message=e.code.encode())
                    break
                if res.radio is not None:
                    await self._touch(terminal, peer, json.dumps(res.radio, ensure_ascii=False))
                if res.alarm is not None:
                    await self.io(self.store.record_alarm, res.alarm)
                    log.error("clone alarm for %s at seq %s", terminal, res.alarm.seq)
                if res.rolled_back is not None:  # HQ went back in time: the console shows it in red
                    await self.io(self.store.record_rollback, terminal, *res.rolled_back)
                    log.error("HQ holds %s of terminal %s's events, which had %s acknowledged: HQ was rolled back",
                              res.rolled_back[0], terminal, res.rolled_back[1])
                # Every reply (WELCOME, ACK, verdicts) waits until everything applied before it is
                # durable, not just this batch: a verdict or an acked seq resting on an event that
                # a crash could still lose must never leave HQ. With nothing new, an empty commit is
                # that barrier (the committer keeps arrival order).
                if res.to_commit:
                    refused_before = len(self.ledger.refusals)
                    self.ledger.apply_all(res.to_commit)
                    for r in self.ledger.refusals[refused_before:]:  # in the report; never a ballot
                        log.error("terminal %s seq %s not counted: %s", r.terminal, r.seq, r.code)
                if res.to_commit or res.pending_ack is not None or (res.send and not res.close):
                    try:
                        await self.commit(res.to_commit)
                    except MeiboError:  # not durable: no ACK; the terminal resends
                        break
                for f in res.send:
                    await self._send(ws, f)
                    if f.type is FrameType.WELCOME:
                        self._welcomed.add(sess)
                        # One live link per terminal: the one that just said HELLO. An older one
                        # is most often a half-dead bearer the terminal gave up on; closed in the
                        # background, as its peer may never answer the close.
                        for other in list(self.sessions.get(terminal, ())):
                            if other is not entry:
                                self.gate.close_soon(other[1], 4009, b"replaced")
                if res.pending_ack is not None:
                    await self._send(ws, sess.ack_frame(res.pending_ack))
                    await self._send_flags(sess, ws)
                elif frame.type.name == "HELLO" and not res.close:
                    await self._send_flags(sess, ws)
                if res.close:
                    await ws.close(code=4002, message=b"refused")
                    break
        except Fenced:  # said loudly by _fence, which closes this link with the others
            pass
        finally:
            self.sessions.get(terminal, set()).discard(entry)
            self._welcomed.discard(sess)
            if listed and not self._stopping and self.fenced is None:
                await self._touch(terminal, peer, None)
        return ws

    async def _touch(self, terminal: TerminalId, peer: str, signal: str | None) -> None:
        """When a terminal was last heard from: the console's fact, nothing is acknowledged on it,
        so a store that cannot take it now (the database restarting) costs the row, not the link."""
        try:
            await self.io(self.store.touch, terminal, peer, signal)
        except StorageFailed as e:
            log.warning("contact of terminal %s not recorded: %s", terminal, e.message)

    def roll_version(self) -> int:
        try:
            return published_version(self.hq)
        except (MeiboError, OSError, ValueError):
            return 0

    # --- admin socket (other HQ commands while serving; local IPC only) ---------------------
    async def serve_admin(self) -> asyncio.AbstractServer:
        path = self.hq.root / ADMIN_SOCKET
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        server = await asyncio.start_unix_server(self._admin_client, path=str(path))
        os.chmod(path, 0o600)
        return server

    async def _admin_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            req = json.loads(await reader.readline() or b"{}")
            out = await self.admin(req)
        except MeiboError as e:
            out = e.as_dict()
        except (ValueError, KeyError, TypeError) as e:
            out = {"status": "error", "code": "bad_request", "message": str(e)}
        writer.write(json.dumps(out, ensure_ascii=False, default=str).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def admin(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        clock = clock_from_arg(req.get("now"))
        if op == "report":
            # on the loop's thread: the ledger is only ever touched there (reads of the store are safe)
            return hq_ops.report(self.store, self.ledger, self.online())
        if op == "absentee":
            out, events = hq_ops.record_absentee(self.store, self.ledger, str(req["voter"]), req.get("contests"), clock)
            await self.commit(events)
            return out
        if op == "absentee_notice":
            out, events = hq_ops.record_absentee_notice(self.ledger, str(req["voter"]), list(req["contests"]),
                                                        str(req["state"]), clock)
            await self.commit(events)
            return out
        if op == "import":
            alarms: list[Any] = []
            try:
                out, events = hq_ops.import_journal(self.ledger, Path(req["path"]), alarms.append)
            except MeiboError:
                for al in alarms:
                    await self.io(self.store.record_alarm, al)
                self.ledger = await self.io(self.store.load, type(self.ledger))  # nothing of a bad file stays
                self.committed_flags = len(self.ledger.flags)
                raise
            await self.commit(events)
            return out
        if op == "leader":  # which node leads the store and since when (the console's fact)
            led = await self.io(self.store.leader)
            return {"status": "ok", "code": "leader", "node": led.node, "epoch": led.epoch, "since": led.since,
                    "this_node": self.node_name, "fenced": self.fenced is not None}
        if op == "crl_renew":
            return await self.crl.renew_now(clock if req.get("now") else None)
        if op == "alert":
            return await self.io(hq_ops.set_alert, self.store, self.ledger, int(req["id"]),  # type: ignore[no-any-return]
                                 str(req["state"]), str(req["who"]), str(req.get("note", "")), clock)
        raise UsageError(f"unknown admin op {op!r}", code="bad_request")

    def online(self) -> set[str]:
        return {t for t, conns in self.sessions.items() if conns}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_frame)
        app.router.add_get("/sync", self.handle)
        return app


async def serve(node: HqNode, host: str, port: int, ssl_ctx: ssl.SSLContext | None = None) -> web.AppRunner:
    """Start the node on host:port; returns the runner (``await runner.cleanup()`` to stop)."""
    await node.start()
    runner = web.AppRunner(node.app(), access_log=None, handle_signals=False, shutdown_timeout=3.0)
    await runner.setup()
    # not web.TCPSite: every connection is counted and on a deadline from TCP accept (hq_listener.py)
    site = GatedSite(runner, host, port, ssl_ctx or node.tls.listener, node.gate)
    await site.start()
    return runner
