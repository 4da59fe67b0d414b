"""Any sequence of terminal operations leaves a journal that verifies, with seqs 1..N, strictly
increasing HLC timestamps, and voted flags equal to the check-ins not voided or withheld.

Each operation is checked against a model as it runs: a check-in hands exactly the ballots the
voter does not hold yet, a void or withhold is accepted exactly when the model says it may be
(and refused with the typed error otherwise: NotFound for a seq the journal lacks), so a terminal that refused everything, or journaled
nothing, fails here."""

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from appliance import journal
from ground.clock import FixedClock
from ground.errors import NotFound
from appliance.terminal import Terminal, VoidRefused, WithholdRefused
from tests.builders import EARLY_NOON, terminal_dir, voter

VOTERS = [str(i) for i in range(1, 6)]
CONTESTS = {"shu", "shinsa", "governor", "mayor"}  # every contest a builders voter() may vote in early
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
            model: dict[int, tuple[str, set[str]]] = {}  # check-in seq -> (voter, ballots it still holds)
            voided: set[int] = set()
            for op, arg in seq_ops:
                if op == "checkin":
                    holds = set().union(*(cs for v, cs in model.values() if v == arg))
                    r = t.checkin(arg, "c")
                    assert {c.contest for c in r.handed} == CONTESTS - holds
                    assert (r.seq is None) == (not r.handed)
                    if r.seq is not None:
                        model[r.seq] = (arg, {c.contest for c in r.handed})
                elif op == "void":
                    if arg in model and arg not in voided and model[arg][1]:
                        t.void(arg, "r", "s")
                        voided.add(arg)
                        model[arg] = (model[arg][0], set())
                    else:
                        with pytest.raises((NotFound, VoidRefused)):
                            t.void(arg, "r", "s")
                elif op == "withhold":
                    if arg in model and arg not in voided and "governor" in model[arg][1]:
                        t.record_withheld(arg, ["governor"])
                        model[arg][1].discard("governor")
                    else:
                        with pytest.raises((NotFound, WithholdRefused)):
                            t.record_withheld(arg, ["governor"])
                else:
                    from datetime import timedelta
                    clock.set(clock.now() + timedelta(milliseconds=arg))
            assert sum(e.kind.value == "checkin" for e in journal.entries_after(t.store, 0, limit=1000)) == len(model)
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
