"""FINDING (notes/sim-findings.md #1): a verdict is lost when the connection dies after HQ
committed a check-in but before its ACK arrived, and the terminal reconnects within the
verdict budget. WELCOME says "I hold up to seq N" but carries no verdicts, and nothing asks for
them again, so the terminal decides without a verdict (provisional) and a voter HQ already
knew about gets a second ballot: detected afterwards (alert) where it should have been
prevented (hard stop). Fixed: HELLO names the check-ins still waiting for a verdict and WELCOME
carries their verdicts."""

import pytest

from sync_protocol.codec import decode, encode
from hq.ledger import Verdict
from sync_protocol.session import outcome_for
from hq.session import HqSession
from tests.unit.sync_protocol.pure_harness import MemTerminal, hq_for, sync


def _reconnect(t, led, undecided=()):
    sess = HqSession(led, t.terminal)
    n = len(t.journal)
    welcome = sess.receive(decode(encode(t.link.connect(n, t.hash_at(n), t.cursor, 0, undecided)))).send[0]
    return t.link.receive(decode(encode(welcome)), t.hash_at)


def test_second_station_gets_its_verdict_after_a_quick_reconnect():
    a, b = MemTerminal("T01", "E01"), MemTerminal("T02", "E02")
    led = hq_for(a, b)
    a.checkin("100", ["gov"])
    sync(a, led)  # station A: the voter got the ballot, HQ holds it
    b.checkin("100", ["gov"])  # the same voter at station B, online
    sess = HqSession(led, "T02")
    welcome = sess.receive(decode(encode(b.link.connect(0, b.hash_at(0), 0, 0)))).send[0]
    acts = b.link.receive(decode(encode(welcome)), b.hash_at)
    batch = b.link.batch(b.journal[acts.need_events_from - 1:], b.hash_at(0))
    r = sess.receive(decode(encode(batch)))
    for ev in r.to_commit:
        led.apply(ev)  # durable at HQ; HQ's verdict is ALREADY_VOTED
    assert led.checkins[("T02", 1)].verdict["gov"].verdict is Verdict.ALREADY_VOTED
    sess.ack_frame(r.pending_ack)
    # ... but the ACK is lost with the connection (a handover gap of a few hundred ms)
    sess.close()
    b.link.disconnected()
    again = _reconnect(b, led, undecided=[1])  # back within the 1.5 s budget, still waiting on seq 1
    verdicts = [v for v in again.verdicts if v.seq == 1]
    withheld, provisional = outcome_for(["gov"], verdicts or None)
    assert withheld == ["gov"] and not provisional  # a hard stop, not a second ballot and an alert

