"""The two ends of one sync connection as sans-I/O state machines (h11 style).

``TerminalLink`` (terminal side) and ``HqSession`` (HQ side) take decoded frames in and give
frames and *actions* out; the adapters (client.py, server.py, and the simulator) do the I/O.
Each state machine's legal moves are a table; an illegal move raises ``IllegalTransition`` and
leaves the state unchanged.

One round trip resumes after any disconnect or restart: HELLO carries the terminal's journal
head and flag cursor, WELCOME carries what HQ durably holds of that journal, and the terminal
sends every event after it. A resent event changes nothing at HQ (idempotent on terminal and
sequence); a resent flag changes nothing at the terminal (its cursor only moves forward).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Sequence

from nacl.signing import SigningKey

from ground.events import Event, chain_hash
from sync_protocol.codec import PROTOCOL_VERSION, Frame, FrameType, MAX_BATCH_EVENTS
from sync_protocol.crypto import sign_batch
from sync_protocol.errors import BatchRejected, HeaderInvalid, IllegalTransition
from sync_protocol.headers import MAX_UNDECIDED, check_frame
from hq.ledger import BatchCheck, ContestVerdict, Flag, Ledger, BallotRef, Verdict


# --------------------------------------------------------------------------------------------
# Terminal side
# --------------------------------------------------------------------------------------------

class LinkState(str, Enum):
    DISCONNECTED = "disconnected"
    HELLO_SENT = "hello_sent"
    READY = "ready"
    REFUSED = "refused"  # HQ refused us (revoked, held, other election): stop until an operator acts


_TERMINAL_MOVES: dict[tuple[LinkState, str], LinkState] = {
    (LinkState.DISCONNECTED, "connect"): LinkState.HELLO_SENT,
    (LinkState.HELLO_SENT, "welcome"): LinkState.READY,
    (LinkState.HELLO_SENT, "refused"): LinkState.REFUSED,
    (LinkState.READY, "ack"): LinkState.READY,
    (LinkState.READY, "flags"): LinkState.READY,
    (LinkState.READY, "resend"): LinkState.READY,
    (LinkState.READY, "refused"): LinkState.REFUSED,
    (LinkState.READY, "send"): LinkState.READY,
    (LinkState.HELLO_SENT, "disconnect"): LinkState.DISCONNECTED,
    (LinkState.READY, "disconnect"): LinkState.DISCONNECTED,
    (LinkState.REFUSED, "disconnect"): LinkState.REFUSED,
    (LinkState.DISCONNECTED, "disconnect"): LinkState.DISCONNECTED,
    (LinkState.REFUSED, "reset"): LinkState.DISCONNECTED,
}


ALL_CONTESTS = "*"  # a verdict that covers every contest of the check-in


@dataclass(frozen=True)
class TerminalVerdict:
    """HQ's answer for one contest of one of our check-ins."""

    seq: int
    contest: str
    accepted: bool
    station: str = ""
    terminal: str = ""
    hlc: int = 0
    first_seq: int = 0  # the earlier ballot's sequence number on its terminal


@dataclass
class LinkActions:
    """What the adapter must do after feeding the link one input."""

    send: list[Frame] = field(default_factory=list)
    need_events_from: int | None = None  # read the journal from this seq and call batch()
    acked_seq: int | None = None
    verdicts: list[TerminalVerdict] = field(default_factory=list)
    flags: list[tuple[Any, ...]] = field(default_factory=list)  # apply durably, then flags_applied()
    flags_cursor: int | None = None
    flags_mark: str = ""  # HQ's stream identity at flags_cursor (FlagLog.mark): kept with the cursor
    flags_restart: bool = False  # WELCOME: HQ sends its stream from the start (another stream)
    refused: str | None = None  # code
    hq_mismatch: bool = False  # HQ holds a different journal for us: raise the alarm locally
    hq_roll_version: int | None = None
    hq_contests: list[str] | None = None
    hq_zaigai_version: int | None = None  # WELCOME ``zaigai`` (在外選挙人名簿), None from an older HQ


class TerminalLink:
    """Terminal side of the sync protocol. Feed it frames; it tells you what to send and do."""

    def __init__(self, election: str, terminal: str, station: str, key: SigningKey,
                 max_batch: int = 500, window: int = 4) -> None:
        self.election, self.terminal, self.station = election, terminal, station
        self._key = key
        self.state = LinkState.DISCONNECTED
        self.acked_seq = 0
        self.sent_upto = 0
        self.max_batch = max_batch
        self.window = window  # batches in flight before waiting for an ACK

    def _move(self, what: str) -> None:
        nxt = _TERMINAL_MOVES.get((self.state, what))
        if nxt is None:
            raise IllegalTransition(f"terminal link: {what} in state {self.state.value}")
        self.state = nxt

    def connect(self, head_seq: int, head_hash: bytes, flag_cursor: int, roll_version: int,
                undecided: Sequence[int] = (), flag_mark: str = "") -> Frame:
        """HELLO. ``undecided``: check-ins still waiting for HQ's verdict (within the budget):
        if their ACK was lost with the last connection, WELCOME brings the verdicts again.
        ``flag_mark``: HQ's stream identity at ``flag_cursor`` (from the last FLAGS applied), and
        ``acked``: what HQ last acknowledged durably — more than HQ now holds means HQ went back
        in time (restored from a backup), and HQ raises its alarm."""
        self._move("connect")
        header: dict[str, Any] = {"v": PROTOCOL_VERSION, "election": self.election, "terminal": self.terminal,
                                  "station": self.station, "head_seq": head_seq, "head": head_hash.hex(),
                                  "cursor": flag_cursor, "mark": flag_mark, "acked": self.acked_seq,
                                  "roll": roll_version}
        if undecided:
            header["undecided"] = sorted(set(int(s) for s in undecided))[-MAX_UNDECIDED:]
        return Frame(FrameType.HELLO, header)

    def disconnected(self) -> None:
        self._move("disconnect")
        self.sent_upto = self.acked_seq

    def reset(self) -> None:
        self._move("reset")

    def receive(self, frame: Frame, hash_at: Callable[[int], bytes | None]) -> LinkActions:
        """``hash_at(seq)`` reads our own journal's chain hash at seq (None beyond our head).
        A missing or malformed header field raises ``HeaderInvalid`` before anything changes."""
        check_frame(frame)
        a = LinkActions()
        h = frame.header
        t = frame.type
        if t is FrameType.WELCOME:
            self._move("welcome")
            acked = int(h["acked_seq"])
            mine = hash_at(acked)
            if mine is None or mine.hex() != h["acked_head"]:
                a.hq_mismatch = True
                self.state = LinkState.REFUSED
                a.refused = "hq_journal_mismatch"
                return a
            self.acked_seq = self.sent_upto = acked
            a.acked_seq = acked
            a.need_events_from = acked + 1
            if h.get("cursor") == 0:  # HQ's stream is not the one our cursor is in: from the start
                a.flags_restart = True
            a.verdicts = _parse_verdicts(h)
            a.hq_roll_version = int(h.get("roll", 0))
            if isinstance(h.get("contests"), list):
                a.hq_contests = [str(c) for c in h["contests"]]
            z = h.get("zaigai")  # optional: an older HQ leaves it out, and a bad one is ignored
            if isinstance(z, int) and not isinstance(z, bool) and z >= 0:
                a.hq_zaigai_version = z
        elif t is FrameType.ACK:
            self._move("ack")
            acked = int(h["acked_seq"])
            if acked > self.acked_seq:
                self.acked_seq = acked
            a.acked_seq = self.acked_seq
            a.verdicts = _parse_verdicts(h)
            a.need_events_from = self.sent_upto + 1
        elif t is FrameType.FLAGS:
            self._move("flags")
            a.flags = list(frame.flags)
            a.flags_cursor = int(h["cursor"])
            mark = h.get("mark", "")
            a.flags_mark = mark if isinstance(mark, str) and len(mark) <= 64 else ""
        elif t is FrameType.RESEND:
            self._move("resend")
            self.sent_upto = max(self.acked_seq, int(h["from"]) - 1)
            a.need_events_from = self.sent_upto + 1
        elif t is FrameType.REFUSED:
            self._move("refused")
            a.refused = str(h.get("code", "refused"))
        else:
            raise IllegalTransition(f"terminal link: unexpected frame {t.name}")
        return a

    def can_send(self) -> bool:
        return self.state is LinkState.READY and (self.sent_upto - self.acked_seq) < self.window * self.max_batch

    def batch(self, events: Sequence[Event], prev_hash: bytes) -> Frame | None:
        """Sign and frame the next events (``events`` must start at ``sent_upto + 1``;
        ``prev_hash`` is our chain hash at ``sent_upto``). None when nothing to send."""
        if not self.can_send() or not events:
            return None
        self._move("send")
        room = self.window * self.max_batch - (self.sent_upto - self.acked_seq)
        evs = list(events[: min(self.max_batch, room, MAX_BATCH_EVENTS)])
        if evs[0].seq != self.sent_upto + 1:
            raise IllegalTransition(f"batch must start at {self.sent_upto + 1}, not {evs[0].seq}")
        h = prev_hash
        for ev in evs:
            h = chain_hash(h, ev.encode())
        first, last = evs[0].seq, evs[-1].seq
        sig = sign_batch(self._key, self.election, self.terminal, first, last, prev_hash, h)
        self.sent_upto = last
        return Frame(FrameType.BATCH, {"first": first, "last": last, "prev": prev_hash.hex(), "head": h.hex(),
                                       "sig": sig.hex()}, tuple(evs))

    def flags_applied(self, cursor: int) -> Frame:
        return Frame(FrameType.FLAGS_ACK, {"cursor": cursor})

    def status(self, radio: dict[str, Any]) -> Frame | None:
        """The terminal's radio for HQ's console (only on a ready link)."""
        if self.state is not LinkState.READY:
            return None
        return Frame(FrameType.STATUS, {"radio": _radio(radio)})


def _radio(r: Any) -> dict[str, Any]:
    """Only the few bounded fields HQ shows (hostile input: never more)."""
    if not isinstance(r, dict):
        return {}
    out: dict[str, Any] = {}
    for k, t in (("bars", int), ("carrier", str), ("apn_ok", bool), ("modem", str), ("registered", bool)):
        v = r.get(k)
        if type(v) is t and (not isinstance(v, str) or len(v) <= 32):  # type, not isinstance: true is no bar count
            out[k] = v
    return out


def _parse_verdicts(h: dict[str, Any]) -> list[TerminalVerdict]:
    """Verdicts of an ACK or WELCOME header: ``ok`` seq ranges (every contest accepted) and
    ``v`` per-contest entries (their kinds and total checked by headers.check_frame)."""
    out: list[TerminalVerdict] = []
    for lo, hi in h.get("ok", []):
        out.extend(TerminalVerdict(seq, ALL_CONTESTS, True) for seq in range(int(lo), int(hi) + 1))
    for v in h.get("v", []):
        if v[2] == "A":
            out.append(TerminalVerdict(int(v[0]), str(v[1]), True))
        else:
            out.append(TerminalVerdict(int(v[0]), str(v[1]), False, str(v[3]), str(v[4]), int(v[5]), int(v[6])))
    return out


def outcome_for(handed: Sequence[str], verdicts: Sequence[TerminalVerdict] | None) -> tuple[list[str], bool]:
    """The terminal's rule once the verdict budget is over: which contests to WITHHOLD (HQ said
    ALREADY_VOTED in time) and whether the check-in is provisional (no complete verdict in time).

    Returns (withheld contests, provisional). A contest without a verdict in time is handed over
    provisionally; the poll worker follows the offline procedure."""
    if verdicts is None:
        return [], True
    by_contest = {v.contest: v for v in verdicts}
    if ALL_CONTESTS in by_contest:
        by_contest = {c: TerminalVerdict(by_contest[ALL_CONTESTS].seq, c, True) for c in handed}
    withheld = [c for c in handed if c in by_contest and not by_contest[c].accepted]
    missing = [c for c in handed if c not in by_contest]
    return withheld, bool(missing)


# --------------------------------------------------------------------------------------------
# HQ side
# --------------------------------------------------------------------------------------------

class SessionState(str, Enum):
    AWAIT_HELLO = "await_hello"
    READY = "ready"
    CLOSED = "closed"


_HQ_MOVES: dict[tuple[SessionState, str], SessionState] = {
    (SessionState.AWAIT_HELLO, "hello"): SessionState.READY,
    (SessionState.AWAIT_HELLO, "refuse"): SessionState.CLOSED,
    (SessionState.READY, "batch"): SessionState.READY,
    (SessionState.READY, "flags_ack"): SessionState.READY,
    (SessionState.READY, "status"): SessionState.READY,
    (SessionState.READY, "refuse"): SessionState.CLOSED,
    (SessionState.READY, "close"): SessionState.CLOSED,
    (SessionState.AWAIT_HELLO, "close"): SessionState.CLOSED,
    (SessionState.CLOSED, "close"): SessionState.CLOSED,
}


@dataclass
class SessionResult:
    send: list[Frame] = field(default_factory=list)
    to_commit: list[Event] = field(default_factory=list)  # persist durably, then committed()
    pending_ack: tuple[int, list[int]] | None = None  # (acked seq, checkin seqs to answer) after commit
    alarm: Any = None
    close: bool = False
    radio: dict[str, Any] | None = None  # the terminal reported its radio (STATUS)
    # HELLO: the terminal holds acknowledged events HQ lacks (HQ restored from a backup):
    # (HQ's acked seq, the terminal's) for HQ's alarm 本部の記録が巻き戻っています
    rolled_back: tuple[int, int] | None = None


class HqSession:
    """HQ side of one terminal connection. ``terminal`` is the identity its TLS certificate
    proved; the session refuses any HELLO or batch that claims another. ``certificate_current``
    says whether that certificate is still the terminal's live one: a machine whose identity was
    re-enrolled (``--replace``) keeps a CA-signed certificate naming the same terminal, and the CRL
    is not the only thing that stops it (defence in depth; checked at HELLO, and by the adapter
    whenever the registry changes)."""

    def __init__(self, ledger: Ledger, terminal: str, roll_version: Callable[[], int] = lambda: 0,
                 contests: list[str] | None = None, zaigai_version: Callable[[], int | None] | None = None,
                 certificate_current: Callable[[], bool] = lambda: True) -> None:
        self.ledger = ledger
        self.terminal = terminal
        self.certificate_current = certificate_current
        self.state = SessionState.AWAIT_HELLO
        self.cursor = 0  # flags durably applied by the terminal
        self.sent_cursor = 0  # flags sent on this connection
        self._roll_version = roll_version
        self._contests = contests
        self._zaigai_version = zaigai_version  # HQ's published 在外選挙人名簿 version (None: unknown)

    def _move(self, what: str) -> None:
        nxt = _HQ_MOVES.get((self.state, what))
        if nxt is None:
            raise IllegalTransition(f"hq session: {what} in state {self.state.value}")
        self.state = nxt

    def _refuse(self, code: str, message: str) -> SessionResult:
        self._move("refuse")
        return SessionResult(send=[Frame(FrameType.REFUSED, {"code": code, "message": message})], close=True)

    def _header_refusal(self, frame: Frame) -> SessionResult | None:
        """REFUSED ``header_invalid`` naming the field, for a header a field of which is missing
        or of the wrong kind (headers.py): answered, never a traceback that drops the socket."""
        try:
            check_frame(frame)
        except HeaderInvalid as e:
            return self._refuse(e.code, e.message)
        return None

    def receive(self, frame: Frame) -> SessionResult:
        h = frame.header
        if frame.type is FrameType.HELLO:
            if self.state is not SessionState.AWAIT_HELLO:
                raise IllegalTransition("hq session: second HELLO")
            ts = self.ledger.terminals.get(self.terminal)
            if type(h.get("v")) is not int or h.get("v") != PROTOCOL_VERSION:  # true == 1 in Python
                return self._refuse("protocol_version", "プロトコルの版が違います")
            if (bad := self._header_refusal(frame)) is not None:  # after ``v``: a newer version may differ
                return bad
            if h.get("election") != self.ledger.election_id:
                return self._refuse("other_election", "別の選挙の端末です")
            if h.get("terminal") != self.terminal:
                return self._refuse("identity_mismatch", "証明書と端末IDが一致しません")
            if ts is None or ts.revoked:
                return self._refuse("terminal_revoked", "この端末は失効しています")
            if not self.certificate_current():
                return self._refuse("certificate_replaced", "この証明書は置き換えられています")
            if ts.held:
                return self._refuse("terminal_held", "この端末は複製の疑いで保留中です")
            self._move("hello")
            cursor = max(0, int(h.get("cursor", 0)))
            flags = self.ledger.flags
            if cursor > len(flags) or (cursor and h.get("mark") != flags.mark(cursor)):
                cursor = 0  # a cursor into another stream (HQ restored from a backup): from the start
            self.cursor = self.sent_cursor = cursor
            welcome: dict[str, Any] = {"acked_seq": ts.acked_seq, "acked_head": ts.head.hex(),
                                       "roll": self._roll_version(), "cursor": cursor}
            acked = h.get("acked")
            rolled_back = (ts.acked_seq, acked) if type(acked) is int and acked > ts.acked_seq else None
            undecided = h.get("undecided", [])
            if isinstance(undecided, list) and undecided:
                seqs = [int(x) for x in undecided[:MAX_UNDECIDED] if isinstance(x, int) and 0 < x <= ts.acked_seq]
                welcome.update(self._verdict_fields(seqs))
            if self._contests is not None:
                welcome["contests"] = self._contests
            zv = self._zaigai_version() if self._zaigai_version is not None else None
            if zv is not None:
                welcome["zaigai"] = zv
            return SessionResult(send=[Frame(FrameType.WELCOME, welcome)], rolled_back=rolled_back)
        if frame.type is FrameType.BATCH:
            if self.state is not SessionState.READY:
                raise IllegalTransition("hq session: BATCH before HELLO")
            if (bad := self._header_refusal(frame)) is not None:
                return bad
            try:
                chk: BatchCheck = self.ledger.check_batch(
                    self.terminal, list(frame.events), bytes.fromhex(str(h.get("sig", ""))),
                    int(h.get("first", 0)), int(h.get("last", -1)), str(h.get("prev", "")), str(h.get("head", "")))
            except (ValueError, TypeError):
                return self._refuse("batch_invalid", "一括送信の形式が不正です")
            except BatchRejected as e:
                return self._refuse(e.code, e.message)
            if chk.alarm is not None:
                res = self._refuse("clone_alarm", "同じ番号に異なる記録があります（端末複製の疑い）")
                res.alarm = chk.alarm
                return res
            if chk.gap_from is not None:
                return SessionResult(send=[Frame(FrameType.RESEND, {"from": chk.gap_from})])
            self._move("batch")
            seqs = [ev.seq for ev in frame.events]
            return SessionResult(to_commit=chk.new_events, pending_ack=(int(h["last"]), seqs))
        if frame.type is FrameType.STATUS:
            self._move("status")
            if (bad := self._header_refusal(frame)) is not None:
                return bad
            return SessionResult(radio=_radio(h.get("radio")))
        if frame.type is FrameType.FLAGS_ACK:
            self._move("flags_ack")
            if (bad := self._header_refusal(frame)) is not None:
                return bad
            c = int(h.get("cursor", 0))
            if c > self.cursor:
                self.cursor = min(c, self.sent_cursor)
            return SessionResult()
        raise IllegalTransition(f"hq session: unexpected frame {frame.type.name}")

    def ack_frame(self, pending: tuple[int, list[int]]) -> Frame:
        """After the batch's events are durable: the ACK with a verdict for every check-in."""
        last, seqs = pending
        ts = self.ledger.terminals[self.terminal]
        return Frame(FrameType.ACK, {"acked_seq": min(last, ts.acked_seq), **self._verdict_fields(seqs)})

    def _verdict_fields(self, seqs: Sequence[int]) -> dict[str, Any]:
        """Check-ins whose every contest was accepted (the common case) travel as seq ranges in
        ``ok``; any other check-in lists each contest in ``v``. Bytes matter on metered LTE."""
        ok, detailed = self.ledger.verdict_wire(self.terminal, seqs)
        return {"ok": ok, "v": detailed}

    def flags_frame(self, committed_upto: int, limit: int = 5000) -> Frame | None:
        """Voted flags from elsewhere that are durable at HQ and not yet sent on this link."""
        if self.state is not SessionState.READY:
            return None
        rows, pos = self.ledger.flags_wire_after(self.sent_cursor, exclude_terminal=self.terminal, limit=limit,
                                                 upto=committed_upto)
        if pos == self.sent_cursor:
            return None
        self.sent_cursor = pos
        return Frame(FrameType.FLAGS, {"cursor": pos, "mark": self.ledger.flags.mark(pos)}, flags=tuple(rows))

    def close(self) -> None:
        self._move("close")
