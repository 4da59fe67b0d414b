"""Simulated HQ (選挙管理委員会事務局): the ``Ledger``, one ``HqSession`` per connection, and a
durable ingest log on a simulated disk.

Commit discipline (group commit): frames are processed in memory in arrival order; every frame
sent back is held in the open *group* until every event applied before it is durable, because
an ACK, a WELCOME or a verdict may depend on those events. One fsync at a time; frames that
arrive during it form the next group. A crash loses the uncommitted events and the held
frames; a restart replays the committed log, in order, into a fresh ``Ledger`` (terminals
registered first), which rebuilds the same verdicts, alerts and flag cursors.
不在者投票 are ``absentee`` events of terminal "HQ", applied through ``Ledger.apply``.

Planted bug ``lww-merge``: a ``Ledger`` subclass that keeps the last of two check-ins of one
voter and contest and raises no alert.
Never imports sockets, asyncio, SQLite or the real clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ground.errors import IllegalTransition
from ground.events import Event, EventKind
from ground.hlc import HybridClock
from ground.model import HQ_TERMINAL, StationId, TerminalId
from sync_protocol import codec
from sync_protocol.errors import FrameInvalid
from hq.ledger import CheckinRec, CState, Ledger, Verdict
from hq.session import HqSession, SessionState
from tooling.sim.disk import SimDisk
from tooling.sim.net import TO_TERM, Connection
from tooling.sim.terminal import SimClock

if TYPE_CHECKING:
    from tooling.sim.world import World


FLAG_PUSH_MS = 200


class LwwLedger(Ledger):
    """PLANTED BUG (``--bug lww-merge``): the later check-in silently replaces the earlier one,
    as a last-writer-wins merge would (VxPollBook before 2026); no alert is raised."""

    def _add_ballot(self, rec: CheckinRec, contest: str) -> None:
        key = (rec.voter, contest)
        for k in list(self.ballots.get(key, [])):
            old = self.checkins[k]
            self._remove_ballot(old, contest)
            old.state[contest] = CState.WITHHELD
        super()._add_ballot(rec, contest)


@dataclass
class Group:
    events: int = 0
    out: list[tuple[Connection, codec.Frame]] = field(default_factory=list)
    close: list[Connection] = field(default_factory=list)
    told: list[Event] = field(default_factory=list)  # absentee events to report once durable
    flags_upto: int = 0


class SimHq:
    def __init__(self, world: "World", rng: random.Random, clock: SimClock) -> None:
        self.w = world
        self.sched = world.sched
        self.rng = rng
        self.clock = clock
        self.ledger_cls: type[Ledger] = LwwLedger if world.bug == "lww-merge" else Ledger
        self.log: SimDisk[Event] = SimDisk(self.sched, rng, world.mix.fsync_ms)
        self.up = True
        self.epoch = 0
        self._boot()

    def fresh_ledger(self) -> Ledger:
        led = self.ledger_cls(self.w.election)
        for t in self.w.terminals.values():
            led.register(TerminalId(t.tid), StationId(t.station), bytes(t.key.verify_key))
        led.register(HQ_TERMINAL, StationId("HQ"), b"\x00" * 32)
        for ev in self.log.durable():
            led.apply(ev)
        return led

    def _boot(self) -> None:
        self.ledger = self.fresh_ledger()
        self.hlc = HybridClock(self.clock, last=max((e.hlc for e in self.log.durable()), default=0))
        self.sessions: dict[int, tuple[Connection, HqSession]] = {}
        self.welcomed: set[int] = set()  # connections whose WELCOME has left (flags may follow)
        self.open = Group()
        self.inflight: Group | None = None
        self.committed_flags = len(self.ledger.flags)
        self.push_armed = False
        self.sched.trace(f"HQ boot events={self.log.durable_n} flags={self.committed_flags}")

    def crash(self, downtime: int) -> None:
        if not self.up:
            return
        self.up = False
        self.epoch += 1
        lost = self.log.crash()
        self.w.stats["hq_crash"] += 1
        self.sched.trace(f"HQ crash lost={lost}")
        self.w.net.drop_all("HQ crash")
        self.sessions.clear()
        self.sched.after(downtime, self.restart)

    def restart(self) -> None:
        if self.up:
            return
        self.up = True
        self._boot()

    # --- connections ----------------------------------------------------------------------------
    def accept(self, conn: Connection) -> None:
        self.sessions[conn.cid] = (conn, HqSession(self.ledger, TerminalId(conn.terminal)))

    def on_closed(self, conn: Connection) -> None:
        self.welcomed.discard(conn.cid)
        entry = self.sessions.pop(conn.cid, None)
        if entry is not None:
            entry[1].close()

    def on_frame(self, conn: Connection, data: bytes) -> None:
        if not self.up:
            return
        entry = self.sessions.get(conn.cid)
        if entry is None:
            return
        sess = entry[1]
        try:
            frame = codec.decode(data)
            r = sess.receive(frame)
        except (FrameInvalid, IllegalTransition) as e:
            self.w.history.violate(self.sched.now, f"HQ: protocol error from {conn.terminal}: {type(e).__name__}: {e}")
            self.w.net.drop(conn, "protocol error")
            return
        self.sched.trace(f"HQ recv {conn.terminal} {frame.type.name} new={len(r.to_commit)}")
        if r.alarm is not None:
            self.w.history.violate(self.sched.now, f"HQ: clone alarm for {conn.terminal}: {r.alarm}")
        for ev in r.to_commit:
            self._apply_live(ev)
        g = self.open
        g.out.extend((conn, f) for f in r.send)
        if r.pending_ack is not None:
            g.out.append((conn, sess.ack_frame(r.pending_ack)))
        if r.close:
            g.close.append(conn)
        self._maybe_commit()

    def _apply_live(self, ev: Event) -> None:
        led = self.ledger
        flags = led.apply(ev)
        self.log.write(ev)
        self.open.events += 1
        if ev.kind in (EventKind.CHECKIN, EventKind.ABSENTEE):
            rec = led.checkins[(ev.terminal, ev.seq)]
            for c, v in rec.verdict.items():
                if v.verdict is Verdict.ALREADY_VOTED and v.first is not None:
                    prefix = led.terminals[v.first.terminal].acked_seq
                    self.w.history.hq_verdicts.setdefault((ev.terminal, ev.seq, c), []).append(
                        (v.first.terminal, v.first.seq, prefix))
        # a voted flag goes back to not-voted only through a void (取消)
        for f in flags:
            if f.delta < 0 and (f.voter, f.contest) not in led.ballots and ev.kind is not EventKind.VOID:
                self.w.history.violate(self.sched.now, f"HQ: flag {f.voter}/{f.contest} released by {ev.kind.value} "
                                                      f"{ev.terminal}#{ev.seq}, not by a void")

    def _maybe_commit(self) -> None:
        if self.inflight is not None or not self.up:
            return
        g = self.open
        if not g.events and not g.out and not g.close:
            return
        self.open = Group()
        if not g.events:  # everything applied before is already durable
            self._release(g)
            return
        g.flags_upto = len(self.ledger.flags)
        self.inflight = g
        epoch = self.epoch
        self.log.fsync(lambda: self._committed(epoch, g))

    def _committed(self, epoch: int, g: Group) -> None:
        if epoch != self.epoch or not self.up:
            return
        self.inflight = None
        self.committed_flags = g.flags_upto
        self._release(g)
        self._maybe_commit()

    def _release(self, g: Group) -> None:
        for conn, f in g.out:
            if conn.open:
                self.w.net.send(conn, TO_TERM, codec.encode(f))
                if f.type is codec.FrameType.WELCOME:
                    self.welcomed.add(conn.cid)
        for conn in g.close:
            self.w.net.drop(conn, "refused")
        for ev in g.told:
            self.w.absentee_done(ev)
        if g.events or any(f.type is codec.FrameType.WELCOME for _, f in g.out):
            self._schedule_push()

    def _schedule_push(self) -> None:
        """Flags go out at most every ``FLAG_PUSH_MS``: one FLAGS frame carries many changes."""
        if not self.push_armed:
            self.push_armed = True
            epoch = self.epoch
            self.sched.after(FLAG_PUSH_MS, self._push_flags, epoch)

    def _push_flags(self, epoch: int) -> None:
        if epoch != self.epoch or not self.up:
            return
        self.push_armed = False
        for cid in sorted(self.sessions):
            conn, sess = self.sessions[cid]
            if conn.open and cid in self.welcomed and sess.state is SessionState.READY:
                while (f := sess.flags_frame(self.committed_flags, limit=self.w.mix.flag_limit)) is not None:
                    self.w.net.send(conn, TO_TERM, codec.encode(f))

    # --- 不在者投票 ----------------------------------------------------------------------------
    def absentee(self, voter: str, contests: tuple[str, ...]) -> bool:
        if not self.up:
            return False
        seq = self.ledger.terminals[HQ_TERMINAL].acked_seq + 1
        ev = Event(EventKind.ABSENTEE, seq, self.hlc.tick(), HQ_TERMINAL, {"voter": voter, "contests": list(contests)})
        self._apply_live(ev)
        self.open.told.append(ev)
        self.sched.trace(f"HQ absentee {voter}")
        self._maybe_commit()
        return True
