"""An HQ restored from a backup must not lose voted flags (issue 16 part 1, attack pass).

The flag stream is positional: a terminal's cursor is a position in HQ's stream. After a
restore the stream is shorter, and new flags land on positions other terminals already passed.
HQ now checks each HELLO's cursor against the stream's identity at that position (its mark):
a cursor past the end or into another stream gets the stream from the start, so every flag
reaches every terminal. And HQ notices that a terminal holds acknowledged events it lacks
(本部の記録が巻き戻っています)."""

from __future__ import annotations

from nacl.signing import SigningKey

from ground.events import Event
from sync_protocol.codec import decode, encode
from hq.ledger import Ledger
from hq.session import HqSession
from tests.unit.sync_protocol.pure_harness import ELECTION, MemTerminal, sync


class RecordingLedger(Ledger):
    """HQ's ledger, remembering what it applied in HQ's order (the events table)."""

    def __init__(self, election_id: str) -> None:
        super().__init__(election_id)
        self.log: list[Event] = []

    def _apply(self, ev: Event) -> None:
        super()._apply(ev)
        self.log.append(ev)


def _hq(terms: list[MemTerminal], events: list[Event] = ()) -> RecordingLedger:
    led = RecordingLedger(ELECTION)
    for t in terms:
        led.register(t.terminal, t.station, bytes(t.key.verify_key))
    led.apply_all(events)
    return led


def _three() -> tuple[MemTerminal, MemTerminal, MemTerminal]:
    return (MemTerminal("TA", "SA", key=SigningKey(b"\x0a" * 32)), MemTerminal("TB", "SB", key=SigningKey(b"\x0b" * 32)),
            MemTerminal("TC", "SC", key=SigningKey(b"\x0c" * 32)))


def _restored_hq_with_new_voter_before_a_resends():
    a, b, c = _three()
    hq = _hq([a, b, c])
    for i in range(20):
        a.checkin(f"A{i}", ["gov"])
    for i in range(5):
        b.checkin(f"B{i}", ["gov"])
    sync(a, hq), sync(b, hq), sync(a, hq)
    backup = list(hq.log)  # HQ stopped and copied
    for i in range(20, 35):
        a.checkin(f"A{i}", ["gov"])  # 15 more, acknowledged by HQ and passed on to B
    sync(a, hq), sync(b, hq)
    assert ("A34", "gov") in b.flags and a.link.acked_seq == 35
    restored = _hq([a, b, c], backup)  # the copy put back
    return a, b, c, restored


def test_terminal_whose_cursor_runs_past_a_restored_stream_gets_it_from_the_start():
    a, b, c, hq = _restored_hq_with_new_voter_before_a_resends()
    c.checkin("X", ["gov"])  # online, at another station
    sync(c, hq)
    sync(b, hq)
    assert ("X", "gov") in b.flags  # B refuses X offline now: no second ballot


def test_terminal_whose_cursor_lands_inside_a_refilled_stream_is_not_fooled_by_its_length():
    a, b, c, hq = _restored_hq_with_new_voter_before_a_resends()
    c.checkin("X", ["gov"])
    sync(c, hq)
    sync(a, hq)  # A resends the 15 the restore lost: the stream is as long as before, plus X
    assert hq.terminals["TA"].acked_seq == 35 and len(hq.flags) > b.cursor
    sync(b, hq)
    assert ("X", "gov") in b.flags
    assert {k for k in b.flags if k[0].startswith("A")} == {(f"A{i}", "gov") for i in range(35)}


def test_a_cursor_in_the_same_stream_resumes_where_it_was():
    a, b, c = _three()
    hq = _hq([a, b, c])
    for i in range(3):
        a.checkin(f"A{i}", ["gov"])
    sync(a, hq), sync(b, hq)
    at = b.cursor
    a.checkin("A9", ["gov"])
    sync(a, hq)
    acts = sync(b, hq)
    assert not any(x.flags_restart for x in acts)
    sent = [f for x in acts for f in x.flags]
    assert [f[1] for f in sent] == ["A9"] and b.cursor == at + 1  # only what is new


def test_hq_notices_a_terminal_holding_acknowledged_events_it_lacks():
    a, b, c, hq = _restored_hq_with_new_voter_before_a_resends()
    sess = HqSession(hq, "TA")
    hello = a.link.connect(len(a.journal), a.hash_at(len(a.journal)) or b"", a.cursor, 0, (), a.mark)
    res = sess.receive(decode(encode(hello)))
    assert res.rolled_back == (20, 35) and not res.close  # HQ had 20 of TA's, TA knows 35 were acked
    honest = HqSession(hq, "TB")
    res_b = honest.receive(decode(encode(b.link.connect(len(b.journal), b.hash_at(len(b.journal)) or b"",
                                                        b.cursor, 0, (), b.mark))))
    assert res_b.rolled_back is None
