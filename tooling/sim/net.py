"""Simulated links, one per terminal (terminal ⇄ HQ), carrying encoded frames.

The protocol runs over WebSocket/TLS/TCP: a connection is a reliable, ordered byte stream for
as long as it lives, and everything in flight is lost when it dies. So packet-level faults are
injected *below* a tiny reliable-ordered layer modelled here, exactly as TCP would see them:
- loss: an attempt is dropped; the sender retransmits with exponential backoff (RTO), and when
  nothing gets through for ``conn_timeout`` the connection dies;
- duplication: a second copy arrives; the receiver drops it by sequence number;
- reordering: a copy is held back; the receiver buffers out-of-order arrivals;
- delay: base one-way delay with jitter, plus rare spikes (cell edge, handover);
- clogging: while a link is clogged (a partition or a swizzle) every attempt on it is lost;
- drops: connections die at random (radio-link failure), each side noticing after its own delay.
Connection attempts while the link is clogged or HQ is down fail after ``connect_timeout``.
Pure: no sockets; time and randomness come from the scheduler and the rng passed in.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from tooling.sim.faults import FaultMix, SECOND
from tooling.sim.scheduler import Scheduler

TO_HQ, TO_TERM = 0, 1


@dataclass(frozen=True)
class NetSettings:
    rto_ms: int = 400
    rto_max_ms: int = 8000
    conn_timeout_ms: int = 15 * SECOND
    connect_timeout_ms: int = 5 * SECOND
    notice_ms: tuple[int, int] = (0, 2000)  # how long each side takes to notice a dead connection
    handover_notice_ms: tuple[int, int] = (0, 300)  # a handover: the modem reports it at once
    spike_ms: tuple[int, int] = (300, 5000)


class TermEnd(Protocol):
    def on_open(self, conn: "Connection", token: int) -> None: ...
    def on_frame(self, conn: "Connection", data: bytes) -> None: ...
    def on_closed(self, conn: "Connection") -> None: ...
    def on_connect_failed(self, token: int) -> None: ...


class HqEnd(Protocol):
    up: bool
    def accept(self, conn: "Connection") -> None: ...
    def on_frame(self, conn: "Connection", data: bytes) -> None: ...
    def on_closed(self, conn: "Connection") -> None: ...


@dataclass(eq=False)
class Connection:
    cid: int
    terminal: str
    open: bool = True
    next_no: list[int] = field(default_factory=lambda: [0, 0])
    expected: list[int] = field(default_factory=lambda: [0, 0])
    buffer: tuple[dict[int, bytes], dict[int, bytes]] = field(default_factory=lambda: ({}, {}))
    # the time of the last arrival per direction: a later packet on the same path never
    # overtakes an earlier one unless it is deliberately reordered
    last_arrival: list[int] = field(default_factory=lambda: [0, 0])


class Net:
    def __init__(self, sched: Scheduler, rng: random.Random, mix: FaultMix, stats: Counter[str],
                 settings: NetSettings = NetSettings()) -> None:
        self.sched, self.rng, self.mix, self.stats, self.s = sched, rng, mix, stats, settings
        self.loss, self.dup, self.reorder, self.spike = mix.loss, mix.dup, mix.reorder, mix.spike
        self.drop_per_hour = mix.conn_drop_per_hour
        self.replay = mix.replay
        self.clogged: Counter[str] = Counter()
        self.terms: dict[str, TermEnd] = {}
        self.hq: HqEnd | None = None
        self.conns: dict[int, Connection] = {}
        self._next_cid = 1

    # --- faults on and off -------------------------------------------------------------------
    def clog(self, terminal: str) -> None:
        self.clogged[terminal] += 1

    def unclog(self, terminal: str) -> None:
        if self.clogged[terminal] > 0:
            self.clogged[terminal] -= 1

    def heal(self) -> None:
        self.loss = self.dup = self.reorder = self.spike = self.replay = 0.0
        self.drop_per_hour = 0.0
        self.clogged.clear()

    def is_clogged(self, terminal: str) -> bool:
        return self.clogged[terminal] > 0

    # --- connections --------------------------------------------------------------------------
    def connect(self, terminal: str, token: int) -> None:
        """Start a connection; the terminal hears ``on_open`` or ``on_connect_failed``."""
        rtt = 2 * self._one_way()
        hq = self.hq
        if self.is_clogged(terminal) or hq is None or not hq.up:
            self.sched.after(self.s.connect_timeout_ms, self.terms[terminal].on_connect_failed, token)
            return
        self.sched.after(rtt, self._established, terminal, token)

    def _established(self, terminal: str, token: int) -> None:
        hq = self.hq
        if self.is_clogged(terminal) or hq is None or not hq.up:
            self.sched.after(self.s.connect_timeout_ms, self.terms[terminal].on_connect_failed, token)
            return
        conn = Connection(self._next_cid, terminal)
        self._next_cid += 1
        self.conns[conn.cid] = conn
        self.sched.trace(f"net open {terminal} c{conn.cid}")
        hq.accept(conn)
        self.terms[terminal].on_open(conn, token)
        if self.drop_per_hour > 0:
            mean = 3_600_000 / self.drop_per_hour
            self.sched.after(int(self.rng.expovariate(1 / mean)) + 1, self._random_drop, conn)

    def _random_drop(self, conn: Connection) -> None:
        if conn.open and self.drop_per_hour > 0:
            self.stats["conn_drop"] += 1
            self.drop(conn, "radio")

    def drop(self, conn: Connection, why: str) -> None:
        """The connection dies; each side notices after its own short delay."""
        if not conn.open:
            return
        conn.open = False
        self.conns.pop(conn.cid, None)
        self.sched.trace(f"net drop {conn.terminal} c{conn.cid} {why}")
        lo, hi = self.s.handover_notice_ms if why == "radio" and self.mix.handover else self.s.notice_ms
        self.sched.after(self.rng.randint(lo, hi), self.terms[conn.terminal].on_closed, conn)
        if self.hq is not None:
            self.sched.after(self.rng.randint(lo, hi), self.hq.on_closed, conn)

    def drop_all(self, why: str) -> None:
        for cid in sorted(self.conns):
            self.drop(self.conns[cid], why)

    # --- packets --------------------------------------------------------------------------------
    def _one_way(self) -> int:
        lo, hi = self.mix.delay_ms
        d = self.rng.randint(lo, hi)
        if self.spike and self.rng.random() < self.spike:
            self.stats["delay_spike"] += 1
            d += self.rng.randint(*self.s.spike_ms)
        return d

    def send(self, conn: Connection, direction: int, data: bytes) -> None:
        if not conn.open:
            return
        no = conn.next_no[direction]
        conn.next_no[direction] = no + 1
        self._attempt(conn, direction, no, data, self.sched.now, self.s.rto_ms)

    def _attempt(self, conn: Connection, direction: int, no: int, data: bytes, first: int, rto: int) -> None:
        if not conn.open:
            return
        if self.is_clogged(conn.terminal) or (self.loss and self.rng.random() < self.loss):
            self.stats["clogged_packet" if self.is_clogged(conn.terminal) else "loss"] += 1
            if self.sched.now + rto - first > self.s.conn_timeout_ms:
                self.sched.after(self.s.conn_timeout_ms - (self.sched.now - first), self.drop, conn, "timeout")
                return
            self.sched.after(rto, self._attempt, conn, direction, no, data, first, min(2 * rto, self.s.rto_max_ms))
            return
        arrive = self.sched.now + self._one_way()
        if self.reorder and self.rng.random() < self.reorder:
            self.stats["reorder"] += 1
            arrive += self.rng.randint(1, 3 * self.mix.delay_ms[1])  # held back: later packets overtake it
        else:
            arrive = max(arrive, conn.last_arrival[direction])
            conn.last_arrival[direction] = arrive
        self.sched.at(arrive, self._arrive, conn, direction, no, data)
        if self.dup and self.rng.random() < self.dup:
            self.stats["dup"] += 1
            self.sched.at(arrive + self.rng.randint(0, 2 * self.mix.delay_ms[1]), self._arrive, conn, direction, no, data)

    def _arrive(self, conn: Connection, direction: int, no: int, data: bytes) -> None:
        if not conn.open:
            return
        buf = conn.buffer[direction]
        if no < conn.expected[direction] or no in buf:
            self.stats["dup_dropped"] += 1
            return
        buf[no] = data
        while conn.open and conn.expected[direction] in buf:
            payload = buf.pop(conn.expected[direction])
            conn.expected[direction] += 1
            if direction == TO_HQ:
                if self.hq is not None:
                    self.hq.on_frame(conn, payload)
            else:
                self.terms[conn.terminal].on_frame(conn, payload)
