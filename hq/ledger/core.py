"""The stateful ledger: per-terminal chain state, ``check_batch`` (verify before anything is
applied), ``apply`` (HQ's ingest order, the same live and on replay) and the queries the session
and the reports ask. The rules it applies are described in the package's docstring. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Container, Iterable

from ground.events import Event, EventKind, chain_hash, genesis_hash
from ground.model import StationId, TerminalId, VoterId
from sync_protocol.crypto import verify_batch
from sync_protocol.errors import BatchRejected
from hq.ledger.streams import ChainHashes, Flag, FlagLog
from hq.ledger.verdicts import Alarm, Alert, BallotMap, BallotRef, CheckinMap, CheckinRec, ContestVerdict, CState
from hq.screen import STATION_IN_REHEARSAL, Refusal, needs_screen, rehearsal_refusal, screen_checkin


@dataclass
class TermState:
    terminal: TerminalId
    station: StationId
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
        self.terminals: dict[str, TermState] = {}  # by TerminalId (readers index by plain ids)
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
        # stations with a terminal still in test mode (hq/rehearsal.py; set by HqSession before a
        # batch is applied): their real check-ins are refused as a whole, live only (replay: decided)
        self.rehearsing: frozenset[str] = frozenset()
        # Replay: the decisions stored at first ingest (HqStore.load), used instead of screening
        # again, so that a roll republished later or a registry edit never changes a verdict
        self.decided: dict[tuple[str, int], list[Refusal]] | None = None
        self._partial: set[tuple[str, int]] = set()  # check-ins of which some contests were refused
        self.order = 0  # events applied, in HQ's ingest order
        self._next_alert = 1
        self.alert_log: list[Alert] = []  # in creation order (ids are stable across replays)
        # per terminal, the last verified batch's new events and their chain hashes, so that
        # apply() need not hash them again: (first seq, events, hashes)
        self._verified: dict[TerminalId, tuple[int, list[Event], list[bytes]]] = {}

    # --- terminals -------------------------------------------------------------------------
    def register(self, terminal: TerminalId, station: StationId, device_pub: bytes) -> TermState:
        ts = self.terminals.get(terminal)
        if ts is None:
            ts = TermState(terminal, station, device_pub, head=genesis_hash(self.election_id, terminal))
            self.terminals[terminal] = ts
        else:
            ts.station, ts.device_pub = station, device_pub
        return ts

    def hash_at(self, terminal: TerminalId, seq: int) -> bytes:
        ts = self.terminals[terminal]
        return ts.head if seq == ts.acked_seq else (ts.hashes[seq - 1] if seq > 0 else genesis_hash(self.election_id, terminal))

    # --- verification ----------------------------------------------------------------------
    def check_batch(self, terminal: TerminalId, events: list[Event], signature: bytes, first_seq: int,
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
        """``apply`` each event in order, without building the flag changes for the caller.

        The batch ``check_batch`` just verified (the very list, as the server hands it on) is
        applied in one loop: its chain hashes are taken by position, and a plain check-in (every
        contest a first ballot, nothing refused) goes straight into the ledger's rows, as
        ``_checkin`` would put it there; anything else goes through ``_dispatch`` as always."""
        evs = events if type(events) is list else list(events)
        v = self._verified.get(evs[0].terminal) if evs else None
        if v is None or v[1] is not evs or type(self)._apply is not Ledger._apply:
            for ev in evs:
                self._apply(ev)
            return
        t = evs[0].terminal
        del self._verified[t]
        hashes = v[2]
        ts = self.terminals[t]
        inline = (self._plain_add_ballot and type(self)._checkin is Ledger._checkin and self.decided is None
                  and not (self.rehearsing and ts.station in self.rehearsing))
        station, contests_ok, roll = ts.station, self.contests, self.roll
        checkins, ballots, rows = self.checkins, self.ballots, self.flags._rows
        claim, add_row, buf = ballots.setdefault, rows.append, ts.hashes._buf
        for i, ev in enumerate(evs):
            seq = ev.seq
            if seq != ts.acked_seq + 1:  # check_batch guarantees this; a bug if not
                raise BatchRejected("連番が連続していません", code="batch_gap")
            h = hashes[i]
            buf += h  # ChainHashes.append: h is a SHA-256 digest, 32 bytes
            ts.head = h
            ts.acked_seq = seq
            self.order += 1
            if not inline or ev.kind is not _CHECKIN:
                self._dispatch(ev, ts)
                continue
            data = ev.data
            if needs_screen(data, station, contests_ok, roll):
                self._refused(ev, *screen_checkin(t, seq, ev.hlc, data, station, contests_ok, roll))
                continue
            # _checkin, when every contest is a first ballot: claimed at once, undone if one is not
            voter, contests = VoterId(str(data["voter"])), tuple(data["contests"])
            key = (t, seq)
            one = (key,)
            first = len(set(contests)) == len(contests)
            if first:
                for j, c in enumerate(contests):
                    if claim((voter, c), one) is not one:
                        for u in contests[:j]:
                            del ballots[(voter, u)]
                        first = False
                        break
            if not first:
                self._checkin(ev)
                continue
            ref = (t, seq, str(data.get("station", "")), ev.hlc, str(data.get("clerk", "")))
            _dict_set(checkins, key, (voter, ref, contests))
            n = len(rows)
            st, hlc = ref[2], ref[3]
            for c in contests:
                n += 1
                add_row((n, voter, c, 1, st, t, seq, hlc))

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
        self._dispatch(ev, ts)

    def _dispatch(self, ev: Event, ts: TermState) -> None:
        """What an event means, once its place in the chain is taken (``_apply``)."""
        t, seq = ev.terminal, ev.seq
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
            elif self.rehearsing and ts.station in self.rehearsing:
                self._refused(ev, (), [rehearsal_refusal(t, seq, ev.hlc, ev.data, ts.station)])
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
                self.flags.append(Flag(len(self.flags) + 1, VoterId(ev.voter), c, 0,
                                       StationId("absentee:" + str(ev.data["state"])), ev.terminal, ev.seq, ev.hlc))
        else:
            self.other_events.append(ev)

    def _flag(self, voter: VoterId, contest: str, delta: int, ref: BallotRef) -> None:
        self.flags.append(Flag(len(self.flags) + 1, voter, contest, delta, ref.station, ref.terminal, ref.seq, ref.hlc))

    def holder(self, voter: VoterId, contest: str) -> BallotRef | None:
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
        voter, contests = VoterId(str(data["voter"])), tuple(data["contests"]) if counted is None else counted
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
            self._handed_despite_rehearsal(ev)
            return
        for c, st in list(rec.state.items()):
            if st is CState.PENDING:
                self._add_ballot(rec, c)

    def _handed_despite_rehearsal(self, ev: Event) -> None:
        """A check-in refused because its station had a terminal in test mode, which the terminal
        handed out on オフライン受付 before HQ's refusal reached it (its PROVISIONAL marker says
        so): the ballots exist, so they count after all (detect when offline). Replay does the
        same from the stored refusal and the same marker."""
        refused = self.refusal_of.get((ev.terminal, ev.ref))
        if not refused or refused[0].code != STATION_IN_REHEARSAL or refused[0] not in self.refusals:
            return
        r = refused[0]
        # kept in refusal_of: HqStore.commit may be storing it with this very group (the decision
        # as first made, which replay starts from); out of the report's list of what did not count
        self.refusals.remove(r)
        self._checkin(Event(EventKind.CHECKIN, r.seq, r.hlc, r.terminal,
                            {"station": r.claimed_station, "voter": r.voter, "contests": list(r.contests),
                             "clerk": r.clerk}))

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
    def verdicts_for(self, terminal: TerminalId, seqs: Iterable[int]) -> list[ContestVerdict]:
        out: list[ContestVerdict] = []
        for s in seqs:
            rec = self.checkins.get((terminal, s))
            if rec is not None:
                out.extend(rec.verdict.values())
        return out

    def verdict_wire(self, terminal: TerminalId, seqs: Iterable[int]) -> tuple[list[list[int]], list[list[object]]]:
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

    def flags_after(self, cursor: int, exclude_terminal: TerminalId | None = None, limit: int = 5000,
                    upto: int | None = None) -> tuple[list[Flag], int]:
        """Flags after ``cursor`` (at most ``upto``), skipping the recipient's own; returns the
        new cursor (which moves past skipped flags too)."""
        rows, pos = self.flags.wire_after(cursor, exclude_terminal, limit, upto)
        return [_tuple_new(Flag, r) for r in rows], pos

    def flags_wire_after(self, cursor: int, exclude_terminal: TerminalId | None = None, limit: int = 5000,
                         upto: int | None = None) -> tuple[list[tuple[Any, ...]], int]:
        """``flags_after`` in wire form (each ``Flag.wire()``), for the FLAGS frame."""
        return self.flags.wire_after(cursor, exclude_terminal, limit, upto)

    def active_alerts(self) -> list[Alert]:
        return [a for a in self.alert_log if a.active]

    def voted_set(self) -> set[tuple[str, str]]:
        return set(self.ballots)

    def ballot_count(self, voter: VoterId, contest: str) -> int:
        return len(self.ballots.get((voter, contest), ()))



_dict_set: Any = dict.__setitem__  # CheckinMap.put without the call
_tuple_new: Any = tuple.__new__  # builds a NamedTuple in C, without its Python __new__
_HQ_ONLY = frozenset((EventKind.ABSENTEE, EventKind.ABSENTEE_STATUS))
_CHECKIN, _ABSENTEE = EventKind.CHECKIN, EventKind.ABSENTEE
_BALLOT, _PENDING = CState.BALLOT, CState.PENDING


HQ_STATION = StationId("HQ")
