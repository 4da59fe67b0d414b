"""``Ledger.apply_all`` of the batch ``check_batch`` just verified (its one-loop path: hashes by
position, plain check-ins straight into the rows) leaves the ledger ``apply`` event by event
leaves: the same verdicts, ballots, alerts, refusals, flags and chain hashes.

Real signed batches (``TerminalLink``), through ``check_batch``, for voters seen before (second
ballots, alerts), check-ins naming another station or a contest not in the election (screened
and refused), a station with a terminal in test mode (refused as a whole), markers and voids,
and the ledger subclasses the records and the simulator use.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from nacl.signing import SigningKey

from ground.events import Event, EventKind, genesis_hash
from ground.model import StationId, TerminalId
from hq.ledger import Ledger
from hq.records import RecordsLedger
from sync_protocol.session import LinkState, TerminalLink
from tests.unit.hq.test_replay_equals_decode_then_apply import _state
from tooling.sim.hq import LwwLedger

ELECTION = "apply-all-test"
CONTESTS = ["gov", "mayor", "council"]
TERMS = ["A1", "A2", "B1"]  # B1's station is in rehearsal in one case


def _key(t: str) -> SigningKey:
    return SigningKey(bytes([TERMS.index(t) + 1]) * 32)


def _ledger(cls: type[Ledger], rehearsing: bool) -> Ledger:
    led = cls(ELECTION)
    led.contests = frozenset(CONTESTS)
    for t in TERMS:
        led.register(TerminalId(t), StationId("S" + t[0]), bytes(_key(t).verify_key))
    if rehearsing:
        led.rehearsing = frozenset({"SB"})
    return led


def _batches(rng: random.Random) -> list[tuple[str, Any]]:
    out = []
    for t in TERMS:
        link = TerminalLink(ELECTION, TerminalId(t), StationId("S" + t[0]), _key(t), max_batch=50, window=1 << 30)
        link.state = LinkState.READY
        prev, seq, last = genesis_hash(ELECTION, t), 0, 0
        events: list[Event] = []
        for _ in range(120):
            seq += 1
            r = rng.random()
            if r < 0.08 and last:
                events.append(Event(EventKind.VOID, seq, seq, TerminalId(t), {"ref": last, "reason": "x", "clerk": "c"}))
            elif r < 0.16 and last:
                events.append(Event(EventKind.PROVISIONAL, seq, seq, TerminalId(t), {"ref": last}))
            elif r < 0.22 and last:
                events.append(Event(EventKind.WITHHELD, seq, seq, TerminalId(t), {"ref": last, "contests": ["gov"]}))
            else:
                station = "S" + t[0] if rng.random() > 0.05 else "SX"  # another station: refused
                cs = rng.sample(CONTESTS + (["nope"] if rng.random() < 0.05 else []), rng.randint(1, 3))
                events.append(Event(EventKind.CHECKIN, seq, seq, TerminalId(t), {
                    "station": station, "clerk": "c", "voter": str(rng.randrange(40)), "contests": cs}))
                last = seq
        for i in range(0, len(events), 7):
            f = link.batch(events[i:i + 7], prev)
            assert f is not None
            prev = bytes.fromhex(f.header["head"])
            link.acked_seq = link.sent_upto
            out.append((t, f))
    rng.shuffle(out)  # terminals interleave; each terminal's own batches stay in order
    return _keep_order(out)


def _keep_order(out: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    per: dict[str, list[Any]] = {}
    for t, f in out:
        per.setdefault(t, []).append(f)
    for fs in per.values():
        fs.sort(key=lambda f: f.header["first"])
    order = [t for t, _ in out]
    return [(t, per[t].pop(0)) for t in order]


def _check(led: Ledger, t: str, f: Any) -> list[Event]:
    h = f.header
    chk = led.check_batch(TerminalId(t), list(f.events), bytes.fromhex(h["sig"]), h["first"], h["last"],
                          h["prev"], h["head"])
    assert chk.alarm is None and chk.gap_from is None
    return chk.new_events


@pytest.mark.parametrize("cls", [Ledger, RecordsLedger, LwwLedger])
@pytest.mark.parametrize("rehearsing", [False, True])
def test_apply_all_of_the_verified_batch_equals_apply_one_by_one(cls: type[Ledger], rehearsing: bool) -> None:
    batches = _batches(random.Random(5))
    fast, slow = _ledger(cls, rehearsing), _ledger(cls, rehearsing)
    for t, f in batches:
        fast.apply_all(_check(fast, t, f))
        for ev in _check(slow, t, f):
            slow.apply(ev)
    w, g = _state(slow), _state(fast)
    assert w["order"] == 360 and w["refusals"] and (w["alerts"] or cls is LwwLedger)
    assert any(r.code == "station_in_rehearsal" for r in w["refusals"]) == rehearsing
    for k in w:
        assert g[k] == w[k], k
    assert fast._verified == {} == slow._verified
