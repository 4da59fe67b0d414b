"""The terminal's end of one sync connection as a sans-I/O state machine (h11 style).

``TerminalLink`` here and ``HqSession`` (HQ's end, ``hq/session.py``) take decoded frames in and
give frames and *actions* out; the adapters (client.py, hq/server.py, and the simulator) do the I/O.
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

from ground.errors import IllegalTransition
from ground.events import Event, chain_hash
from ground.model import StationId, TerminalId
from sync_protocol.codec import PROTOCOL_VERSION, Frame, FrameType, MAX_BATCH_EVENTS
from sync_protocol.crypto import sign_batch
from sync_protocol.headers import MAX_UNDECIDED, check_frame


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
    station: StationId = StationId("")
    terminal: TerminalId = TerminalId("")
    hlc: int = 0
    first_seq: int = 0  # the earlier ballot's sequence number on its terminal
    # not accepted and no earlier ballot: HQ refused to count the check-in, and why (a "R" entry,
    # e.g. ``station_in_rehearsal``: 試験モードの端末が残っています). The contest is withheld.
    code: str = ""


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

    def __init__(self, election: str, terminal: TerminalId, station: StationId, key: SigningKey,
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
        return Frame(FrameType.STATUS, {"radio": radio_fields(radio)})


def radio_fields(r: Any) -> dict[str, Any]:
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
        elif v[2] == "R":
            out.append(TerminalVerdict(int(v[0]), str(v[1]), False, code=str(v[3])))
        else:
            out.append(TerminalVerdict(int(v[0]), str(v[1]), False, StationId(str(v[3])), TerminalId(str(v[4])),
                                       int(v[5]), int(v[6])))
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
