"""The terminal's sync agent (``meibo terminal run``): keeps one link to HQ, ships the journal,
waits for verdicts, applies voted flags from elsewhere. The I/O edge around ``TerminalLink``.

Check-ins are always recorded locally first (appliance.terminal, fsynced). ``resolve(seq)``
then waits up to the verdict budget for HQ's answer on every handed contest and records the
outcome *before* the poll worker is told: ``withheld`` for contests HQ says were already voted
(no ballot; not a double vote), ``provisional`` when any verdict is missing (オフライン受付).
A verdict that arrives after the budget and says ALREADY_VOTED is a late alert on the terminal.

HQ may run on several nodes (election.toml's ``[hq] addresses``), one of which leads: the agent
stays on a node while it works and, when the node is lost (cannot connect, the link drops, or it
refuses with ``hq_fenced``: it does not lead), dials the next one with that node's back-off
(``hq_nodes.HqNodes``). Every node presents a certificate for the one HQ name
``hq.<election>.meibo``, checked against the pinned election CA: the terminal talks to no one else.

Other processes on the same terminal directory (``meibo terminal checkin``) reach a running
agent over a Unix socket in TDIR (local IPC only; the terminal listens on no network port,
特定通信 ②). Without an agent they run ``resolve_direct``: the same agent, for one check-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from nacl.signing import SigningKey

from appliance import journal
from appliance.dirs import TerminalDir
from appliance.procedures import apply_absentee_notice
from ground.clock import Clock, SystemClock
from ground.errors import IllegalTransition, MeiboError
from ground.events import EventKind, genesis_hash
from ground.model import StationId, TerminalId
from ground.rehearsal import real_id
from appliance.store import Store
from appliance.terminal import Terminal, VotedFlag
from provisioning.pki import hq_server_name
from sync_protocol.codec import Frame, decode, encode
from sync_protocol.errors import FrameInvalid
from sync_protocol.hq_nodes import HqNodes
from sync_protocol.session import (ALL_CONTESTS, LinkActions, LinkState, TerminalLink, TerminalVerdict,
                                  outcome_for)
from sync_protocol.tls import client_context

log = logging.getLogger("meibo.terminal")

META_ACKED = "sync.acked_seq"
META_CURSOR = "sync.flag_cursor"
META_MARK = "sync.flag_mark"  # HQ's stream identity at the cursor (FlagLog.mark)
META_LAST_SYNC = "sync.last_contact"
META_REFUSED = "sync.refused"
FENCED = "hq_fenced"  # REFUSED code (and close message) of an HQ node that does not lead: try the next one
SOCKET_NAME = "agent.sock"
# FLAGS_ACK is lazy (issue 20: one per FLAGS frame was ~45 B per check-in per terminal on the
# wire): HQ only keeps the cursor for its own view, resume goes by HELLO's cursor and mark. Sent
# once this many flags are applied since the last one, else at most every FLAGS_ACK_PERIOD_S.
FLAGS_ACK_EVERY = 1000
FLAGS_ACK_PERIOD_S = 5.0


@dataclass(frozen=True)
class SyncSettings:
    verdict_budget_s: float = 1.5  # how long a check-in waits for HQ before オフライン受付
    connect_timeout_s: float = 5.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 30.0
    backoff_jitter: float = 0.5  # ± fraction, so a hundred terminals do not reconnect in step
    heartbeat_s: float = 30.0
    max_batch: int = 500
    journal_poll_s: float = 1.0  # look for entries other processes appended
    offline_grace_s: float = 0.3  # the verdict wait when the link is already known to be down


@dataclass
class Resolution:
    seq: int
    withheld: list[str]
    provisional: bool
    verdicts: list[TerminalVerdict] = field(default_factory=list)


@dataclass
class LateAlert:
    """HQ's ALREADY_VOTED for a check-in that was already handed out provisionally."""

    seq: int
    contest: str
    station: StationId
    terminal: TerminalId
    hlc: int


def expand_verdicts(verdicts: list[TerminalVerdict], contests: list[str]) -> list[TerminalVerdict]:
    """Turn HQ's "every contest accepted" shorthand into one verdict per contest."""
    out: list[TerminalVerdict] = []
    for v in verdicts:
        if v.contest == ALL_CONTESTS:
            out.extend(TerminalVerdict(v.seq, c, True) for c in contests)
        else:
            out.append(v)
    return out


def _nodes_to_dial(override: str | None, addresses: Sequence[str] | None, enrolled: str,
                   configured: Sequence[str]) -> list[str]:
    """The HQ nodes in the order to try: an explicit list or address (``--hq``) as given; else
    election.toml's nodes when terminal.toml's enrolled address is one of them; else the enrolled
    address alone (a terminal.toml that disagrees with election.toml: ``meibo compliance`` says so)."""
    if addresses:
        return list(addresses)
    if override:
        return [override]
    return list(configured) if enrolled in configured else [enrolled]


def _hostport(addr: str) -> tuple[str, int]:
    host, port = addr.rsplit(":", 1)
    return host.strip("[]"), int(port)


class SyncAgent:
    def __init__(self, tdir: TerminalDir, terminal: Terminal, settings: SyncSettings = SyncSettings(),
                 rng: random.Random | None = None, hq_address: str | None = None,
                 clock: Clock | None = None, hq_addresses: Sequence[str] | None = None) -> None:
        self.tdir = tdir
        self.term = terminal
        self.settings = settings
        self.rng = rng or random.Random()
        self.clock: Clock = clock or SystemClock()  # when HQ was last heard from
        ident = tdir.identity()
        self.nodes = HqNodes(_nodes_to_dial(hq_address, hq_addresses, ident.hq_address, terminal.config.hq_nodes),
                             settings.backoff_initial_s, settings.backoff_max_s, settings.backoff_jitter)
        self.key = SigningKey(tdir.device_key.read_bytes())
        self.link = TerminalLink(terminal.config.election_id, terminal.terminal_id, terminal.station.station_id,
                                 self.key, max_batch=settings.max_batch)
        self.link.acked_seq = int(self.store.get_meta(META_ACKED, "0") or 0)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._waiters: dict[int, asyncio.Future[list[TerminalVerdict]]] = {}
        self._verdicts: dict[int, list[TerminalVerdict]] = {}
        self._resolved: set[int] = set()
        self.late_alerts: list[LateAlert] = []
        self.online = asyncio.Event()
        self._stop = asyncio.Event()
        self._kick = asyncio.Event()
        self.bytes_out = 0
        self.bytes_in = 0
        self.last_contact: float | None = None
        self.refused: str | None = None
        self.hq_roll_version: int | None = None
        self.hq_contests: list[str] | None = None
        self.hq_zaigai_version: int | None = None  # HQ's published 在外選挙人名簿 version (WELCOME)
        self.radio: dict[str, Any] | None = None
        self._radio_dirty = False
        self._ssl: ssl.SSLContext | None = None
        self._refused_now: str | None = None  # the REFUSED code of the link that just ended
        self._flags_acked = 0  # the cursor of the last FLAGS_ACK on this link (HELLO's at first)
        self._flags_applied: int | None = None  # applied, not yet acknowledged to HQ
        self._flags_acked_at = 0.0  # time.monotonic() of that FLAGS_ACK

    @property
    def store(self) -> Store:
        return self.term.store

    @property
    def hq_address(self) -> str:
        """The HQ node the agent is on (or dials next)."""
        return self.nodes.current

    # --- public ------------------------------------------------------------------------------
    def pending(self) -> int:
        """Journal entries HQ has not yet acknowledged."""
        return journal.head(self.store).seq - self.link.acked_seq

    async def resolve(self, seq: int, contests: list[str], budget_s: float | None = None) -> Resolution:
        """Wait for HQ's verdict on check-in ``seq`` and record the outcome before returning."""
        budget = self.settings.verdict_budget_s if budget_s is None else budget_s
        if not self.online.is_set():
            # The link is known to be down: tell the poll worker オフライン受付 now rather than
            # after the whole budget (a queue forms at a station in an outage otherwise). A short
            # grace still catches a link that is coming back this instant.
            budget = min(budget, self.settings.offline_grace_s)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[list[TerminalVerdict]] = loop.create_future()
        if seq in self._verdicts:
            fut.set_result(self._verdicts.pop(seq))
        else:
            self._waiters[seq] = fut
        self._kick.set()
        got: list[TerminalVerdict] | None
        got = None
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(budget):
                    got = await asyncio.shield(fut)
        finally:
            self._waiters.pop(seq, None)
        if got is not None:
            got = expand_verdicts(got, contests)
        withheld, provisional = outcome_for(contests, got)
        # Record before the poll worker is told (rule 1). The terminal object is shared with the
        # loop's thread; the writes are short fsynced transactions.
        if withheld:
            self.term.record_withheld(seq, withheld)
            self._remember_holders(got or [], withheld)
        if provisional:
            self.term.record_provisional(seq)
        self._resolved.add(seq)
        self._kick.set()
        return Resolution(seq, withheld, provisional, got or [])

    def _remember_holders(self, verdicts: list[TerminalVerdict], contests: list[str]) -> None:
        """After a withheld ballot, keep knowing the voter voted (the earlier ballot's flag)."""
        ev = journal.entry(self.store, verdicts[0].seq) if verdicts else None
        if ev is None:
            return
        with self.store.atomic() as c:
            for v in verdicts:
                if not v.accepted and v.contest in contests and not v.code:  # "R": refused, no earlier ballot
                    c.execute("INSERT OR IGNORE INTO voted(voter_id, contest, terminal, station, hlc, seq) "
                              "VALUES(?,?,?,?,?,?)", (ev.voter, v.contest, v.terminal, v.station, v.hlc, v.first_seq))

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()

    def set_radio(self, radio: dict[str, Any]) -> None:
        """The modem's state changed: report it to HQ (its console shows bars and carrier)."""
        if radio != self.radio:
            self.radio = radio
            self._radio_dirty = True
            self._kick.set()

    # --- the connection loop -----------------------------------------------------------------
    async def run(self) -> None:
        while not self._stop.is_set():
            clean = False
            why = ""
            try:
                await self._session()
                clean = True
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ssl.SSLError) as e:
                log.info("link to HQ %s down: %s", self.hq_address, e)
                why = f"{type(e).__name__}: {e}"
            except (FrameInvalid, IllegalTransition) as e:
                # a frame from HQ we cannot trust (undecodable, a bad header field, out of turn):
                # nothing of it was applied (TerminalLink's state is as before); drop this link
                # and reconnect after the backoff, never end the agent
                log.warning("HQ sent an invalid frame (%s): %s; reconnecting", e.code, e.message)
                why = e.code
            except MeiboError as e:
                log.warning("sync: %s", e.message)
                why = e.code
            finally:
                self.online.clear()
                self._ws = None
                if self.link.state is not LinkState.DISCONNECTED:
                    self.link.disconnected()
            if self._stop.is_set():
                break
            if clean:
                self.nodes.reached()  # a link that ended cleanly: the node's back-off starts again
            slow = False
            if self.link.state is LinkState.REFUSED:
                code, self._refused_now = self._refused_now, None
                slow = code != FENCED  # a node that does not lead: the next one may
                if slow:
                    log.error("HQ refused this terminal (%s); retrying slowly", self.refused)
                why = code or "refused"
                self.link.reset()
            elif clean:
                why = "closed"  # HQ closed the link (stopping, or it stepped down): the next node
            delay = self.nodes.lost(why, self.rng.random(), slow=slow)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stop.wait()

    async def _session(self) -> None:
        host, port = _hostport(self.hq_address)
        if self._ssl is None:
            self._ssl = client_context(self.tdir.tls)
        timeout = aiohttp.ClientTimeout(total=None, connect=self.settings.connect_timeout_s,
                                        sock_connect=self.settings.connect_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.ws_connect(f"wss://{host}:{port}/sync", ssl=self._ssl,
                                       server_hostname=hq_server_name(real_id(self.term.config.election_id)),  # a rehearsal's HQ is the election's
                                       heartbeat=self.settings.heartbeat_s, compress=0,
                                       max_msg_size=1 << 20) as ws:
                self._ws = ws
                head = journal.head(self.store)
                cursor = int(self.store.get_meta(META_CURSOR, "0") or 0)
                mark = self.store.get_meta(META_MARK, "") or ""
                roll = int(self.store.get_meta("roll_version", "0") or 0)
                await self._send(self.link.connect(head.seq, head.hash, cursor, roll, list(self._waiters), mark))
                self._flags_acked, self._flags_applied, self._flags_acked_at = cursor, None, time.monotonic()
                reader = asyncio.create_task(self._reader(ws))
                kicker = asyncio.create_task(self._sender())
                stopper = asyncio.create_task(self._stop.wait())
                try:
                    done, _ = await asyncio.wait({reader, kicker, stopper}, return_when=asyncio.FIRST_COMPLETED)
                    for t in done:
                        if t is not stopper and t.exception() is not None:
                            raise t.exception()  # type: ignore[misc]
                finally:
                    for t in (reader, kicker, stopper):
                        t.cancel()
                    await asyncio.gather(reader, kicker, stopper, return_exceptions=True)

    async def _send(self, frame: Frame) -> None:
        assert self._ws is not None
        data = encode(frame)
        self.bytes_out += len(data)
        await self._ws.send_bytes(data)

    async def _reader(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.BINARY:
                continue
            self.bytes_in += len(msg.data)
            self.last_contact = self.clock.now().timestamp()
            actions = self.link.receive(decode(msg.data), self._hash_at)
            await self._act(actions)
            if self.link.state is LinkState.REFUSED:
                return

    async def _sender(self) -> None:
        # Other processes on this terminal (``meibo terminal checkin``/``void``) append to the
        # journal without telling us, so look once a second even when nobody kicks.
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # races with the event being set, and the task then never stops.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.journal_poll_s):
                    await self._kick.wait()
            self._kick.clear()
            await self._send_pending()
            if self._flags_applied is not None and time.monotonic() - self._flags_acked_at >= FLAGS_ACK_PERIOD_S:
                await self._ack_flags()
            if self._radio_dirty and self.radio is not None:
                frame = self.link.status(self.radio)
                if frame is not None:
                    self._radio_dirty = False
                    await self._send(frame)

    async def _ack_flags(self) -> None:
        """FLAGS_ACK for the flags applied so far (lazy: see FLAGS_ACK_EVERY)."""
        c, self._flags_applied = self._flags_applied, None
        if c is not None and self.link.state is LinkState.READY:
            self._flags_acked, self._flags_acked_at = c, time.monotonic()
            await self._send(self.link.flags_applied(c))

    def _hash_at(self, seq: int) -> bytes | None:
        if seq == 0:
            return genesis_hash(self.term.config.election_id, self.term.terminal_id)
        row = self.store.conn.execute("SELECT hash FROM journal WHERE seq=?", (seq,)).fetchone()
        return bytes(row[0]) if row else None

    async def _send_pending(self) -> None:
        while self.link.can_send():
            start = self.link.sent_upto
            events = journal.entries_after(self.store, start, limit=self.settings.max_batch)
            if not events:
                return
            prev = self._hash_at(start)
            assert prev is not None
            frame = self.link.batch(events, prev)
            if frame is None:
                return
            await self._send(frame)

    async def _act(self, a: LinkActions) -> None:
        if a.refused:
            self._refused_now = a.refused
            if a.refused == FENCED:  # not about this terminal: run() dials the next node
                log.info("HQ node %s does not lead (%s)", self.hq_address, a.refused)
                return
            self.refused = a.refused
            with self.store.atomic() as c:
                self.store.set_meta(c, META_REFUSED, a.refused)
            log.error("HQ refused: %s", a.refused)
            return
        if a.flags_restart:
            # HQ's stream is another one than our cursor is in (HQ restored from a backup): take
            # it from the start; applying a flag we hold again changes nothing
            with self.store.atomic() as c:
                self.store.set_meta(c, META_CURSOR, "0")
                self.store.set_meta(c, META_MARK, "")
        if a.hq_roll_version is not None:
            self._radio_dirty = self.radio is not None  # a new link: tell HQ again
            self.hq_roll_version = a.hq_roll_version
            self.hq_contests = a.hq_contests
            self.hq_zaigai_version = a.hq_zaigai_version
            self.nodes.reached()  # WELCOME: this node serves us; its back-off starts again
            self.online.set()
        if a.acked_seq is not None:
            with self.store.atomic() as c:
                self.store.set_meta(c, META_ACKED, str(self.link.acked_seq))
                self.store.set_meta(c, META_LAST_SYNC, str(self.clock.now().timestamp()))
        if a.verdicts:
            by_seq: dict[int, list[TerminalVerdict]] = {}
            for v in a.verdicts:
                by_seq.setdefault(v.seq, []).append(v)
            for seq, vs in by_seq.items():
                fut = self._waiters.get(seq)
                if fut is not None and not fut.done():
                    fut.set_result(vs)
                elif seq not in self._resolved and not self._is_settled(seq):
                    self._verdicts[seq] = vs  # resolve() may not have started waiting yet
                else:
                    for v in vs:
                        if not v.accepted and self._was_handed(seq, v.contest):
                            self.late_alerts.append(LateAlert(seq, v.contest, v.station, v.terminal, v.hlc))
                            log.error("late ALREADY_VOTED for check-in %s contest %s (first at %s)",
                                      seq, v.contest, v.station)
        if a.flags or a.flags_cursor is not None:
            # On the loop's thread: the store's connection is not shared across threads.
            self.apply_flags(a.flags, a.flags_cursor, a.flags_mark)
        if a.flags_cursor is not None:
            self._flags_applied = a.flags_cursor
            if a.flags_cursor - self._flags_acked >= FLAGS_ACK_EVERY or a.flags_cursor < self._flags_acked:
                await self._ack_flags()
        if a.need_events_from is not None:
            self._kick.set()

    def _outcomes_of(self, seq: int) -> list[tuple[EventKind, tuple[str, ...]]]:
        """The withheld/provisional entries written for check-in ``seq``."""
        out: list[tuple[EventKind, tuple[str, ...]]] = []
        for ev in journal.entries_after(self.store, seq, limit=1_000_000):
            if ev.kind in (EventKind.WITHHELD, EventKind.PROVISIONAL) and ev.data.get("ref") == seq:
                out.append((ev.kind, ev.contests))
        return out

    def _is_settled(self, seq: int) -> bool:
        return bool(self._outcomes_of(seq))

    def _was_handed(self, seq: int, contest: str) -> bool:
        return not any(k is EventKind.WITHHELD and contest in cs for k, cs in self._outcomes_of(seq))

    def apply_flags(self, flags: list[tuple[Any, ...]], cursor: int | None, mark: str = "") -> None:
        """Voted flags from HQ's stream, durably, in one transaction with the new cursor."""
        with self.store.atomic() as c:
            ballots: list[VotedFlag] = []
            for f in flags:
                _, voter, contest, delta, station, terminal, seq, hlc = f
                if int(delta) == 0:  # a notice, not a ballot (不在者投票 papers): warn at check-in
                    if str(station).startswith("absentee:"):
                        with contextlib.suppress(MeiboError):
                            apply_absentee_notice(self.store, str(voter), str(contest), str(station)[9:],
                                                  int(hlc), conn=c)
                    continue
                ballots.append((str(voter), str(contest), int(delta), str(station), str(terminal), int(seq),
                                int(hlc)))
            self.term.apply_voted_flags(c, ballots)
            if cursor is not None:
                self.store.set_meta(c, META_CURSOR, str(cursor))
                self.store.set_meta(c, META_MARK, mark)

    # --- local IPC for other processes on this terminal --------------------------------------
    async def serve_local(self) -> asyncio.AbstractServer:
        path = self.tdir.root / SOCKET_NAME
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        server = await asyncio.start_unix_server(self._local_client, path=str(path))
        os.chmod(path, 0o600)
        return server

    async def _local_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            req = json.loads(line or b"{}")
            if req.get("op") == "resolve":
                res = await self.resolve(int(req["seq"]), list(req["contests"]))
                out = {"ok": True, "withheld": res.withheld, "provisional": res.provisional,
                       "verdicts": [v.__dict__ for v in res.verdicts]}
            elif req.get("op") == "status":
                out = {"ok": True, **self.status()}
            else:
                out = {"ok": False, "error": "unknown op"}
        except (ValueError, KeyError, TypeError) as e:
            out = {"ok": False, "error": str(e)}
        except MeiboError as e:
            out = {"ok": False, "error": e.message, "code": e.code}
        writer.write(json.dumps(out, ensure_ascii=False).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    def status(self) -> dict[str, Any]:
        return {"online": self.online.is_set(), "acked_seq": self.link.acked_seq, "pending": self.pending(),
                "last_contact": self.last_contact, "refused": self.refused,
                "late_alerts": [a.__dict__ for a in self.late_alerts], "hq": self.hq_address,
                "hq_nodes": self.nodes.status(),
                "hq_roll_version": self.hq_roll_version, "hq_contests": self.hq_contests,
                "hq_zaigai_version": self.hq_zaigai_version}


async def ask_agent(tdir: TerminalDir, request: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any] | None:
    """Send one request to a running agent; None when no agent listens on this TDIR."""
    path = tdir.root / SOCKET_NAME
    if not path.exists():
        return None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), timeout=1.0)
    except (OSError, asyncio.TimeoutError):
        return None
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout=timeout_s)
    finally:
        writer.close()
    if not line:
        return None
    data: dict[str, Any] = json.loads(line)
    return data


async def resolve_direct(tdir: TerminalDir, term: Terminal, seq: int, contests: list[str],
                         settings: SyncSettings = SyncSettings()) -> Resolution:
    """No agent running: open the link for this one check-in, within the same budget."""
    agent = SyncAgent(tdir, term, settings)
    task = asyncio.create_task(agent.run())
    try:
        res = await agent.resolve(seq, contests)
        if agent.online.is_set():  # let the outcome entry reach HQ too, briefly
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(until_acked(agent), timeout=0.5)
        return res
    finally:
        agent.stop()
        await asyncio.gather(task, return_exceptions=True)


async def until_acked(agent: SyncAgent) -> None:
    """Wait until HQ has acknowledged every journal entry (callers bound it with a timeout)."""
    while agent.pending() > 0:
        await asyncio.sleep(0.02)


async def resolve(tdir: TerminalDir, term: Terminal, seq: int, contests: list[str],
                  settings: SyncSettings = SyncSettings()) -> Resolution:
    """Through the running agent when there is one, else directly."""
    answer = await ask_agent(tdir, {"op": "resolve", "seq": seq, "contests": contests},
                             timeout_s=settings.verdict_budget_s + 5.0)
    if answer is not None and answer.get("ok"):
        return Resolution(seq, list(answer["withheld"]), bool(answer["provisional"]),
                          [TerminalVerdict(**v) for v in answer.get("verdicts", [])])
    return await resolve_direct(tdir, term, seq, contests, settings)
