"""The console's incremental records (``ui_kivy.console.live``) equal a full rebuild
(``records.console_data``) after any sequence of journal events and refreshes: check-ins at
several stations and days, double votes, withheld / provisional / void markers (also for
unknown or non-check-in refs), 交付数 corrections with tied clocks, 不在者投票 at HQ, lookups.

The feed may lag behind the ledger (HQ applies before it commits, and the console reads what is
committed): the figures must be exact once the feed has caught up."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hypothesis import given, settings, strategies as st

from ground.clock import JST
from ground.events import Event, EventKind
from ground.hlc import pack
from ground.model import HQ_TERMINAL, TerminalId
from hq.records import HqFacts, RecordsLedger, console_data
from ui_kivy.console.demo import EventMaker, demo_config
from ui_kivy.console.live import Change, LiveRecords

CFG = demo_config()
TERMS = {"T1": "D01", "T2": "C01", "T3": "C01"}
NOW = datetime(2027, 4, 25, 15, 12, tzinfo=JST)
FACTS = HqFacts(contacts={"T1": (NOW.timestamp() - 5, "10.0.0.1", '{"dbm": -80, "carrier": "KDDI"}')},
                online=frozenset({"T1", "T2"}), unacked_flags={"T1": 2})

when = st.builds(lambda d, h, m: datetime(2027, 4, d, h, m, tzinfo=JST),
                 st.sampled_from([24, 25, 25]), st.integers(6, 16), st.sampled_from([0, 1, 30, 59]))
contests = st.lists(st.sampled_from(["shu", "governor"]), min_size=1, max_size=2, unique=True)
voter = st.sampled_from([str(100000 + i) for i in range(6)])  # few voters: many double votes
term = st.sampled_from(sorted(TERMS))

back = st.integers(-1, 3)  # the marker names its terminal's latest seq minus this (-1: one not yet written)
checkin = st.tuples(st.just("checkin"), term, voter, when, contests)
refresh = st.tuples(st.just("refresh"), st.sampled_from([0, 0, 0, 1, 3]))  # how many applied events the feed still lags
op = st.one_of(
    checkin, checkin, refresh, refresh,
    st.tuples(st.just("withheld"), term, back, when, contests),
    st.tuples(st.just("provisional"), term, back, when),
    st.tuples(st.just("void"), term, back, when),
    st.tuples(st.just("count"), term, st.sampled_from(["shu", "governor"]), st.sampled_from([9, 10, 14]),
              st.integers(0, 3), st.sampled_from([None, "C01"]), st.one_of(st.none(), when)),
    st.tuples(st.just("absentee"), voter, when, contests),
    st.tuples(st.just("lookup"), term, when),
)


def _run(ops: list[tuple[Any, ...]]) -> None:
    ledger = RecordsLedger(CFG.election_id)
    mk = EventMaker(ledger)
    for t, s in TERMS.items():
        mk.terminal(t, s)
    mk.terminal(HQ_TERMINAL, "HQ")
    live = LiveRecords(CFG)
    applied: list[Event] = []
    fed = 0
    count_at = datetime(2027, 4, 25, 12, 0, tzinfo=JST)
    for o in ops:
        kind = o[0]
        if kind == "checkin":
            applied.append(mk.checkin(o[1], TERMS[o[1]], o[2], o[3], o[4]))
        elif kind == "withheld":
            ref = max(1, mk.seqs[o[1]] - o[2])
            applied.append(mk.emit(o[1], EventKind.WITHHELD, o[3], {"ref": ref, "contests": o[4]}))
        elif kind in ("provisional", "void"):
            ref = max(1, mk.seqs[o[1]] - o[2])
            applied.append(mk.emit(o[1], EventKind(kind), o[3], {"ref": ref}))
        elif kind == "count":
            _, t, c, hour, issued, station, at = o
            data: dict[str, Any] = {"contest": c, "hour": hour, "issued": issued}
            if station:
                data["station"] = station
            if at is None:  # equal terminal clocks on purpose: a tie goes to the later in HQ's order
                mk.seqs[t] += 1
                ev = Event(EventKind.COUNT, mk.seqs[t], pack(int(count_at.timestamp() * 1000), 0),
                           TerminalId(t), data)
                ledger.apply(ev)
                applied.append(ev)
            else:
                applied.append(mk.emit(t, EventKind.COUNT, at, data))
        elif kind == "absentee":
            applied.append(mk.emit(HQ_TERMINAL, EventKind.ABSENTEE, o[2],
                                   {"voter": o[1], "contests": o[3], "station": "HQ"}))
        elif kind == "lookup":
            applied.append(mk.emit(o[1], EventKind.LOOKUP, o[2], {"query": "ヤマダ"}))
        elif kind == "refresh":
            upto = max(fed, len(applied) - o[1])
            for ev in applied[fed:upto]:
                live.observe(ledger, Change.of(ev))
            fed = upto
            if fed == len(applied):
                assert live.build(ledger, FACTS, NOW) == console_data(ledger, CFG, FACTS, NOW)
    for ev in applied[fed:]:
        live.observe(ledger, Change.of(ev))
    assert live.observed == len(applied) == ledger.order
    assert live.build(ledger, FACTS, NOW) == console_data(ledger, CFG, FACTS, NOW)


@settings(max_examples=300, deadline=None)
@given(st.lists(op, max_size=60))
def test_incremental_console_equals_full_rebuild(ops):
    _run(ops)


def test_a_void_after_many_refreshes_moves_every_figure_back():
    """A hand-written case the property also covers: ballot counted, refreshed, then voided."""
    _run([("checkin", "T1", "100001", datetime(2027, 4, 25, 9, 5, tzinfo=JST), ["shu", "governor"]),
          ("count", "T1", "shu", 10, 1, None, None), ("refresh", 0),
          ("checkin", "T2", "100001", datetime(2027, 4, 25, 9, 30, tzinfo=JST), ["shu"]),
          ("provisional", "T2", 0, datetime(2027, 4, 25, 9, 30, tzinfo=JST)), ("refresh", 0),
          ("void", "T1", 1, datetime(2027, 4, 25, 9, 31, tzinfo=JST)), ("refresh", 0)])
