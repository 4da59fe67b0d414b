"""HQ's cold-start replay (hq/ledger/replay.py) builds the very ledger ``decode_batch`` followed
by ``apply_all`` builds, and fails where they fail with the same error.

Pure: bodies in, ledgers compared. The stored days mix plain check-ins (the path that makes no
``Event``) with everything that must leave it: a voter's second ballot, markers, voids, refused
check-ins decided at first ingest, HQ's own 不在者投票, check-ins with extra marks, terminals gone
from the registry, and ledger subclasses that override what a plain check-in would skip. The
error cases: a non-canonical body, a bad shape, a gap in one terminal's sequence.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from ground.errors import JournalCorrupt
from ground.events import Event, EventKind, decode_batch
from ground.model import HQ_TERMINAL, StationId, TerminalId
from hq.ledger import HQ_STATION, Ledger
from hq.ledger.replay import _parse, replay
from hq.records import RecordsLedger
from hq.screen import Refusal
from sync_protocol.errors import BatchRejected
from tooling.sim.hq import LwwLedger

ELECTION = "replay-test"
CONTESTS = ["gov", "mayor", "council", "judge"]
TERMS = [f"T{i}" for i in range(6)]


def _day(rng: random.Random, n: int) -> tuple[list[bytes], dict[tuple[str, int], list[Refusal]]]:
    seqs = {t: 0 for t in TERMS + ["GONE", HQ_TERMINAL]}
    last: dict[str, int] = {}
    out: list[Event] = []
    decided: dict[tuple[str, int], list[Refusal]] = {}

    def add(t: str, kind: EventKind, data: dict[str, Any]) -> int:
        seqs[t] += 1
        out.append(Event(kind, seqs[t], 1_800_000_000_000 + len(out), TerminalId(t), data))
        return seqs[t]

    while len(out) < n:
        t = rng.choice(TERMS + ["GONE"])
        r = rng.random()
        voter = str(rng.randrange(n // 2))  # every second one a voter seen before: second ballots
        cs = rng.sample(CONTESTS, rng.randint(1, 4))
        if r < 0.05 and t in last:
            add(t, EventKind.VOID, {"ref": last.pop(t), "reason": "人違い", "clerk": "c"})
        elif r < 0.1 and t in last:
            add(t, EventKind.WITHHELD, {"ref": last[t], "contests": cs[:1]})
        elif r < 0.15 and t in last:
            add(t, EventKind.PROVISIONAL, {"ref": last[t]})
        elif r < 0.18:
            add(t, EventKind.LOOKUP, {"voter": voter, "via": "scan", "clerk": "c"})
        elif r < 0.2:
            add(HQ_TERMINAL, EventKind.ABSENTEE, {"voter": voter, "contests": cs, "station": "HQ"})
        elif r < 0.22:
            last[t] = add(t, EventKind.CHECKIN, {"station": "S" + t, "clerk": "c", "voter": voter, "contests": cs,
                                                 "proxy": True})
        else:
            last[t] = add(t, EventKind.CHECKIN, {"station": "S" + t, "clerk": "c", "voter": voter, "contests": cs})
            if rng.random() < 0.03:  # refused at first ingest: replay reuses the decision
                seq = last.pop(t)
                decided[(t, seq)] = [Refusal(TerminalId(t), seq, "voter_unknown", voter, tuple(cs), StationId("S" + t),
                                             StationId("S" + t), 0, "c")]
    return [e.encode() for e in out], decided


def _ledger(cls: type[Ledger], decided: dict[tuple[str, int], list[Refusal]]) -> Ledger:
    led = cls(ELECTION)
    led.contests = frozenset(CONTESTS)
    led.decided = decided
    for t in TERMS:
        led.register(TerminalId(t), StationId("S" + t), b"\0" * 32)
    led.register(HQ_TERMINAL, HQ_STATION, b"\0" * 32)
    return led


def _old(led: Ledger, bodies: list[bytes]) -> None:
    """What HqStore.load did before replay: decode the chunk, register the unknown, apply it."""
    evs = decode_batch(bodies)
    for ev in evs:
        if ev.terminal not in led.terminals:
            led.register(ev.terminal, StationId("?"), b"")
    led.apply_all(evs)


def _state(led: Ledger) -> dict[str, Any]:
    return {
        "terminals": [(t, ts.station, ts.acked_seq, ts.head, bytes(ts.hashes._buf)) for t, ts in led.terminals.items()],
        "checkins": [(k, r.voter, r.ref, r.contests, dict(r.states()), r.first) for k, r in led.checkins.reading()],
        "ballots": dict(led.ballots),
        "alerts": [(a.alert_id, a.voter, a.contest, a.ballots, a.active) for a in led.alert_log],
        "flags": list(led.flags),
        "other": list(led.other_events),
        "refusals": list(led.refusals),
        "order": led.order,
        "provisional": getattr(led, "provisional_refs", None),
    }


@pytest.mark.parametrize("cls", [Ledger, RecordsLedger, LwwLedger])
@pytest.mark.parametrize("chunk", [1, 5, 2048])
def test_replay_builds_the_ledger_decode_then_apply_builds(cls: type[Ledger], chunk: int) -> None:
    bodies, decided = _day(random.Random(chunk), 1500)
    want, got = _ledger(cls, decided), _ledger(cls, decided)
    for i in range(0, len(bodies), chunk):
        _old(want, bodies[i:i + chunk])
        replay(got, bodies[i:i + chunk])
    w, g = _state(want), _state(got)
    assert (w["alerts"] or cls is LwwLedger) and w["refusals"] and w["other"]  # not trivial
    assert len(w["terminals"]) == len(TERMS) + 2
    for k in w:
        assert g[k] == w[k], k


def test_most_of_a_day_takes_the_path_without_events() -> None:
    bodies, _ = _day(random.Random(3), 1000)
    items = _parse(bodies)
    assert items is not None
    plain = sum(type(x) is tuple for x in items)
    assert plain > len(bodies) // 2
    # and those are exactly the check-ins of the four plain fields
    assert plain == sum(1 for e in decode_batch(bodies) if e.kind is EventKind.CHECKIN and len(e.data) == 4)


def _raises(fn: Any) -> tuple[type, str]:
    with pytest.raises(Exception) as ei:
        fn()
    return type(ei.value), getattr(ei.value, "code", "")


@pytest.mark.parametrize("damage", ["spaces", "unsorted", "bad_type", "not_json", "dup_contest", "too_long_station"])
def test_a_stored_event_that_fails_a_check_stops_replay_as_decode_batch_does(damage: str) -> None:
    bodies, decided = _day(random.Random(7), 200)
    i = next(k for k, b in enumerate(bodies) if b'"k":"checkin"' in b and b"proxy" not in b) + 3
    while b'"k":"checkin"' not in bodies[i]:
        i += 1
    obj = orjson.loads(bodies[i])
    bad = {
        "spaces": bodies[i].replace(b'","', b'", "', 1),
        "unsorted": b'{"h":' + str(obj["h"]).encode() + b"," + bodies[i][1:].replace(b',"h":' + str(obj["h"]).encode(), b""),
        "bad_type": bodies[i].replace(b'"s":' + str(obj["s"]).encode(), b'"s":"' + str(obj["s"]).encode() + b'"'),
        "not_json": bodies[i][:-1],
        "dup_contest": orjson.dumps({**obj, "d": {**obj["d"], "contests": ["gov", "gov"]}}, option=orjson.OPT_SORT_KEYS),
        "too_long_station": orjson.dumps({**obj, "d": {**obj["d"], "station": "S" * 300}}, option=orjson.OPT_SORT_KEYS),
    }[damage]
    damaged = bodies[:i] + [bad] + bodies[i + 1:]
    want = _raises(lambda: _old(_ledger(Ledger, decided), damaged))
    assert want[0] is JournalCorrupt
    assert _raises(lambda: replay(_ledger(Ledger, decided), damaged)) == want


def test_a_gap_in_one_terminals_sequence_stops_replay_as_apply_all_does() -> None:
    bodies, decided = _day(random.Random(11), 300)
    evs = decode_batch(bodies)
    # drop a plain check-in in the middle: the next event of its terminal is out of sequence
    i = next(k for k, e in enumerate(evs) if k > 100 and e.kind is EventKind.CHECKIN and len(e.data) == 4
             and (e.terminal, e.seq) not in decided)
    gapped = bodies[:i] + bodies[i + 1:]
    want = _raises(lambda: _old(_ledger(Ledger, decided), gapped))
    assert want == (BatchRejected, "batch_gap")
    assert _raises(lambda: replay(_ledger(Ledger, decided), gapped)) == want
