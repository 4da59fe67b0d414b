"""HQ's end of one sync connection as a sans-I/O state machine (h11 style).

The terminal's end is ``TerminalLink`` (``sync_protocol/session.py``, where the round trip is
described). ``HqSession`` takes decoded frames in and gives frames and the events to commit out;
``hq/server.py`` and the simulator do the I/O. Its legal moves are a table; an illegal move raises
``IllegalTransition`` and leaves the state unchanged.

The rehearsal (リハーサル, hq/rehearsal.py): a HELLO for ``rehearsal_id(election)`` is served by the
test ledger's own session while HQ's switch is on (the server routes it there before this session
sees it); one that reaches the real ledger's session means the switch is off, and is refused with
``rehearsal_not_started``. ``rehearsing()`` names the stations with a terminal still in test mode:
a real check-in from one of them is refused as a whole (hq/screen.py ``station_in_rehearsal``) and
its verdict says so ("R"), so the kiosk stops with 試験モードの端末が残っています instead of
handing ballots on オフライン受付.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Sequence

from ground.errors import IllegalTransition
from ground.events import Event
from ground.rehearsal import is_rehearsal, real_id
from ground.model import TerminalId
from hq.ledger import BatchCheck, Ledger
from hq.screen import STATION_IN_REHEARSAL
from sync_protocol.codec import PROTOCOL_VERSION, SUPPORTED_VERSIONS, Frame, FrameType
from sync_protocol.errors import BatchRejected, HeaderInvalid
from sync_protocol.headers import MAX_UNDECIDED, check_frame
from sync_protocol.session import radio_fields


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

    def __init__(self, ledger: Ledger, terminal: TerminalId, roll_version: Callable[[], int] = lambda: 0,
                 contests: list[str] | None = None, zaigai_version: Callable[[], int | None] | None = None,
                 certificate_current: Callable[[], bool] = lambda: True,
                 rehearsing: Callable[[], frozenset[str]] = frozenset) -> None:
        self.ledger = ledger
        self._rehearsing = rehearsing  # stations with a terminal in test mode (module doc)
        self.terminal = terminal
        self.certificate_current = certificate_current
        self.state = SessionState.AWAIT_HELLO
        self.cursor = 0  # flags durably applied by the terminal
        self.sent_cursor = 0  # flags sent on this connection
        self.version = PROTOCOL_VERSION  # the HELLO's ``v``: protocol 1 or 2 (codec.SUPPORTED_VERSIONS)
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
            if type(h.get("v")) is not int or h.get("v") not in SUPPORTED_VERSIONS:  # true == 1 in Python
                return self._refuse("protocol_version",
                                    f"プロトコルの版が違います（本部は版 {SUPPORTED_VERSIONS[0]}〜{PROTOCOL_VERSION} に対応）。"
                                    "端末のソフトウェアを本部と同じ版に更新してください")
            self.version = h["v"]  # FLAGS go in this version's wire form (codec.Frame.wire)
            if (bad := self._header_refusal(frame)) is not None:  # after ``v``: a newer version may differ
                return bad
            if h.get("election") != self.ledger.election_id:
                el = h.get("election")  # a str: checked by check_frame above
                if isinstance(el, str) and is_rehearsal(el) and real_id(el) == self.ledger.election_id:
                    return self._refuse("rehearsal_not_started",
                                        "本部でリハーサル（試験モード）が開始されていません。本部に連絡してください")
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
            # read by the ledger as the caller applies these events, right after this returns
            self.ledger.rehearsing = self._rehearsing()
            seqs = [ev.seq for ev in frame.events]
            return SessionResult(to_commit=chk.new_events, pending_ack=(int(h["last"]), seqs))
        if frame.type is FrameType.STATUS:
            self._move("status")
            if (bad := self._header_refusal(frame)) is not None:
                return bad
            return SessionResult(radio=radio_fields(h.get("radio")))
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
        return Frame(FrameType.ACK, {"acked_seq": min(last, ts.acked_seq), **self._verdict_fields(seqs)},
                     wire=self.version)

    def _verdict_fields(self, seqs: Sequence[int]) -> dict[str, Any]:
        """Check-ins whose every contest was accepted (the common case) travel as seq ranges in
        ``ok``; any other check-in lists each contest in ``v``. Bytes matter on metered LTE."""
        ok, detailed = self.ledger.verdict_wire(self.terminal, seqs)
        if self.ledger.refusal_of:  # refused for a terminal in test mode at the station: told, as "R"
            of = self.ledger.refusal_of
            for s in seqs:
                if self.ledger.checkins.raw((self.terminal, s)) is not None:
                    continue  # handed on オフライン受付 before the refusal came: counted (ledger)
                for r in of.get((self.terminal, s), ()):
                    if r.code == STATION_IN_REHEARSAL:
                        detailed.extend([s, c, "R", r.code] for c in r.contests)
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
        return Frame(FrameType.FLAGS, {"cursor": pos, "mark": self.ledger.flags.mark(pos)}, flags=tuple(rows),
                     wire=self.version)

    def close(self) -> None:
        self._move("close")
