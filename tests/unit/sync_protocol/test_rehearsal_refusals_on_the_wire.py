"""The rehearsal's two refusals, pure (no I/O): a HELLO for the rehearsal's id reaching the real
ledger's session (HQ's switch off) is ``rehearsal_not_started``, another election's rehearsal is
still ``other_election``; a real check-in from a station with a terminal in test mode is refused
as a whole and its verdict travels as "R" with the code, which the terminal withholds (no ballot,
not provisional). Headers: the "R" entry has its own strict shape."""

from __future__ import annotations

import pytest

from ground.events import EventKind
from hq.screen import STATION_IN_REHEARSAL
from hq.session import HqSession, SessionState
from sync_protocol.codec import Frame, FrameType, decode, encode
from sync_protocol.errors import HeaderInvalid
from sync_protocol.headers import check_frame
from sync_protocol.session import outcome_for
from tests.unit.sync_protocol.pure_harness import ELECTION, MemTerminal, hq_for

CONTESTS = ["shu", "governor"]


def _hello(t: MemTerminal, election: str) -> Frame:
    f = t.link.connect(0, t.hash_at(0) or b"", 0, 0)
    return Frame(FrameType.HELLO, {**f.header, "election": election})


@pytest.mark.parametrize("election, code", [(ELECTION + ".rehearsal", "rehearsal_not_started"),
                                            ("other-2027.rehearsal", "other_election")])
def test_a_rehearsal_hello_at_the_real_session_is_refused(election: str, code: str) -> None:
    t = MemTerminal("T01", "E01")
    sess = HqSession(hq_for(t), "T01")
    res = sess.receive(decode(encode(_hello(t, election))))
    (frame,) = res.send
    assert frame.type is FrameType.REFUSED and frame.header["code"] == code and res.close
    assert sess.state is SessionState.CLOSED


def test_station_in_test_mode_gets_r_verdicts_and_the_terminal_withholds() -> None:
    t1, t3 = MemTerminal("T01", "E01"), MemTerminal("T03", "E01")
    led = hq_for(t1, t3)
    sess = HqSession(led, "T03", rehearsing=lambda: frozenset({"E01"}))
    (welcome,) = sess.receive(decode(encode(t3.link.connect(0, t3.hash_at(0) or b"", 0, 0)))).send
    t3.link.receive(decode(encode(welcome)), t3.hash_at)
    t3.checkin("V1", CONTESTS)
    batch = t3.link.batch(t3.journal, t3.hash_at(0) or b"")
    assert batch is not None
    res = sess.receive(decode(encode(batch)))
    led.apply_all(res.to_commit)
    assert res.pending_ack is not None
    ack = sess.ack_frame(res.pending_ack)
    assert ack.header["ok"] == [] and sorted(ack.header["v"]) == [[1, c, "R", STATION_IN_REHEARSAL] for c in sorted(CONTESTS)]
    acts = t3.link.receive(decode(encode(ack)), t3.hash_at)
    assert {(v.accepted, v.code) for v in acts.verdicts} == {(False, STATION_IN_REHEARSAL)}
    assert outcome_for(CONTESTS, acts.verdicts) == (CONTESTS, False)  # withheld, not provisional
    assert led.ballot_count("V1", "shu") == 0 and len(led.flags) == 0
    assert [r.code for r in led.refusals_for(res.to_commit)] == [STATION_IN_REHEARSAL]
    # another station is not held: its check-in is a ballot as ever
    t2 = MemTerminal("T02", "E02")
    led.register("T02", "E02", bytes(t2.key.verify_key))
    s2 = HqSession(led, "T02", rehearsing=lambda: frozenset({"E01"}))
    t2.link.receive(decode(encode(s2.receive(decode(encode(t2.link.connect(0, t2.hash_at(0) or b"", 0, 0)))).send[0])),
                    t2.hash_at)
    t2.checkin("V1", CONTESTS)
    r2 = s2.receive(decode(encode(t2.link.batch(t2.journal, t2.hash_at(0) or b""))))
    led.apply_all(r2.to_commit)
    assert s2.ack_frame(r2.pending_ack).header["ok"] == [[1, 1]] and led.ballot_count("V1", "shu") == 1


@pytest.mark.parametrize("entry, ok", [([1, "shu", "R", "station_in_rehearsal"], True), ([1, "shu", "R", 5], False),
                                       ([1, "shu", "X", "code"], False), ([1, "shu", "R", "x" * 300], False),
                                       ([True, "shu", "R", "code"], False)])
def test_r_entry_has_a_strict_shape(entry: list[object], ok: bool) -> None:
    frame = Frame(FrameType.ACK, {"acked_seq": 1, "ok": [], "v": [entry]})
    if ok:
        check_frame(frame)
    else:
        with pytest.raises(HeaderInvalid):
            check_frame(frame)


def test_handed_offline_before_the_refusal_came_counts_and_replays_the_same() -> None:
    """The R verdict came after the budget: the terminal had handed the ballots on オフライン受付
    (its PROVISIONAL marker). The ballots exist, so HQ counts them after all — another station is
    stopped or alerted as for any offline ballot — and a replay from the stored decision agrees."""
    t3 = MemTerminal("T03", "E01")
    led = hq_for(t3)
    led.rehearsing = frozenset({"E01"})
    ci = t3.checkin("V1", CONTESTS)
    led.apply(ci)
    assert led.ballot_count("V1", "shu") == 0
    stored = led.refusals_for([ci])
    assert [r.code for r in stored] == [STATION_IN_REHEARSAL]
    prov = t3.append(EventKind.PROVISIONAL, {"ref": ci.seq})
    led.apply(prov)
    assert all(led.ballot_count("V1", c) == 1 for c in CONTESTS) and len(led.flags) == 2
    assert led.refusals == []  # counted: no longer in the report's list of what did not count
    again = hq_for(t3)
    again.decided = {(ci.terminal, ci.seq): stored}
    again.apply_all([ci, prov])
    assert again.ballots == led.ballots and again.refusals == [] and len(again.flags) == 2
