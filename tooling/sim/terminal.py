"""A simulated station terminal (名簿対照端末): voters at the desk, a durable hash-chained journal
on a simulated disk, the sans-I/O ``TerminalLink`` to HQ, and HQ's voted flags.

The rule it keeps (DESIGN rule 1): a check-in is appended and fsynced before anything is sent,
and the poll worker is told only after the verdict budget *and* after the outcome marker
(``withheld`` / ``provisional``) is durable. Eligibility is reduced to one question: has this
terminal been told the voter already has contest *c* (its own journal, or a flag from HQ)?
After a crash the terminal rebuilds from its durable journal and flag store only, and appends
``provisional`` for every check-in that has no outcome marker.

Planted bug ``ack-before-fsync``: the journal is fsynced lazily in the background and the poll
worker is told without waiting for durability.
Never imports sockets, asyncio, SQLite or the real clock.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from nacl.signing import SigningKey

from ground.errors import IllegalTransition
from ground.clock import JST
from ground.events import Event, EventKind, chain_hash, genesis_hash
from ground.hlc import HybridClock
from ground.model import StationId, TerminalId
from sync_protocol import codec
from sync_protocol.errors import FrameInvalid
from sync_protocol.session import ALL_CONTESTS, LinkState, TerminalLink, TerminalVerdict, outcome_for
from tooling.sim.disk import SimDisk
from tooling.sim.faults import SECOND, Visit
from tooling.sim.history import AlreadyVotedSeen, Told
from tooling.sim.net import TO_HQ, Connection

if TYPE_CHECKING:
    from tooling.sim.world import World

EPOCH_MS = 1_800_000_000_000  # 2027-01-15: the virtual day starts here on every clock


@dataclass(frozen=True)
class TerminalSettings:
    verdict_budget_ms: int = 1500
    service_ms: tuple[int, int] = (5 * SECOND, 30 * SECOND)  # the next voter steps up
    void_after_ms: tuple[int, int] = (10 * SECOND, 10 * 60 * SECOND)
    backoff_ms: tuple[int, int] = (250, 30 * SECOND)  # first retry at once, then back off
    lazy_fsync_ms: int = 5 * SECOND  # only under the planted bug ack-before-fsync
    revisit_p: float = 0.5  # a voter whose check-in was voided comes back later


class SimClock:
    """A terminal's wall clock: virtual time plus an offset, drifting, stepped by faults."""

    def __init__(self, now: Callable[[], int], drift_ppm: int = 0) -> None:
        self._now = now
        self.drift_ppm = drift_ppm
        self.offset = 0

    def wall_ms(self) -> int:
        t = self._now()
        return EPOCH_MS + self.offset + t + (t * self.drift_ppm) // 1_000_000

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.wall_ms() / 1000, JST)


@dataclass
class Pending:
    seq: int
    voter: str
    handed: tuple[str, ...]
    verdicts: dict[str, TerminalVerdict] = field(default_factory=dict)
    decided: bool = False


@dataclass(frozen=True)
class FlagRec:
    cursor: int
    flags: tuple[tuple[Any, ...], ...]
    mark: str = ""  # HQ's stream identity at ``cursor``


class SimTerminal:
    def __init__(self, world: "World", tid: str, station: str, key: SigningKey, rng: random.Random,
                 clock: SimClock, settings: TerminalSettings = TerminalSettings()) -> None:
        self.w = world
        self.sched = world.sched
        self.tid, self.station, self.key, self.rng, self.clock, self.s = tid, station, key, rng, clock, settings
        self.bug_ack_before_fsync = world.bug == "ack-before-fsync"
        self.journal: SimDisk[Event] = SimDisk(self.sched, rng, world.mix.fsync_ms)
        self.hashes: list[bytes] = []  # hashes[i]: chain hash after record i (written, maybe not durable)
        self.flagdisk: SimDisk[FlagRec] = SimDisk(self.sched, rng, world.mix.fsync_ms)
        self.genesis = genesis_hash(world.election, tid)
        self.up = True
        self.incarnation = 0
        self.attempt = 0
        self.sent_batches: list[bytes] = []  # kept by the fault injector, survives crashes
        self.waiting: list[Visit] = []  # voters who arrived while the terminal was down
        self.crash_armed_delay: int | None = None
        self._boot()

    # --- boot and crash ----------------------------------------------------------------------
    def _boot(self) -> None:
        evs = self.journal.durable()
        self.hlc = HybridClock(self.clock, last=max((e.hlc for e in evs), default=0))
        self.link = TerminalLink(self.w.election, TerminalId(self.tid), StationId(self.station), self.key,
                                 max_batch=self.w.mix.max_batch, window=self.w.mix.window)
        self.conn: Connection | None = None
        self.connecting = False
        self.backoff = self.s.backoff_ms[0]
        self.pending: dict[int, Pending] = {}
        self.queue: deque[Visit] = deque()
        self.busy = False
        self.flags: dict[tuple[str, str], tuple[str, int]] = {}
        self.cursor = 0
        self.mark = ""
        for rec in self.flagdisk.durable():
            self._apply_flags(rec, check=False)
        # own ballots from the journal; check-ins with no outcome marker become provisional
        checkins: dict[int, Event] = {}
        withheld: dict[int, set[str]] = {}
        marked: set[int] = set()
        voided: set[int] = set()
        for e in evs:
            if e.kind is EventKind.CHECKIN:
                checkins[e.seq] = e
            elif e.kind is EventKind.WITHHELD:
                withheld.setdefault(e.ref, set()).update(e.contests)
                marked.add(e.ref)
            elif e.kind is EventKind.PROVISIONAL:
                marked.add(e.ref)
            elif e.kind is EventKind.VOID:
                voided.add(e.ref)
        self.own: dict[tuple[str, str], int] = {}  # (voter, contest) -> number of own live ballots
        self.handed_of: dict[int, tuple[str, tuple[str, ...]]] = {}
        for seq, e in checkins.items():
            handed = tuple(c for c in e.contests if c not in withheld.get(seq, ()))
            if seq not in marked:
                self._append(EventKind.PROVISIONAL, {"ref": seq})
                self.w.stats["restart_provisional"] += 1
            if seq in voided:
                continue
            self.handed_of[seq] = (e.voter, handed)
            for c in handed:
                self.own[(e.voter, c)] = self.own.get((e.voter, c), 0) + 1
        if self.journal.dirty:
            self.journal.fsync(self._on_durable_cb())
        self.sched.trace(f"{self.tid} boot seq={self.journal.durable_n} cursor={self.cursor}")
        inc = self.incarnation
        self.sched.after(0, lambda: self._connect() if inc == self.incarnation else None)
        waiting, self.waiting = self.waiting, []
        for v in waiting:
            self.arrive(v)

    def crash(self, downtime: int) -> None:
        if not self.up:
            return
        before = self.view()
        self.up = False
        self.incarnation += 1
        lost = self.journal.crash()
        del self.hashes[self.journal.durable_n:]
        self.flagdisk.crash()
        if self.busy:
            self.w.history.interrupted += 1
        self.waiting.extend(self.queue)
        self.queue.clear()
        self.pending.clear()
        if self.conn is not None:
            self.w.net.drop(self.conn, "terminal crash")
            self.conn = None
        self.w.stats["term_crash"] += 1
        self.sched.trace(f"{self.tid} crash lost={lost}")
        self.sched.after(downtime, self.restart, before)

    def restart(self, before: set[tuple[str, str]] | None = None) -> None:
        if self.up:
            return
        self.up = True
        self._boot()
        if before is not None:
            for k in sorted(before - self.view()):
                self.w.history.violate(self.sched.now, f"{self.tid}: voted flag {k} lost by a crash")

    # --- the journal ---------------------------------------------------------------------------
    def _append(self, kind: EventKind, data: dict[str, Any]) -> Event:
        seq = len(self.journal.records) + 1
        ev = Event(kind, seq, self.hlc.tick(), TerminalId(self.tid), data)
        prev = self.hashes[-1] if self.hashes else self.genesis
        self.journal.write(ev)
        self.hashes.append(chain_hash(prev, ev.encode()))
        self.sched.trace(f"{self.tid} append {seq} {kind.value}")
        if self.bug_ack_before_fsync:
            self._lazy_fsync_tick()
        if self.crash_armed_delay is not None:  # a crash point armed to fire while busy
            d, self.crash_armed_delay = self.crash_armed_delay, None
            self.sched.after(d, self.w.fault_crash_terminal, self.tid, self._armed_downtime)
        return ev

    def _durable(self, then: Callable[[], None]) -> None:
        """Run ``then`` once everything written so far is durable (in this incarnation)."""
        inc = self.incarnation

        def done() -> None:
            if inc == self.incarnation and self.up:
                self._pump()
                then()
        self.journal.fsync(done)

    def _on_durable_cb(self) -> Callable[[], None]:
        inc = self.incarnation
        return lambda: self._pump() if inc == self.incarnation and self.up else None

    def hash_at(self, seq: int) -> bytes | None:
        if seq == 0:
            return self.genesis
        return self.hashes[seq - 1] if 0 < seq <= self.journal.durable_n else None

    # --- what this terminal knows ------------------------------------------------------------
    def voted(self, voter: str, contest: str) -> bool:
        return (voter, contest) in self.own or (voter, contest) in self.flags

    def view(self) -> set[tuple[str, str]]:
        return set(self.own) | set(self.flags)

    # --- voters ----------------------------------------------------------------------------------
    def arrive(self, v: Visit) -> None:
        if not self.up:
            self.waiting.append(v)
            return
        self.queue.append(v)
        self._serve_next()

    def _serve_next(self) -> None:
        if self.busy or not self.queue or not self.up:
            return
        v = self.queue.popleft()
        eligible = tuple(c for c in v.contests if not self.voted(v.voter, c))
        if not eligible:  # a local hard stop: no event, nothing handed
            self.w.history.local_stops += 1
            self.sched.trace(f"{self.tid} stop {v.voter}")
            self._next_voter()
            return
        self.busy = True
        ev = self._append(EventKind.CHECKIN, {"station": self.station, "clerk": "c1", "voter": v.voter,
                                              "contests": list(eligible)})
        p = Pending(ev.seq, v.voter, eligible)
        self.pending[ev.seq] = p
        inc = self.incarnation
        if not self.bug_ack_before_fsync:
            self._durable(lambda: None)  # durable, then sent (``_pump`` sends durable events only)
        self.sched.after(self.s.verdict_budget_ms, self._budget_over, inc, p)

    def _next_voter(self) -> None:
        inc = self.incarnation
        self.sched.after(self.rng.randint(*self.s.service_ms) // 5,
                         lambda: self._serve_next() if inc == self.incarnation else None)

    def _budget_over(self, inc: int, p: Pending) -> None:
        if inc == self.incarnation and not p.decided:
            self._decide(p)

    def _decide(self, p: Pending) -> None:
        p.decided = True
        verdicts = list(p.verdicts.values()) if p.verdicts else None
        withheld, provisional = outcome_for(p.handed, verdicts)
        if withheld:
            self._append(EventKind.WITHHELD, {"ref": p.seq, "contests": list(withheld)})
        if provisional:
            self._append(EventKind.PROVISIONAL, {"ref": p.seq})
        handed = tuple(c for c in p.handed if c not in withheld)
        if self.bug_ack_before_fsync:
            self._tell(p, handed)  # BUG (planted): told before the journal is durable
        else:
            self._durable(lambda: self._tell(p, handed))

    def _tell(self, p: Pending, handed: tuple[str, ...]) -> None:
        """Only now does the poll worker see the outcome (hand these ballots / hard stop)."""
        self.pending.pop(p.seq, None)
        self.w.history.told.append(Told(self.tid, p.seq, p.voter, handed, self.sched.now))
        self.sched.trace(f"{self.tid} told {p.seq} {p.voter} {','.join(handed) or '-'}")
        self.handed_of[p.seq] = (p.voter, handed)
        for c in handed:
            self.own[(p.voter, c)] = self.own.get((p.voter, c), 0) + 1
        self.busy = False
        if handed and self.rng.random() < self.w.mix.void_p:
            inc = self.incarnation
            self.sched.after(self.rng.randint(*self.s.void_after_ms),
                             lambda: self._void(p.seq) if inc == self.incarnation and self.up else None)
        self._next_voter()

    def _void(self, seq: int) -> None:
        """取消: the voter left without voting; the supervisor voids the check-in."""
        if seq not in self.handed_of:
            return
        voter, handed = self.handed_of.pop(seq)
        self._append(EventKind.VOID, {"ref": seq, "reason": "left", "clerk": "s1"})
        self.w.stats["void"] += 1

        def released() -> None:
            for c in handed:
                n = self.own.get((voter, c), 0) - 1
                if n <= 0:
                    self.own.pop((voter, c), None)
                else:
                    self.own[(voter, c)] = n
            if self.rng.random() < self.s.revisit_p:
                self.w.revisit(voter, handed, self.tid)
        if self.bug_ack_before_fsync:
            released()
        else:
            self._durable(released)

    def _lazy_fsync_tick(self) -> None:
        inc = self.incarnation
        if not getattr(self, "_lazy_armed", False):
            self._lazy_armed = True

            def tick() -> None:
                self._lazy_armed = False
                if inc == self.incarnation and self.up:
                    self.journal.fsync(self._on_durable_cb())
            self.sched.after(self.s.lazy_fsync_ms, tick)

    # --- the link ---------------------------------------------------------------------------------
    def _connect(self) -> None:
        if not self.up or self.conn is not None or self.connecting or self.link.state is LinkState.REFUSED:
            return
        self.connecting = True
        self.attempt += 1
        self.w.net.connect(self.tid, self.attempt)

    def on_connect_failed(self, token: int) -> None:
        if token != self.attempt:  # an attempt of an earlier incarnation
            return
        self.connecting = False
        if self.up:
            self._retry_later()

    def _retry_later(self) -> None:
        inc = self.incarnation
        d = self.rng.randint(self.backoff // 2, self.backoff)
        self.backoff = min(self.backoff * 2, self.s.backoff_ms[1])
        self.sched.after(d, lambda: self._connect() if inc == self.incarnation else None)

    def reconnect_now(self) -> None:
        """Heal: the operator power-cycles the modem; reconnect without waiting for the backoff."""
        self.backoff = self.s.backoff_ms[0]
        self._connect()

    def on_open(self, conn: Connection, token: int) -> None:
        if token != self.attempt or not self.up or self.conn is not None:
            self.w.net.drop(conn, "stale attempt")
            return
        self.connecting = False
        if not self.up:
            self.w.net.drop(conn, "terminal down")
            return
        self.conn = conn
        n = self.journal.durable_n
        undecided = [seq for seq, p in self.pending.items() if not p.decided and seq <= n]
        self._send(self.link.connect(n, self.hash_at(n) or b"", self.cursor, 0, undecided, self.mark))

    def on_closed(self, conn: Connection) -> None:
        if conn is not self.conn:
            return
        self.conn = None
        if self.up:
            self.link.disconnected()
            self._retry_later()

    def _send(self, frame: codec.Frame) -> None:
        if self.conn is None:
            return
        data = codec.encode(frame)
        self.w.net.send(self.conn, TO_HQ, data)
        if frame.type is codec.FrameType.BATCH:
            # fault: a middlebox replays an old batch of ours (maybe from before an HQ crash)
            # after this one: HQ must answer it idempotently (duplicate, or RESEND for a gap)
            if self.sent_batches and self.w.net.replay and self.rng.random() < self.w.net.replay:
                self.w.stats["replay"] += 1
                self.w.net.send(self.conn, TO_HQ, self.rng.choice(self.sent_batches))
            self.sent_batches.append(data)
            if len(self.sent_batches) > 16:
                del self.sent_batches[0]

    def on_frame(self, conn: Connection, data: bytes) -> None:
        if conn is not self.conn or not self.up:
            return
        try:
            frame = codec.decode(data)
            a = self.link.receive(frame, self.hash_at)
        except (FrameInvalid, IllegalTransition) as e:
            self.w.history.violate(self.sched.now, f"{self.tid}: protocol error {type(e).__name__}: {e}")
            self.w.net.drop(conn, "protocol error")
            return
        self.sched.trace(f"{self.tid} recv {frame.type.name}")
        if a.refused is not None:
            self.w.history.violate(self.sched.now, f"{self.tid}: HQ refused us: {a.refused}")
            return
        if frame.type is codec.FrameType.WELCOME:
            self.backoff = self.s.backoff_ms[0]
            # FINDING (docs/simulation.md, "What the simulator found"): WELCOME carries no verdicts, so a check-in HQ
            # ingested on a connection that died before its ACK never gets one on the new link.
            for q in self.pending.values():
                if not q.decided and q.seq <= self.link.acked_seq and len(q.verdicts) < len(q.handed):
                    self.w.lost_verdicts.append((self.tid, q.seq))
        for v in a.verdicts:
            if not v.accepted:
                self.w.history.already_voted.append(
                    AlreadyVotedSeen(self.tid, v.seq, v.contest, v.terminal, v.hlc, v.station, self.sched.now))
            p = self.pending.get(v.seq)
            # a compact ACK answers an all-accepted check-in with one ALL_CONTESTS verdict
            if p is not None and not p.decided and (v.contest in p.handed or v.contest == ALL_CONTESTS):
                p.verdicts[v.contest] = v
                if ALL_CONTESTS in p.verdicts or all(c in p.verdicts for c in p.handed):
                    self._decide(p)
        if a.flags_cursor is not None:
            rec = FlagRec(a.flags_cursor, tuple(tuple(f) for f in a.flags), a.flags_mark)
            self.flagdisk.write(rec)
            inc = self.incarnation

            def flags_durable() -> None:
                if inc != self.incarnation or not self.up:
                    return
                self._apply_flags(rec, check=True)
                if self.conn is conn and self.link.state is LinkState.READY:
                    self._send(self.link.flags_applied(self.cursor))
            self.flagdisk.fsync(flags_durable)
        self._pump()

    def _apply_flags(self, rec: FlagRec, check: bool) -> None:
        before = self.view() if check else set()
        for f in rec.flags:
            voter, contest, delta, term, seq, hlc = str(f[1]), str(f[2]), int(f[3]), str(f[5]), int(f[6]), int(f[7])
            self.hlc.observe(hlc)
            if delta > 0:
                self.flags[(voter, contest)] = (term, seq)
            elif self.flags.get((voter, contest)) == (term, seq):
                del self.flags[(voter, contest)]
        if rec.cursor > self.cursor:
            self.cursor, self.mark = rec.cursor, rec.mark
        if check:
            for k in sorted(before - self.view()):
                self.w.history.removals.append((self.tid, k[0], k[1], self.sched.now))

    def _pump(self) -> None:
        """Send every durable event HQ has not been sent yet, as the link's window allows."""
        if self.conn is None or not self.up:
            return
        while self.link.can_send():
            start = self.link.sent_upto + 1
            if start > self.journal.durable_n:
                return
            prev = self.hash_at(start - 1)
            assert prev is not None
            f = self.link.batch(self.journal.records[start - 1:self.journal.durable_n], prev)
            if f is None:
                return
            self._send(f)

    # --- faults --------------------------------------------------------------------------------
    def arm_crash(self, delay: int, downtime: int) -> None:
        """Crash ``delay`` ms after the next journal append (a crash point that fires while busy)."""
        self.crash_armed_delay = delay
        self._armed_downtime = downtime

    def converged_with(self, voted: set[tuple[str, str]]) -> bool:
        return (self.up and self.conn is not None and self.link.state is LinkState.READY
                and not self.journal.dirty and self.link.acked_seq == self.journal.durable_n
                and not self.pending and not self.busy and not self.queue and self.view() == voted)

