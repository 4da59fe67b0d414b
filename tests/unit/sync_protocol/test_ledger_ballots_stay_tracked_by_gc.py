"""The ledger's ballot map is never untracked by the GC (ledger.py ``BallotMap``): an exact dict
of untracked tuples would be untracked by a full collection and re-tracked into the youngest
generation by the next check-in, and then every young collection would walk all its entries
(millions after a restart); it would also escape ``gc.freeze()`` in ``meibo hq serve``."""

from __future__ import annotations

import gc

from ground.events import Event, EventKind
from ground.model import TerminalId
from hq.ledger import Ledger


def _ledger(n: int) -> Ledger:
    led = Ledger("E")
    led.register("T1", "S1", b"\x00" * 32)
    led.apply_all(Event(EventKind.CHECKIN, s, s, TerminalId("T1"),
                        {"station": "S1", "clerk": "c", "voter": str(s), "contests": ["gov", "mayor"]})
                  for s in range(1, n + 1))
    return led


def test_ballot_map_stays_tracked_after_a_full_collection() -> None:
    led = _ledger(50)
    plain = dict(led.ballots)  # the same entries in an exact dict: the GC untracks it
    gc.collect()
    gc.collect()  # the first pass untracks the tuples, the second the dict of them
    assert not gc.is_tracked(plain)  # what the ledger must avoid (and the test can see it)
    assert gc.is_tracked(led.ballots)
    assert all(not gc.is_tracked(v) for v in led.ballots.values())
    assert len(led.ballots) == 100 and led.ballot_count("7", "gov") == 1


def test_frozen_ballot_map_is_not_walked_by_young_collections() -> None:
    led = _ledger(20)
    gc.collect()
    gc.freeze()
    try:
        led.apply(Event(EventKind.CHECKIN, 21, 21, TerminalId("T1"),
                        {"station": "S1", "clerk": "c", "voter": "new", "contests": ["gov"]}))
        young = {id(o) for o in gc.get_objects(0)} | {id(o) for o in gc.get_objects(1)}
        assert id(led.ballots) not in young  # stays frozen, not moved to generation 0
        assert led.ballot_count("new", "gov") == 1
    finally:
        gc.unfreeze()
