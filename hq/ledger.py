"""HQ's ledger (名簿対照 at HQ): first writer wins per voter and contest, double-vote alerts,
clone alarms, and the ordered stream of voted flags every terminal follows. Pure: no I/O.

HQ is event-sourced: the ledger's whole state is a function of the journal events it accepted, in
HQ's ingest order. The adapter stores the events durably and, after a restart, replays them
through ``apply()`` to rebuild exactly the same verdicts, alerts and flag stream (cursors stay
valid across restarts). Verification (``check_batch``) happens before anything is applied.

A ballot of contest *c* handed to voter *v* is a ``checkin`` event naming *c*, unless
- HQ answered ALREADY_VOTED for it and the terminal then wrote ``withheld`` (the poll worker was
  told within the budget and handed nothing), or
- it was voided (``void``: the voter left without voting).
While HQ's ALREADY_VOTED answer awaits the terminal's marker (``withheld`` or ``provisional``)
the contest is *pending*: not (yet) a ballot. Two or more ballots of one contest for one voter is
a double vote (二重投票): an alert holding every ballot. Verdicts are fixed at first ingest, so a
resent batch gets the same answer it got the first time.

A check-in's station, voter and contests are the terminal's word: ``_apply`` screens them against
the registry, election.toml and the published roll first (screen.py); a refused check-in stays in
the chain (acknowledged like any event) but is a ``Refusal``, never a ballot or a flag.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Container, Iterable, Iterator, NamedTuple, TypeVar, overload

from ground.events import Event, EventKind, chain_hash, genesis_hash
from ground.model import HQ_TERMINAL
from sync_protocol.crypto import verify_batch
from sync_protocol.errors import BatchRejected
from hq.screen import Refusal, needs_screen, screen_checkin


_T = TypeVar("_T")


class Verdict(str, Enum):
    ACCEPTED = "accepted"
    ALREADY_VOTED = "already_voted"


class CState(str, Enum):
    BALLOT = "ballot"
    PENDING = "pending"
    WITHHELD = "withheld"
    VOIDED = "voided"


# BallotRef, ContestVerdict and Flag are NamedTuples, not frozen dataclasses: HQ makes several
# per ingested event and a tuple is built in C (ingest is measured against a bare SQLite insert).

class BallotRef(NamedTuple):
    terminal: str
    seq: int
    station: str
    hlc: int
    clerk: str = ""


class ContestVerdict(NamedTuple):
    seq: int
    contest: str
    verdict: Verdict
    first: BallotRef | None = None  # where and when the voter already received it

    def wire(self) -> list[object]:
        if self.first is None:
            return [self.seq, self.contest, "A"]
        f = self.first
        return [self.seq, self.contest, "V", f.station, f.terminal, f.hlc, f.seq]


@dataclass(slots=True, eq=False)
class CheckinRec:
    """One check-in at HQ. ``first`` holds, for each contest HQ answered ALREADY_VOTED, the
    ballot the voter already had (None when every contest was accepted, the common case);
    ``verdict`` is derived from it on demand. ``state`` is a dict of each contest's state,
    built the first time it is asked for: until then (``state_row`` None) every contest is a
    ballot, the common case. HQ keeps one of these per check-in and builds it on the ingest
    path, so it holds as few objects as it can (each one the GC tracks costs every full
    collection)."""

    voter: str
    # the BallotRef's fields as a plain tuple: the GC stops tracking a plain tuple of strings and
    # ints, never a NamedTuple, and every tracked object makes each full collection longer
    ref_row: tuple[str, int, str, int, str]
    contests: tuple[str, ...]
    state_row: dict[str, CState] | None = None
    first: dict[str, BallotRef] | None = None
    key: tuple[str, int] | None = field(default=None, repr=False)  # (terminal, seq), shared

    @property
    def state(self) -> dict[str, CState]:
        st = self.state_row
        if st is None:
            st = self.state_row = dict.fromkeys(self.contests, _BALLOT)
        return st

    def states(self) -> dict[str, CState]:
        """``state`` for reading only: builds nothing to keep when every contest is a ballot
        (a report reading every check-in leaves them as lean as it found them)."""
        st = self.state_row
        return dict.fromkeys(self.contests, _BALLOT) if st is None else st

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CheckinRec):
            return NotImplemented
        return (self.voter, self.ref_row, self.contests, self.state, self.first) == \
            (other.voter, other.ref_row, other.contests, other.state, other.first)

    @property
    def ref(self) -> BallotRef:
        r: BallotRef = _tuple_new(BallotRef, self.ref_row)
        return r

    @property
    def verdict(self) -> dict[str, ContestVerdict]:
        seq, first = self.ref.seq, self.first
        if not first:
            return {c: ContestVerdict(seq, c, Verdict.ACCEPTED) for c in self.contests}
        return {c: (ContestVerdict(seq, c, Verdict.ALREADY_VOTED, first[c]) if c in first
                    else ContestVerdict(seq, c, Verdict.ACCEPTED)) for c in self.contests}

    @property
    def already_voted(self) -> bool:
        """HQ answered ALREADY_VOTED for at least one contest."""
        return bool(self.first)


class Flag(NamedTuple):
    """One change of the voted-flag stream: +1 voter received contest there, -1 released."""

    cursor: int
    voter: str
    contest: str
    delta: int
    station: str
    terminal: str
    seq: int
    hlc: int

    def wire(self) -> tuple[object, ...]:
        return (self.cursor, self.voter, self.contest, self.delta, self.station, self.terminal, self.seq, self.hlc)


_Row = tuple[str, tuple[str, int, str, int, str], tuple[str, ...]]  # voter, ref_row, contests


class CheckinMap(dict[tuple[str, int], CheckinRec]):
    """``Ledger.checkins``: (terminal, seq) → ``CheckinRec``, a plain dict to its readers.

    A check-in whose every contest was a first ballot (nearly all of them) is kept as a plain
    tuple row until someone asks for it, and only then becomes a ``CheckinRec`` (kept, so that
    changes to it stay). A plain tuple of strings and ints is not tracked by the GC, a
    ``CheckinRec`` is: on a day of hundreds of thousands of check-ins that is most of the cost
    of each full collection on HQ's ingest path."""

    def _rec(self, key: tuple[str, int], v: "CheckinRec | _Row") -> CheckinRec:
        if type(v) is tuple:
            rec = CheckinRec(v[0], v[1], v[2], None, None, key)
            dict.__setitem__(self, key, rec)
            return rec
        return v  # type: ignore[return-value]

    def _all(self) -> None:
        for k, v in list(dict.items(self)):
            held: Any = v
            if type(held) is tuple:
                self._rec(k, held)

    def __getitem__(self, key: tuple[str, int]) -> CheckinRec:
        return self._rec(key, dict.__getitem__(self, key))

    @overload  # type: ignore[override]
    def get(self, key: tuple[str, int], /) -> CheckinRec | None: ...
    @overload
    def get(self, key: tuple[str, int], default: CheckinRec | _T, /) -> CheckinRec | _T: ...
    def get(self, key: tuple[str, int], default: Any = None, /) -> Any:
        v = dict.get(self, key)
        return default if v is None else self._rec(key, v)

    def values(self) -> Any:
        self._all()
        return dict.values(self)

    def items(self) -> Any:
        self._all()
        return dict.items(self)

    def __eq__(self, other: object) -> bool:
        self._all()
        if isinstance(other, CheckinMap):
            other._all()
        return dict.__eq__(self, other)

    __hash__ = None

    def __repr__(self) -> str:
        self._all()
        return dict.__repr__(self)

    def copy(self) -> dict[tuple[str, int], CheckinRec]:
        self._all()
        return dict(dict.items(self))

    def pop(self, *args: Any) -> Any:
        self._all()
        return dict.pop(self, *args)

    def setdefault(self, *args: Any) -> Any:
        self._all()
        return dict.setdefault(self, *args)

    def reading(self) -> Iterator[tuple[tuple[str, int], CheckinRec]]:
        """``items()`` for readers that change nothing (reports): a row is shown as a
        ``CheckinRec`` made for the moment and not kept, so a report leaves the map lean."""
        for k, v in dict.items(self):
            held: Any = v
            if type(held) is tuple:
                yield k, CheckinRec(held[0], held[1], held[2], None, None, k)
            else:
                yield k, v

    def put(self, key: tuple[str, int], v: "CheckinRec | _Row") -> None:
        dict.__setitem__(self, key, v)  # type: ignore[misc]

    def raw(self, key: tuple[str, int]) -> "CheckinRec | _Row | None":
        """What is held, without making a ``CheckinRec`` of a row (ledger-internal reads)."""
        return dict.get(self, key)

    def ref_of(self, key: tuple[str, int]) -> BallotRef:
        v = self.raw(key)
        if v is None:
            raise KeyError(key)
        r: BallotRef = _tuple_new(BallotRef, v[1] if type(v) is tuple else v.ref_row)  # type: ignore[union-attr]
        return r


class BallotMap(dict[tuple[str, str], tuple[tuple[str, int], ...]]):
    """``Ledger.ballots``: a plain dict that the GC never untracks. A full collection untracks
    an exact dict whose entries are all untracked (ours: tuples of strings and ints), and the
    next insert of a new tuple tracks it again, in the youngest generation: from then on every
    young collection walks all its entries (millions after a restart) until it ages, and
    ``gc.freeze()`` cannot keep it (it is untracked when frozen). A subclass stays tracked, so
    it ages once and stays old (or frozen). Measured: ingest on a 200k-event ledger 2× faster."""

    __slots__ = ()


class FlagLog:
    """The voted-flag stream (``flags[i]`` has cursor i+1): ``Flag`` outside, plain tuples
    inside, so that the GC stops tracking them (it never untracks a NamedTuple; HQ holds one
    or two flags per check-in). ``wire_after`` hands the tuples out as they are."""

    __slots__ = ("_rows", "_marks")

    def __init__(self, flags: Iterable[Flag] = ()) -> None:
        self._rows: list[tuple[Any, ...]] = [tuple(f) for f in flags]
        self._marks = bytearray()  # 8 bytes per position, computed as far as ``mark`` was asked

    def mark(self, pos: int) -> str:
        """The stream's identity up to cursor ``pos``: a chain digest of its first ``pos`` flags
        (hex, "" at 0). A terminal keeps the mark with its cursor; a HELLO whose mark is not
        HQ's at that cursor comes from another stream (an HQ restored from a backup, then fed
        in a different order), and the terminal is sent the stream from the start. Computed
        lazily: a replay of millions of flags pays nothing for it, the first HELLO pays once."""
        if pos <= 0:
            return ""
        marks, rows = self._marks, self._rows
        done = len(marks) // 8
        if pos > done:
            h = bytes(marks[-8:]) if done else b""
            for r in rows[done:pos]:
                h = hashlib.blake2b(h + "\x1f".join(map(str, r)).encode("utf-8"), digest_size=8).digest()
                marks += h
        return marks[8 * (pos - 1):8 * pos].hex()

    def append(self, f: Flag | tuple[Any, ...]) -> None:
        self._rows.append(f if type(f) is tuple else tuple(f))

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, i: int) -> Flag: ...
    @overload
    def __getitem__(self, i: slice) -> list[Flag]: ...
    def __getitem__(self, i: int | slice) -> Flag | list[Flag]:
        if isinstance(i, slice):
            return [_tuple_new(Flag, r) for r in self._rows[i]]
        f: Flag = _tuple_new(Flag, self._rows[i])
        return f

    def __iter__(self) -> Iterator[Flag]:
        for r in self._rows:
            yield _tuple_new(Flag, r)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FlagLog):
            return self._rows == other._rows
        if isinstance(other, list):
            return self._rows == [tuple(f) for f in other]
        return NotImplemented

    def __repr__(self) -> str:
        return f"FlagLog(<{len(self)}>)"

    def wire_after(self, cursor: int, exclude_terminal: str | None, limit: int,
                   upto: int | None) -> tuple[list[tuple[Any, ...]], int]:
        """``Ledger.flags_after`` in wire form (``Flag.wire()``), without building a Flag each."""
        rows = self._rows
        end = len(rows) if upto is None else min(upto, len(rows))
        out: list[tuple[Any, ...]] = []
        pos = cursor
        while pos < end and len(out) < limit:
            r = rows[pos]
            pos += 1
            if r[5] != exclude_terminal:
                out.append(r)
        return out, pos


@dataclass
class Alert:
    """二重投票: one voter holding two or more ballots of one contest."""

    alert_id: int
    voter: str
    contest: str
    ballots: list[BallotRef]
    active: bool = True


@dataclass
class Alarm:
    """Cloned or forked terminal: two different events at one position (or a changed event)."""

    terminal: str
    seq: int
    reason: str
    held_hash: str
    offered_hash: str


class ChainHashes:
    """Every chain hash of one terminal's journal, 32 bytes each in one buffer (``self[i]`` is
    the hash of seq i+1). Duplicate and clone detection compares a resent event with the hash
    HQ holds at its position, anywhere in the journal, so all of them stay; as one buffer they
    cost 32 B an event and no Python object each (a list of bytes cost ~90 B and GC work)."""

    __slots__ = ("_buf",)

    def __init__(self, hashes: Iterable[bytes] = ()) -> None:
        self._buf = bytearray()
        for h in hashes:
            self.append(h)

    def append(self, h: bytes) -> None:
        if len(h) != 32:
            raise ValueError("chain hashes are 32 bytes")
        self._buf += h

    def __len__(self) -> int:
        return len(self._buf) >> 5

    @overload
    def __getitem__(self, i: int) -> bytes: ...
    @overload
    def __getitem__(self, i: slice) -> list[bytes]: ...
    def __getitem__(self, i: int | slice) -> bytes | list[bytes]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("chain hash index out of range")
        return bytes(self._buf[i << 5:(i + 1) << 5])

    def __iter__(self) -> Iterator[bytes]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ChainHashes):
            return self._buf == other._buf
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"ChainHashes(<{len(self)}>)"


@dataclass
class TermState:
    terminal: str
    station: str
    device_pub: bytes
    acked_seq: int = 0
    head: bytes = b""
    hashes: ChainHashes = field(default_factory=ChainHashes)  # hashes[i] = hash of seq i+1
    held: bool = False
    revoked: bool = False


@dataclass
class BatchCheck:
    """Outcome of verifying one batch: the events to apply, or why not."""

    new_events: list[Event]
    duplicate_upto: int  # events at or below this seq were already held (a replay)
    gap_from: int | None = None  # ask the terminal to resend from here
    alarm: Alarm | None = None


class Ledger:
    def __init__(self, election_id: str) -> None:
        self.election_id = election_id
        self.terminals: dict[str, TermState] = {}
        self.checkins = CheckinMap()
        # _checkin inlines _add_ballot's first-ballot case unless a subclass changes _add_ballot
        self._plain_add_ballot = type(self)._add_ballot is Ledger._add_ballot
        # (voter, contest) → the check-ins holding a ballot of it, first (the holder) first; a
        # tuple (replaced on change): almost always one entry, and tuples cost the GC nothing
        self.ballots: dict[tuple[str, str], tuple[tuple[str, int], ...]] = BallotMap()
        self.alerts: dict[tuple[str, str], Alert] = {}
        self.flags = FlagLog()
        self.alarms: list[Alarm] = []
        self.other_events: list[Event] = []  # tentative, lookup, station, count: kept for reports
        # What a check-in's body is checked against (screen.py): election.toml's contests and the
        # published roll (None: not checked; HqStore.load sets both), and what failed
        self.contests: frozenset[str] | None = None
        self.roll: Container[str] | None = None
        self.refusals: list[Refusal] = []
        self.refusal_of: dict[tuple[str, int], list[Refusal]] = {}  # by check-in, for HqStore.commit
        # Replay: the decisions stored at first ingest (HqStore.load), used instead of screening
        # again, so that a roll republished later or a registry edit never changes a verdict
        self.decided: dict[tuple[str, int], list[Refusal]] | None = None
        self._partial: set[tuple[str, int]] = set()  # check-ins of which some contests were refused
        self.order = 0  # events applied, in HQ's ingest order
        self._next_alert = 1
        self.alert_log: list[Alert] = []  # in creation order (ids are stable across replays)
        # per terminal, the last verified batch's new events and their chain hashes, so that
        # apply() need not hash them again: (first seq, events, hashes)
        self._verified: dict[str, tuple[int, list[Event], list[bytes]]] = {}

    # --- terminals -------------------------------------------------------------------------
    def register(self, terminal: str, station: str, device_pub: bytes) -> TermState:
        ts = self.terminals.get(terminal)
        if ts is None:
            ts = TermState(terminal, station, device_pub, head=genesis_hash(self.election_id, terminal))
            self.terminals[terminal] = ts
        else:
            ts.station, ts.device_pub = station, device_pub
        return ts

    def hash_at(self, terminal: str, seq: int) -> bytes:
        ts = self.terminals[terminal]
        return ts.head if seq == ts.acked_seq else (ts.hashes[seq - 1] if seq > 0 else genesis_hash(self.election_id, terminal))

    # --- verification ----------------------------------------------------------------------
    def check_batch(self, terminal: str, events: list[Event], signature: bytes, first_seq: int,
                    last_seq: int, prev_hex: str, head_hex: str) -> BatchCheck:
        """Verify a batch from ``terminal`` (the identity its TLS certificate proved).

        Raises ``BatchRejected`` for a forged, tampered, foreign or malformed batch. Returns a
        clone alarm (and holds the terminal) when the batch is validly signed by the terminal's
        own key but contradicts what HQ already holds at the same positions: two journals with
        one identity."""
        ts = self.terminals.get(terminal)
        if ts is None or ts.revoked:
            raise BatchRejected("登録されていない、または失効した端末です", code="terminal_unknown")
        if ts.held:
            raise BatchRejected("この端末は複製の疑いで保留中です", code="terminal_held")
        if not events or len(events) != last_seq - first_seq + 1 or events[0].seq != first_seq:
            raise BatchRejected("一括送信の範囲が不正です", code="batch_range_invalid")
        seq = first_seq
        for ev in events:
            if ev.terminal != terminal or ev.seq != seq:
                raise BatchRejected("他の端末の記録、または連番が不正です", code="batch_identity_mismatch")
            if ev.kind in _HQ_ONLY:
                raise BatchRejected("端末は不在者投票を記録できません", code="batch_kind_invalid")
            seq += 1
        try:
            prev, head = bytes.fromhex(prev_hex), bytes.fromhex(head_hex)
        except ValueError:
            raise BatchRejected("署名を確認できません", code="batch_signature_invalid")
        hashes = []
        h = prev
        sha256 = hashlib.sha256
        for ev in events:  # chain_hash, inlined: once per event of every batch
            h = sha256(h + ev.encode()).digest()
            hashes.append(h)
        if h != head:  # events changed after signing
            raise BatchRejected("署名を確認できません", code="batch_signature_invalid")
        verify_batch(ts.device_pub, signature, self.election_id, terminal, first_seq, last_seq, prev, head)
        if first_seq > ts.acked_seq + 1:
            return BatchCheck([], 0, gap_from=ts.acked_seq + 1)
        held_prev = self.hash_at(terminal, first_seq - 1)
        if held_prev != prev:
            return self._alarm(ts, first_seq - 1, "chain_fork", held_prev.hex(), prev.hex())
        dup_upto = min(last_seq, ts.acked_seq)
        for i in range(first_seq, dup_upto + 1):
            held = ts.hashes[i - 1]
            offered = hashes[i - first_seq]
            if held != offered:
                return self._alarm(ts, i, "changed_event", held.hex(), offered.hex())
        k = max(0, ts.acked_seq + 1 - first_seq)
        new = events[k:]
        if new:  # apply() would compute these again
            self._verified[terminal] = (first_seq + k, new, hashes[k:])
        return BatchCheck(new, dup_upto)

    def _alarm(self, ts: TermState, seq: int, reason: str, held: str, offered: str) -> BatchCheck:
        alarm = Alarm(ts.terminal, seq, reason, held, offered)
        self.raise_alarm(alarm)
        return BatchCheck([], 0, alarm=alarm)

    def raise_alarm(self, alarm: Alarm) -> None:
        self.alarms.append(alarm)
        self.terminals[alarm.terminal].held = True

    # --- applying ----------------------------------------------------------------------------
    def apply(self, ev: Event) -> list[Flag]:
        """Apply one verified event in HQ's order; returns the flag changes it caused."""
        before = len(self.flags)
        self._apply(ev)
        return self.flags[before:]

    def apply_all(self, events: Iterable[Event]) -> None:
        """``apply`` each event in order, without building the flag changes for the caller."""
        for ev in events:
            self._apply(ev)

    def _apply(self, ev: Event) -> None:
        t, seq = ev.terminal, ev.seq
        ts = self.terminals[t]
        if seq != ts.acked_seq + 1:  # check_batch guarantees this; a bug if not
            raise BatchRejected("連番が連続していません", code="batch_gap")
        h = None
        v = self._verified.get(t)
        if v is not None:
            k = seq - v[0]
            evs = v[1]
            # the very event check_batch verified (same object), right after the one before it
            if 0 <= k < len(evs) and evs[k] is ev:
                h = v[2][k]
            if k >= len(evs) - 1 or h is None:
                del self._verified[t]
        if h is None:
            h = chain_hash(ts.head, ev.encode())
        ts.hashes._buf += h  # ChainHashes.append: h is a SHA-256 digest, 32 bytes
        ts.head = h
        ts.acked_seq = seq
        self.order += 1
        kind = ev.kind
        if kind is _CHECKIN:
            # the body is the terminal's word: station, voter and contests are checked against
            # what HQ knows before anything counts (screen.py); a refusal stays in the chain
            decided = self.decided
            if decided is not None:  # replay: as decided at first ingest
                refused = decided.get((t, seq))
                if refused:
                    gone = {c for r in refused for c in r.contests}
                    self._refused(ev, tuple(c for c in ev.data["contests"] if c not in gone), refused)
                else:
                    self._checkin(ev)
            elif needs_screen(ev.data, ts.station, self.contests, self.roll):
                self._refused(ev, *screen_checkin(t, seq, ev.hlc, ev.data, ts.station, self.contests, self.roll))
            else:
                self._checkin(ev)
        elif kind is _ABSENTEE:  # HQ's own (hq_ops.record_absentee checked it)
            self._checkin(ev)
        elif kind is EventKind.WITHHELD:
            self._withheld(ev)
        elif kind is EventKind.PROVISIONAL:
            self._provisional(ev)
        elif kind is EventKind.VOID:
            self._void(ev)
        elif kind is EventKind.ABSENTEE_STATUS:
            # a notice, not a ballot: a delta-0 flag "absentee:<state>" on the stream, which an
            # older terminal's DELETE branch ignores (no voted row has HQ's seq for it)
            self.other_events.append(ev)
            for c in ev.contests:
                self.flags.append(Flag(len(self.flags) + 1, ev.voter, c, 0, "absentee:" + str(ev.data["state"]),
                                       ev.terminal, ev.seq, ev.hlc))
        else:
            self.other_events.append(ev)

    def _flag(self, voter: str, contest: str, delta: int, ref: BallotRef) -> None:
        self.flags.append(Flag(len(self.flags) + 1, voter, contest, delta, ref.station, ref.terminal, ref.seq, ref.hlc))

    def holder(self, voter: str, contest: str) -> BallotRef | None:
        lst = self.ballots.get((voter, contest))
        return self.checkins.ref_of(lst[0]) if lst else None

    def _add_ballot(self, rec: CheckinRec, contest: str) -> None:
        key = (rec.voter, contest)
        r = rec.ref_row
        me = rec.key or (r[0], r[1])
        old = self.ballots.get(key)
        lst = self.ballots[key] = (me,) if old is None else old + (me,)
        st = rec.state_row
        if st is not None:  # None: every contest is a ballot already
            st[contest] = _BALLOT
        if old is None:  # a Flag's fields, as a plain tuple (FlagLog)
            flags = self.flags
            flags.append((len(flags) + 1, rec.voter, contest, 1, r[2], r[0], r[1], r[3]))
        else:
            refs = [self.checkins.ref_of(k) for k in lst]
            alert = self.alerts.get(key)
            if alert is None:
                alert = Alert(self._next_alert, rec.voter, contest, refs)
                self._next_alert += 1
                self.alerts[key] = alert
                self.alert_log.append(alert)
            else:
                alert.ballots = refs
                alert.active = True

    def _remove_ballot(self, rec: CheckinRec, contest: str) -> None:
        key = (rec.voter, contest)
        lst = self.ballots.get(key, ())
        me = rec.key or (rec.ref_row[0], rec.ref_row[1])
        if me not in lst:
            return
        was_holder = lst[0] == me
        i = lst.index(me)
        lst = lst[:i] + lst[i + 1:]
        if lst:
            self.ballots[key] = lst
        if was_holder:
            self._flag(rec.voter, contest, -1, rec.ref)
            if lst:
                self._flag(rec.voter, contest, +1, self.checkins.ref_of(lst[0]))
        alert = self.alerts.get(key)
        if alert is not None:
            alert.ballots = [self.checkins.ref_of(k) for k in lst]
            alert.active = len(lst) >= 2
        if not lst:
            del self.ballots[key]

    def refusals_for(self, events: Iterable[Event]) -> list[Refusal]:
        """The refusals decided for these events: what ``HqStore.commit`` stores with them."""
        of = self.refusal_of
        return [r for ev in events for r in of.get((ev.terminal, ev.seq), ())] if of else []

    def _refused(self, ev: Event, counted: tuple[str, ...], refused: list[Refusal]) -> None:
        """A check-in some or all of whose contests HQ did not count (screen.py)."""
        self.refusals.extend(refused)
        self.refusal_of[(ev.terminal, ev.seq)] = refused
        if counted:
            self._checkin(ev, counted)
            self._partial.add((ev.terminal, ev.seq))

    def _checkin(self, ev: Event, counted: tuple[str, ...] | None = None) -> None:
        data = ev.data
        t, seq = ev.terminal, ev.seq
        voter, contests = str(data["voter"]), tuple(data["contests"]) if counted is None else counted
        ref = (t, seq, str(data.get("station", "")), ev.hlc, str(data.get("clerk", "")))
        key = (t, seq)
        checkins = self.checkins
        # a plain row while every contest is a first ballot (see CheckinMap), else a CheckinRec
        _dict_set(checkins, key, (voter, ref, contests))
        rec: CheckinRec | None = None
        absentee = ev.kind is _ABSENTEE
        ballots = self.ballots
        inline = self._plain_add_ballot
        rows = self.flags._rows
        station, hlc = ref[2], ref[3]
        for c in contests:
            bk = (voter, c)
            held = ballots.get(bk)
            if held is None and inline:  # the first ballot: _add_ballot, inlined (state: a ballot)
                ballots[bk] = (key,)
                rows.append((len(rows) + 1, voter, c, 1, station, t, seq, hlc))
                continue
            if rec is None:
                rec = CheckinRec(voter, ref, contests, None, None, key)
                checkins.put(key, rec)
            if not held or absentee:
                self._add_ballot(rec, c)
            else:
                if rec.first is None:
                    rec.first = {}
                rec.first[c] = checkins.ref_of(held[0])
                rec.state[c] = _PENDING  # the contests after it set their own state below

    def _rec(self, ev: Event) -> CheckinRec | None:
        return self.checkins.get((ev.terminal, ev.ref))

    def _withheld(self, ev: Event) -> None:
        rec = self._rec(ev)
        if rec is None:
            return
        for c in ev.contests:
            st = rec.state.get(c)
            if st is CState.PENDING:
                rec.state[c] = CState.WITHHELD
            elif st is CState.BALLOT:
                self._remove_ballot(rec, c)
                rec.state[c] = CState.WITHHELD

    def _provisional(self, ev: Event) -> None:
        rec = self._rec(ev)
        if rec is None:
            return
        for c, st in list(rec.state.items()):
            if st is CState.PENDING:
                self._add_ballot(rec, c)

    def _void(self, ev: Event) -> None:
        rec = self._rec(ev)
        if rec is None:
            return
        for c, st in list(rec.state.items()):
            if st is CState.BALLOT:
                self._remove_ballot(rec, c)
            if st in (CState.BALLOT, CState.PENDING):
                rec.state[c] = CState.VOIDED

    # --- queries -----------------------------------------------------------------------------
    def verdicts_for(self, terminal: str, seqs: Iterable[int]) -> list[ContestVerdict]:
        out: list[ContestVerdict] = []
        for s in seqs:
            rec = self.checkins.get((terminal, s))
            if rec is not None:
                out.extend(rec.verdict.values())
        return out

    def verdict_wire(self, terminal: str, seqs: Iterable[int]) -> tuple[list[list[int]], list[list[object]]]:
        """Verdicts for the wire (ACK, WELCOME): check-ins whose every contest was accepted
        (the common case) as seq ranges ``ok``; each contest of any other check-in in ``v``."""
        ok: list[list[int]] = []
        detailed: list[list[object]] = []
        checkins = self.checkins
        partial = self._partial
        for s in seqs:
            rec = checkins.raw((terminal, s))
            if rec is None:  # none, or refused as a whole (screen.py): no verdict, so provisional
                continue
            if partial and (terminal, s) in partial:
                # some contests refused (screen.py): each counted one by name, so that the refused
                # ones have no verdict (the terminal takes the check-in as provisional)
                detailed.extend(v.wire() for v in checkins[(terminal, s)].verdict.values())
                continue
            if type(rec) is tuple:  # a plain row: every contest accepted (see CheckinMap)
                if not rec[2]:
                    continue
                if ok and ok[-1][1] == s - 1:
                    ok[-1][1] = s
                else:
                    ok.append([s, s])
                continue
            assert isinstance(rec, CheckinRec)
            if not rec.contests:
                continue
            if not rec.first:
                if ok and ok[-1][1] == s - 1:
                    ok[-1][1] = s
                else:
                    ok.append([s, s])
            else:
                detailed.extend(v.wire() for v in rec.verdict.values())
        return ok, detailed

    def flags_after(self, cursor: int, exclude_terminal: str | None = None, limit: int = 5000,
                    upto: int | None = None) -> tuple[list[Flag], int]:
        """Flags after ``cursor`` (at most ``upto``), skipping the recipient's own; returns the
        new cursor (which moves past skipped flags too)."""
        rows, pos = self.flags.wire_after(cursor, exclude_terminal, limit, upto)
        return [_tuple_new(Flag, r) for r in rows], pos

    def flags_wire_after(self, cursor: int, exclude_terminal: str | None = None, limit: int = 5000,
                         upto: int | None = None) -> tuple[list[tuple[Any, ...]], int]:
        """``flags_after`` in wire form (each ``Flag.wire()``), for the FLAGS frame."""
        return self.flags.wire_after(cursor, exclude_terminal, limit, upto)

    def active_alerts(self) -> list[Alert]:
        return [a for a in self.alert_log if a.active]

    def voted_set(self) -> set[tuple[str, str]]:
        return set(self.ballots)

    def ballot_count(self, voter: str, contest: str) -> int:
        return len(self.ballots.get((voter, contest), ()))


_dict_set: Any = dict.__setitem__  # CheckinMap.put without the call
_tuple_new: Any = tuple.__new__  # builds a NamedTuple in C, without its Python __new__
_HQ_ONLY = frozenset((EventKind.ABSENTEE, EventKind.ABSENTEE_STATUS))
_CHECKIN, _ABSENTEE = EventKind.CHECKIN, EventKind.ABSENTEE
_BALLOT, _PENDING = CState.BALLOT, CState.PENDING

HQ_STATION = "HQ"
__all__ = ["Ledger", "BallotMap", "Verdict", "ContestVerdict", "Flag", "FlagLog", "ChainHashes", "Alert", "Alarm", "BallotRef", "BatchCheck",
           "HQ_TERMINAL", "HQ_STATION", "CState"]
