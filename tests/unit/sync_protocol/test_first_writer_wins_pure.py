"""First writer wins per voter and contest; later ballots get ALREADY_VOTED; offline doubles alert."""

from ground.events import EventKind
from hq.ledger import Verdict
from tests.unit.sync_protocol.pure_harness import MemTerminal, hq_for, sync


def verdicts(actions):
    return [v for a in actions for v in a.verdicts]


def test_second_station_online_gets_already_voted_for_that_contest_only():
    a, b = MemTerminal("T01", "E01"), MemTerminal("T02", "E02")
    led = hq_for(a, b)
    a.checkin("100", ["gov"])
    assert [v.accepted for v in verdicts(sync(a, led))] == [True]
    ev = b.checkin("100", ["gov", "mayor"])
    vs = {v.contest: v for v in verdicts(sync(b, led))}
    assert vs["gov"].accepted is False and vs["gov"].station == "E01" and vs["gov"].terminal == "T01"
    assert vs["mayor"].accepted is True
    # within budget the terminal withholds the ballot: no double vote
    b.append(EventKind.WITHHELD, {"ref": ev.seq, "contests": ["gov"]})
    sync(b, led)
    assert led.active_alerts() == []
    assert led.ballot_count("100", "gov") == 1


def test_both_offline_then_reconnect_gives_exactly_one_alert():
    a, b = MemTerminal("T01", "E01"), MemTerminal("T02", "E02")
    led = hq_for(a, b)
    e1 = a.checkin("200", ["gov"])
    a.append(EventKind.PROVISIONAL, {"ref": e1.seq})
    e2 = b.checkin("200", ["gov"])
    b.append(EventKind.PROVISIONAL, {"ref": e2.seq})
    sync(a, led)
    acts = sync(b, led)
    assert [v.accepted for v in verdicts(acts)] == [False]
    alerts = led.active_alerts()
    assert len(alerts) == 1 and alerts[0].voter == "200" and len(alerts[0].ballots) == 2


def test_void_releases_the_contest_and_clears_the_alert():
    a, b = MemTerminal("T01", "E01"), MemTerminal("T02", "E02")
    led = hq_for(a, b)
    e1 = a.checkin("300", ["gov"])
    a.append(EventKind.PROVISIONAL, {"ref": e1.seq})
    e2 = b.checkin("300", ["gov"])
    b.append(EventKind.PROVISIONAL, {"ref": e2.seq})
    sync(a, led)
    sync(b, led)
    assert len(led.active_alerts()) == 1
    a.append(EventKind.VOID, {"ref": e1.seq, "reason": "left"})
    sync(a, led)
    assert led.active_alerts() == []
    assert led.holder("300", "gov").terminal == "T02"


def test_flags_from_other_terminals_reach_an_offline_later_terminal():
    a, b = MemTerminal("T01", "E01"), MemTerminal("T02", "E02")
    led = hq_for(a, b)
    a.checkin("400", ["gov"])
    sync(a, led)
    sync(b, led)
    assert ("400", "gov") in b.flags
    assert ("400", "gov") not in a.flags  # own flags are not echoed back


def test_replayed_batch_changes_nothing_and_gets_same_verdicts():
    from sync_protocol.codec import decode, encode
    from hq.session import HqSession

    a, b = MemTerminal("T01", "E01"), MemTerminal("T02", "E02")
    led = hq_for(a, b)
    a.checkin("500", ["gov"])
    sync(a, led)
    b.checkin("500", ["gov"])
    sess = HqSession(led, "T02")
    welcome = sess.receive(decode(encode(b.link.connect(1, b.hash_at(1), 0, 0)))).send[0]
    acts = b.link.receive(welcome, b.hash_at)
    batch = encode(b.link.batch(b.journal[acts.need_events_from - 1:], b.hash_at(0)))
    answers = []
    for _ in range(2):  # the same bytes twice, as after a lost ACK
        r = sess.receive(decode(batch))
        for ev in r.to_commit:
            led.apply(ev)
        answers.append(sess.ack_frame(r.pending_ack).header)
        if len(answers) == 1:
            order_after_first = led.order
    assert led.order == order_after_first
    assert answers[0] == answers[1]
    assert answers[0]["v"][0][2] == "V" and answers[0]["ok"] == []
    assert led.ballot_count("500", "gov") == 1
