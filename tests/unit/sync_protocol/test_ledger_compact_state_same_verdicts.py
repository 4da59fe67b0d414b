"""The ledger's lean representation (issue 3: ingest speed) keeps every rule: ``apply_all`` and
event-by-event ``apply`` end in the same verdicts, states, alerts and flag stream; check-ins
derive the same verdicts and states they used to hold; chain hashes cost 32 B an event and
still catch a changed event anywhere in a journal."""

from __future__ import annotations

import random

import pytest
from nacl.signing import SigningKey

from ground.events import Event, EventKind, chain_hash, genesis_hash
from ground.model import TerminalId
from hq.ledger import BallotRef, ChainHashes, ContestVerdict, CState, Flag, FlagLog, Ledger, Verdict
from sync_protocol.session import LinkState, TerminalLink

HLC0 = 1_800_000_000_000 << 16


def _journal(rng: random.Random, tid: str, n: int) -> list[Event]:
    """Check-ins of few voters (many double votes) and the markers that follow them."""
    out: list[Event] = []
    seq = 0
    for _ in range(n):
        seq += 1
        cs = rng.sample(["gov", "mayor", "council"], rng.randint(1, 3))
        out.append(Event(EventKind.CHECKIN, seq, HLC0 + seq, TerminalId(tid),
                         {"station": "S" + tid, "clerk": "c", "voter": str(rng.randrange(12)), "contests": cs}))
        ref = seq
        r = rng.random()
        if r < 0.3:
            seq += 1
            out.append(Event(EventKind.PROVISIONAL, seq, HLC0 + seq, TerminalId(tid), {"ref": ref}))
        elif r < 0.45:
            seq += 1
            out.append(Event(EventKind.WITHHELD, seq, HLC0 + seq, TerminalId(tid), {"ref": ref, "contests": cs[:1]}))
        elif r < 0.55:
            seq += 1
            out.append(Event(EventKind.VOID, seq, HLC0 + seq, TerminalId(tid), {"ref": ref, "reason": "left"}))
    return out


def _interleave(rng: random.Random) -> list[Event]:
    js = [_journal(rng, t, 40) for t in ("T1", "T2", "T3")]
    out: list[Event] = []
    while any(js):
        j = rng.choice([j for j in js if j])
        out.append(j.pop(0))
    return out


def _view(led: Ledger) -> object:
    return ({k: (r.voter, r.ref, r.contests, dict(r.state), r.verdict) for k, r in led.checkins.items()},
            dict(led.ballots), [(a.alert_id, a.voter, a.contest, a.ballots, a.active) for a in led.alert_log],
            list(led.flags), {t: (ts.acked_seq, ts.head, list(ts.hashes)) for t, ts in led.terminals.items()})


def _fresh(stations: dict[str, str] | None = None) -> Ledger:
    """T1..T3, each at the station its check-ins name (HQ refuses any other: screen.py)."""
    led = Ledger("E")
    for t in ("T1", "T2", "T3"):
        led.register(t, (stations or {}).get(t, "S" + t), b"\x00" * 32)
    return led


@pytest.mark.parametrize("seed", range(8))
def test_apply_all_equals_apply_one_by_one(seed):
    events = _interleave(random.Random(seed))
    one, many = _fresh(), _fresh()
    flags: list[Flag] = []
    for ev in events:
        flags.extend(one.apply(ev))
    many.apply_all(events)
    assert _view(one) == _view(many)
    assert flags == list(many.flags) and len(flags) == len(many.flags) > 0
    assert [f.cursor for f in many.flags] == list(range(1, len(flags) + 1))
    assert any(a.active for a in many.alert_log)  # the mix does hold double votes


def test_checkin_verdicts_and_states_are_derived_as_they_were_held():
    led = _fresh({"T1": "S1", "T2": "S2"})
    t1 = [Event(EventKind.CHECKIN, 1, HLC0, TerminalId("T1"),
                {"station": "S1", "clerk": "a", "voter": "7", "contests": ["gov"]})]
    t2 = Event(EventKind.CHECKIN, 1, HLC0 + 5, TerminalId("T2"),
               {"station": "S2", "clerk": "b", "voter": "7", "contests": ["mayor", "gov", "council"]})
    led.apply_all(t1 + [t2])
    first = led.checkins[("T1", 1)]
    assert first.state == {"gov": CState.BALLOT} and not first.already_voted
    assert first.verdict == {"gov": ContestVerdict(1, "gov", Verdict.ACCEPTED)}
    rec = led.checkins[("T2", 1)]
    holder = BallotRef("T1", 1, "S1", HLC0, "a")
    assert rec.ref == BallotRef("T2", 1, "S2", HLC0 + 5, "b")
    assert list(rec.state.items()) == [("mayor", CState.BALLOT), ("gov", CState.PENDING), ("council", CState.BALLOT)]
    assert list(rec.verdict.values()) == [ContestVerdict(1, "mayor", Verdict.ACCEPTED),
                                          ContestVerdict(1, "gov", Verdict.ALREADY_VOTED, holder),
                                          ContestVerdict(1, "council", Verdict.ACCEPTED)]
    assert led.verdict_wire("T2", [1]) == ([], [[1, "mayor", "A"], [1, "gov", "V", "S1", "T1", HLC0, 1],
                                                [1, "council", "A"]])
    assert led.verdict_wire("T1", [1, 2]) == ([[1, 1]], [])
    assert led.holder("7", "gov") == holder and led.ballots[("7", "gov")] == (("T1", 1),)
    assert led.flags_after(0, exclude_terminal="T1") == ([Flag(2, "7", "mayor", 1, "S2", "T2", 1, HLC0 + 5),
                                                          Flag(3, "7", "council", 1, "S2", "T2", 1, HLC0 + 5)], 3)
    assert led.flags_wire_after(0, exclude_terminal="T2", limit=1) == ([(1, "7", "gov", 1, "S1", "T1", 1, HLC0)], 1)


def test_chain_hashes_take_32_bytes_an_event_and_read_back():
    hs = ChainHashes()
    h = genesis_hash("E", "T1")
    want = []
    for i in range(100):
        h = chain_hash(h, str(i).encode())
        hs.append(h)
        want.append(h)
    assert len(hs) == 100 and len(hs._buf) == 3200
    assert hs[0] == want[0] and hs[-1] == want[-1] and hs[10:13] == want[10:13] and list(hs) == want
    assert hs == want and hs == ChainHashes(want)
    with pytest.raises(IndexError):
        hs[100]
    with pytest.raises(ValueError):
        hs.append(b"short")
    fl = FlagLog([Flag(1, "v", "c", 1, "S", "T", 1, 2)])
    assert fl[0].terminal == "T" and fl == [Flag(1, "v", "c", 1, "S", "T", 1, 2)]


def test_a_changed_event_deep_in_a_resent_batch_still_raises_the_alarm():
    key = SigningKey(b"\x07" * 32)
    led = Ledger("E")
    led.register("T1", "S1", bytes(key.verify_key))
    evs = [Event(EventKind.LOOKUP, s, HLC0 + s, TerminalId("T1"), {"voter": str(s), "via": "scan"}) for s in range(1, 61)]

    def signed(events: list[Event], prev: bytes, first_acked: int) -> tuple[object, ...]:
        link = TerminalLink("E", "T1", "S1", key, max_batch=100, window=10)
        link.state = LinkState.READY
        link.acked_seq = link.sent_upto = first_acked
        f = link.batch(events, prev)
        assert f is not None
        h = f.header
        return (list(f.events), bytes.fromhex(h["sig"]), h["first"], h["last"], h["prev"], h["head"])

    chk = led.check_batch("T1", *signed(evs, genesis_hash("E", "T1"), 0))  # type: ignore[arg-type]
    led.apply_all(chk.new_events)
    assert led.terminals["T1"].acked_seq == 60 and len(led.terminals["T1"].hashes._buf) == 60 * 32
    # a valid resend of 11..60 is a duplicate; the same positions with event 37 changed is a clone
    prev = led.hash_at("T1", 10)
    dup = led.check_batch("T1", *signed(evs[10:], prev, 10))  # type: ignore[arg-type]
    assert dup.new_events == [] and dup.duplicate_upto == 60 and dup.alarm is None
    changed = evs[10:36] + [Event(EventKind.LOOKUP, 37, HLC0 + 37, TerminalId("T1"), {"voter": "x", "via": "scan"})]
    bad = led.check_batch("T1", *signed(changed, prev, 10))  # type: ignore[arg-type]
    assert bad.alarm is not None and (bad.alarm.seq, bad.alarm.reason) == (37, "changed_event")
    assert bad.alarm.held_hash == led.hash_at("T1", 37).hex()


def test_checkins_kept_as_rows_become_records_that_keep_changes():
    led = _fresh({"T1": "S1"})
    led.apply_all([Event(EventKind.CHECKIN, s, HLC0 + s, TerminalId("T1"),
                         {"station": "S1", "clerk": "a", "voter": str(s), "contests": ["gov", "mayor"]})
                   for s in (1, 2, 3)])
    assert all(type(led.checkins.raw(("T1", s))) is tuple for s in (1, 2, 3))  # lean until asked for
    assert led.verdict_wire("T1", [1, 2, 3]) == ([[1, 3]], [])
    assert led.holder("2", "gov") == BallotRef("T1", 2, "S1", HLC0 + 2, "a")
    assert type(led.checkins.raw(("T1", 2))) is tuple  # answering did not build a record
    rec = led.checkins[("T1", 2)]
    assert led.checkins.get(("T1", 2)) is rec and ("T1", 2) in led.checkins and len(led.checkins) == 3
    assert led.checkins.get(("T1", 9)) is None and led.checkins.get(("T1", 9), "x") == "x"
    rec.state["gov"] = CState.WITHHELD  # a change through the record stays (the sim's LWW bug does this)
    assert led.checkins[("T1", 2)].state["gov"] is CState.WITHHELD
    led.apply(Event(EventKind.VOID, 4, HLC0 + 4, TerminalId("T1"), {"ref": 1, "reason": "left"}))
    assert dict(led.checkins[("T1", 1)].state) == {"gov": CState.VOIDED, "mayor": CState.VOIDED}
    assert [k for k, r in led.checkins.items() if isinstance(r, tuple)] == []  # items() hands records only
    assert [r.ref.seq for r in led.checkins.values()] == [1, 2, 3]
    with pytest.raises(KeyError):
        led.checkins[("T1", 9)]


def test_reports_read_check_ins_without_keeping_records():
    from datetime import datetime

    from ground.clock import JST
    from hq import records
    from ui_kivy.console.demo import EventMaker, demo_config

    led = records.RecordsLedger("yokohama-2027")
    mk = EventMaker(led)
    mk.terminal("T1", "D01")
    day = datetime(2027, 4, 25, 9, 0, tzinfo=JST)
    for i in range(5):
        mk.checkin("T1", "D01", str(i), day.replace(minute=i), ["shu", "governor"])
    rows = records.checkin_rows(led, demo_config())
    assert [(r.voter, r.contest, r.state) for r in rows][:2] == [("0", "shu", "ballot"), ("0", "governor", "ballot")]
    assert records.turnout(led, demo_config(), day.date()).total == 5
    assert all(type(led.checkins.raw(k)) is tuple for k in list(led.checkins))  # still lean rows
    assert [(k, r.voter) for k, r in led.checkins.reading()] == [(("T1", i + 1), str(i)) for i in range(5)]
