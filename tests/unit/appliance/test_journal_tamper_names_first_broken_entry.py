"""verify checks the whole chain and names the first broken entry: a changed body, a changed
hash, a missing entry, a non-canonical body, an entry of another terminal."""

from pathlib import Path

import pytest

from appliance import journal
from ground.clock import FixedClock
from ground.errors import JournalCorrupt
from ground.events import Event, EventKind, chain_hash
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, raw_connect, terminal_dir, voter


def five(tmp_path: Path) -> tuple[Terminal, Path]:
    tdir = terminal_dir(tmp_path / "t", [voter(str(i)) for i in range(1, 6)])
    t = Terminal(tdir, FixedClock(EARLY_NOON))
    for i in range(1, 6):
        t.checkin(str(i), "c1")
    assert t.verify().ok and t.verify().entries == 5
    return t, tdir.store_path


def raw(path: Path, sql: str, *args: object) -> None:
    c = raw_connect(path)
    c.execute(sql, args)
    c.commit()
    c.close()


def test_changed_body_named(tmp_path: Path) -> None:
    t, db = five(tmp_path)
    body = bytes(t.store.conn.execute("SELECT body FROM journal WHERE seq=3").fetchone()[0])
    raw(db, "UPDATE journal SET body=? WHERE seq=3", body.replace(b'"voter":"3"', b'"voter":"9"'))
    rep = t.verify()
    assert not rep.ok and rep.first_broken == 3 and rep.entries == 2 and "3 番" in rep.problem
    with pytest.raises(JournalCorrupt) as e:
        rep.raise_if_broken()
    assert e.value.details["first_broken"] == 3


def test_changed_hash_and_recomputed_hash_named(tmp_path: Path) -> None:
    t, db = five(tmp_path)
    raw(db, "UPDATE journal SET hash=? WHERE seq=4", b"\0" * 32)
    assert t.verify().first_broken == 4
    # an attacker who rewrites entry 2 and its own hash still breaks the link to entry 3
    t2, db2 = five(tmp_path / "b")
    ev = journal.entry(t2.store, 2)
    assert ev is not None
    forged = Event(ev.kind, ev.seq, ev.hlc, ev.terminal, {**ev.data, "voter": "5"}).encode()
    prev = bytes(t2.store.conn.execute("SELECT hash FROM journal WHERE seq=1").fetchone()[0])
    raw(db2, "UPDATE journal SET body=?, hash=? WHERE seq=2", forged, chain_hash(prev, forged))
    assert t2.verify().first_broken == 3


def test_missing_entry_named(tmp_path: Path) -> None:
    t, db = five(tmp_path)
    raw(db, "DELETE FROM journal WHERE seq=2")
    rep = t.verify()
    assert rep.first_broken == 2 and "見つかりません" in rep.problem


def test_non_canonical_body_named(tmp_path: Path) -> None:
    t, db = five(tmp_path)
    body = bytes(t.store.conn.execute("SELECT body FROM journal WHERE seq=5").fetchone()[0])
    raw(db, "UPDATE journal SET body=? WHERE seq=5", body.replace(b",", b", ", 1))
    assert t.verify().first_broken == 5


def test_journal_of_another_terminal_fails_from_first_entry(tmp_path: Path) -> None:
    t, _ = five(tmp_path)
    rep = journal.verify(t.store, t.config.election_id, "T99")
    assert rep.first_broken == 1
    assert journal.verify(t.store, "other-election", t.terminal_id).first_broken == 1


def test_entries_after_and_head(tmp_path: Path) -> None:
    t, _ = five(tmp_path)
    assert [e.seq for e in journal.entries_after(t.store, 3)] == [4, 5]
    assert t.head().seq == 5 and t.head().hash == t.verify().head.hash
    assert all(e.kind is EventKind.CHECKIN for e in journal.entries_after(t.store, 0))
