"""HQ's verdicts recorded in the journal: withheld ballots are released; provisional is a note."""

import pytest

from ground.clock import FixedClock
from ground.events import EventKind
from appliance.terminal import Terminal, VoidRefused, WithholdRefused
from tests.builders import EARLY_NOON, terminal_dir, voter


@pytest.fixture
def term(tmp_path):  # type: ignore[no-untyped-def]
    t = Terminal(terminal_dir(tmp_path / "t", [voter("1")]), FixedClock(EARLY_NOON))
    yield t
    t.close()


def test_withheld_removes_own_voted_rows_of_those_contests(term: Terminal) -> None:
    c = term.checkin("1", "c1")
    w = term.record_withheld(c.seq, ["governor"])  # type: ignore[arg-type]
    assert w.kind is EventKind.WITHHELD and w.contests == ("governor",)
    assert set(term.known_voted("1")) == {"shu", "shinsa", "mayor"}
    with pytest.raises(WithholdRefused):
        term.record_withheld(c.seq, ["governor"])  # type: ignore[arg-type]
    with pytest.raises(WithholdRefused):
        term.record_withheld(c.seq, ["nope"])  # type: ignore[arg-type]


def test_void_after_everything_withheld_is_refused(term: Terminal) -> None:
    c = term.checkin("1", "c1")
    term.record_withheld(c.seq, ["shu", "shinsa", "governor", "mayor"])  # type: ignore[arg-type]
    with pytest.raises(VoidRefused):
        term.void(c.seq, "取消", "s")  # type: ignore[arg-type]


def test_provisional_appends_and_keeps_ballots(term: Terminal) -> None:
    c = term.checkin("1", "c1")
    p = term.record_provisional(c.seq)  # type: ignore[arg-type]
    assert p.kind is EventKind.PROVISIONAL and p.ref == c.seq and p.seq == c.seq + 1  # type: ignore[operator]
    assert len(term.known_voted("1")) == 4
    assert term.verify().ok
