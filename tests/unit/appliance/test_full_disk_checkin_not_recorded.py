"""A full disk or a read-only database surfaces as StorageFailed: the check-in is NOT recorded
(no journal entry, no voted flag) and the terminal carries on once space is back."""

import pytest

from ground.clock import FixedClock
from ground.errors import StorageFailed
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, terminal_dir, voter


@pytest.fixture
def term(tmp_path):  # type: ignore[no-untyped-def]
    voters = [voter(str(i)) for i in range(400)]
    t = Terminal(terminal_dir(tmp_path / "t", voters), FixedClock(EARLY_NOON))
    yield t
    t.close()


def test_full_disk_checkin_not_recorded(term: Terminal) -> None:
    """Real SQLITE_FULL: cap the file at its current size and check in until the disk is full."""
    term.checkin("0", "c1")
    c = term.store.conn
    c.execute(f"PRAGMA max_page_count={c.execute('PRAGMA page_count').fetchone()[0]}")
    failed = None
    for i in range(1, 400):
        before = term.head().seq
        try:
            term.checkin(str(i), "c1")
        except StorageFailed as e:
            assert e.code == "storage_failed"
            failed = str(i)
            break
    assert failed is not None, "the capped file never filled up"
    assert term.head().seq == before  # nothing appended for the failed check-in
    assert term.known_voted(failed) == {}
    c.execute("PRAGMA max_page_count=1000000")  # space is back
    assert term.checkin(failed, "c1").seq == before + 1
    assert term.verify().ok


def test_read_only_database_checkin_not_recorded(term: Terminal) -> None:
    term.store.conn.execute("PRAGMA query_only=1")
    with pytest.raises(StorageFailed):
        term.checkin("1", "c1")
    term.store.conn.execute("PRAGMA query_only=0")
    assert term.head().seq == 0 and term.known_voted("1") == {}
