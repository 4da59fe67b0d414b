"""取消 (void) appends an entry, releases that check-in's ballots, and is refused twice or on a
non-checkin entry; the journal is never rewritten."""

import pytest

from ground.clock import FixedClock
from ground.errors import NotFound
from ground.events import EventKind
from appliance.terminal import Terminal, VoidRefused
from tests.builders import EARLY_NOON, terminal_dir, voter


@pytest.fixture
def term(tmp_path):  # type: ignore[no-untyped-def]
    t = Terminal(terminal_dir(tmp_path / "t", [voter("1"), voter("2")]), FixedClock(EARLY_NOON))
    yield t
    t.close()


def bodies(t: Terminal) -> list[bytes]:
    return [bytes(r[0]) for r in t.store.conn.execute("SELECT body FROM journal ORDER BY seq")]


def test_void_releases_ballot_and_voter_can_check_in_again(term: Terminal) -> None:
    first = term.checkin("1", "c1")
    assert term.checkin("1", "c1").seq is None  # already voted everything
    before = bodies(term)
    v = term.void(first.seq, "投票せずに帰った", "sup1")  # type: ignore[arg-type]
    assert v.kind is EventKind.VOID and v.data["ref"] == first.seq
    assert bodies(term)[: len(before)] == before  # nothing rewritten
    again = term.checkin("1", "c1")
    assert again.seq == v.seq + 1 and len(again.handed) == 4
    assert term.verify().ok


def test_void_twice_refused(term: Terminal) -> None:
    c = term.checkin("1", "c1")
    term.void(c.seq, "取消", "sup1")  # type: ignore[arg-type]
    with pytest.raises(VoidRefused, match="すでに取り消"):
        term.void(c.seq, "取消", "sup1")  # type: ignore[arg-type]


def test_void_of_non_checkin_and_unknown_seq_refused(term: Terminal) -> None:
    c = term.checkin("1", "c1")
    p = term.record_provisional(c.seq)  # type: ignore[arg-type]
    with pytest.raises(VoidRefused, match="受付（checkin）ではありません"):
        term.void(p.seq, "取消", "sup1")
    with pytest.raises(NotFound):
        term.void(99, "取消", "sup1")
    assert term.head().seq == 2


def test_void_releases_only_that_checkin(term: Terminal) -> None:
    a = term.checkin("1", "c1")
    term.checkin("2", "c1")
    term.void(a.seq, "取消", "sup1")  # type: ignore[arg-type]
    assert set(term.known_voted("2")) == {"shu", "shinsa", "governor", "mayor"}
    assert term.known_voted("1") == {}


def test_void_keeps_remote_flag_of_another_terminal(term: Terminal) -> None:
    a = term.checkin("1", "c1")
    with term.store.atomic() as c:  # as the sync agent applies HQ's stream
        term.apply_voted_flags(c, [("2", "shu", +1, "E02", "T09", 1, 5)])
    term.void(a.seq, "取消", "sup1")  # type: ignore[arg-type]
    assert set(term.known_voted("2")) == {"shu"}
