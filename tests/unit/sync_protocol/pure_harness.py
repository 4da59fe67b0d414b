"""A tiny in-memory wiring of TerminalLink + HqSession + Ledger for unit tests (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nacl.signing import SigningKey

from ground.events import Event, EventKind, chain_hash, genesis_hash
from sync_protocol.codec import decode, encode
from hq.ledger import Ledger
from sync_protocol.session import LinkActions, TerminalLink
from hq.session import HqSession

ELECTION = "test-2027"


@dataclass
class MemTerminal:
    terminal: str
    station: str
    key: SigningKey = field(default_factory=lambda: SigningKey(b"\x01" * 32))
    journal: list[Event] = field(default_factory=list)
    hashes: list[bytes] = field(default_factory=list)
    hlc: int = 1000
    flags: dict[tuple[str, str], tuple] = field(default_factory=dict)
    cursor: int = 0
    mark: str = ""  # HQ's stream identity at the cursor

    def __post_init__(self) -> None:
        self.link = TerminalLink(ELECTION, self.terminal, self.station, self.key)

    def append(self, kind: EventKind, data: dict) -> Event:
        self.hlc += 1
        ev = Event(kind, len(self.journal) + 1, self.hlc, self.terminal, data)
        prev = self.hashes[-1] if self.hashes else genesis_hash(ELECTION, self.terminal)
        self.journal.append(ev)
        self.hashes.append(chain_hash(prev, ev.encode()))
        return ev

    def checkin(self, voter: str, contests: list[str]) -> Event:
        return self.append(EventKind.CHECKIN, {"station": self.station, "clerk": "c1", "voter": voter,
                                               "contests": contests})

    def hash_at(self, seq: int) -> bytes | None:
        if seq == 0:
            return genesis_hash(ELECTION, self.terminal)
        return self.hashes[seq - 1] if seq <= len(self.hashes) else None


def hq_for(*terms: MemTerminal) -> Ledger:
    led = Ledger(ELECTION)
    for t in terms:
        led.register(t.terminal, t.station, bytes(t.key.verify_key))
    return led


def sync(t: MemTerminal, led: Ledger, rounds: int = 10) -> list[LinkActions]:
    """Connect, exchange frames through the real codec until quiet, disconnect."""
    sess = HqSession(led, t.terminal)
    out: list[LinkActions] = []
    to_hq = [t.link.connect(len(t.journal), t.hash_at(len(t.journal)) or b"", t.cursor, 0, (), t.mark)]
    for _ in range(rounds):
        to_t = []
        for f in to_hq:
            r = sess.receive(decode(encode(f)))
            for ev in r.to_commit:
                led.apply(ev)
            to_t.extend(r.send)
            if r.pending_ack:
                to_t.append(sess.ack_frame(r.pending_ack))
            if r.close:
                break
        ff = sess.flags_frame(len(led.flags))
        if ff:
            to_t.append(ff)
        to_hq = []
        for f in to_t:
            a = t.link.receive(decode(encode(f)), t.hash_at)
            out.append(a)
            if a.flags_restart:
                t.cursor, t.mark = 0, ""
            for fl in a.flags:
                t.flags[(fl[1], fl[2])] = fl
            if a.flags_cursor is not None:
                t.cursor, t.mark = a.flags_cursor, a.flags_mark
            if a.need_events_from is not None and t.link.can_send():
                evs = t.journal[a.need_events_from - 1:]
                b = t.link.batch(evs, t.hash_at(a.need_events_from - 1) or b"")
                if b:
                    to_hq.append(b)
        if not to_hq:
            break
    t.link.disconnected()
    return out
