"""Any sequence of terminal operations leaves a journal that verifies, with seqs 1..N, strictly
increasing HLC timestamps, and voted flags equal to the check-ins not voided or withheld."""

import tempfile
from pathlib import Path

from hypothesis import given, settings, strategies as st

from appliance import journal
from appliance.clock import FixedClock
from appliance.errors import ApplianceError
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, terminal_dir, voter

VOTERS = [str(i) for i in range(1, 6)]
ops = st.lists(st.one_of(
    st.tuples(st.just("checkin"), st.sampled_from(VOTERS)),
    st.tuples(st.just("void"), st.integers(1, 30)),
    st.tuples(st.just("withhold"), st.integers(1, 30)),
    st.tuples(st.just("step"), st.integers(-5000, 5000)),  # the wall clock jumps, even backwards
), max_size=25)


@settings(max_examples=40, deadline=None)
@given(ops)
def test_any_operation_sequence_keeps_a_sound_chain(seq_ops: list) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as d:
        clock = FixedClock(EARLY_NOON)
        with Terminal(terminal_dir(Path(d) / "t", [voter(v) for v in VOTERS]), clock) as t:
            for op, arg in seq_ops:
                try:
                    if op == "checkin":
                        t.checkin(arg, "c")
                    elif op == "void":
                        t.void(arg, "r", "s")
                    elif op == "withhold":
                        t.record_withheld(arg, ["governor"])
                    else:
                        from datetime import timedelta
                        clock.set(clock.now() + timedelta(milliseconds=arg))
                except ApplianceError:
                    pass
            rep = t.verify()
            assert rep.ok, rep.problem
            evs = journal.entries_after(t.store, 0, limit=1000)
            assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
            assert all(a.hlc < b.hlc for a, b in zip(evs, evs[1:]))
            expect: set[tuple[str, str]] = set()
            live: dict[int, tuple[str, set[str]]] = {}
            for e in evs:
                if e.kind.value == "checkin":
                    live[e.seq] = (e.voter, set(e.contests))
                elif e.kind.value == "void":
                    live.pop(e.ref, None)
                elif e.kind.value == "withheld":
                    live[e.ref][1].difference_update(e.contests)
            for v, cs in live.values():
                expect |= {(v, c) for c in cs}
            got = {(r[0], r[1]) for r in t.store.conn.execute("SELECT voter_id, contest FROM voted")}
            assert got == expect
