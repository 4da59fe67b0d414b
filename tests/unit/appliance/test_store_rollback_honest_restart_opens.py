"""Honest restarts are never mistaken for a rollback (issue 16 part 3).

The head record is written after the commit, so it may be *behind* the store (a crash between
the two) but never ahead; open tolerates behind and catches up. Also: two terminals with one head
directory, the head directory inside TDIR, a damaged record."""

from __future__ import annotations

import pytest

from appliance import freshness
from ground.clock import FixedClock
from ground.errors import MeiboError
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, terminal_dir, voter

VOTERS = [voter(str(100001 + i)) for i in range(6)]


def _record(t: Terminal) -> freshness.HeadRecord:
    return t.head_record


def test_close_and_reopen_many_times_opens_and_the_record_follows(tmp_path):
    tdir = terminal_dir(tmp_path / "T01", VOTERS)
    for i, v in enumerate(("100001", "100002", "100003"), start=1):
        with Terminal.open(tdir, FixedClock(EARLY_NOON)) as t:
            assert t.head().seq == i - 1
            t.checkin(v, "c1")
            seen = _record(t).read()
            assert seen is not None and (seen.seq, seen.hash) == (t.head().seq, t.head().hash)
    with Terminal.open(tdir, FixedClock(EARLY_NOON)) as t:
        assert t.head().seq == 3 and t.verify().ok


def test_crash_between_commit_and_record_write_is_not_a_rollback(tmp_path, monkeypatch):
    """The check-in committed, the process died before the record write: the record is one
    behind, the store opens, and the record catches up at that open."""
    tdir = terminal_dir(tmp_path / "T01", VOTERS)
    with Terminal.open(tdir, FixedClock(EARLY_NOON)) as t:
        t.checkin("100001", "c1")
        monkeypatch.setattr(freshness.HeadRecord, "advance", lambda self, seq, digest: None)  # "dies"
        assert t.checkin("100002", "c1").seq == 2
        monkeypatch.undo()
        seen = _record(t).read()
        assert seen is not None and seen.seq == 1
    with Terminal.open(tdir, FixedClock(EARLY_NOON)) as t:
        seen = _record(t).read()
        assert t.head().seq == 2 and seen is not None and seen.seq == 2


def test_a_failed_record_write_after_commit_does_not_fail_the_checkin(tmp_path, monkeypatch):
    tdir = terminal_dir(tmp_path / "T01", VOTERS)
    with Terminal.open(tdir, FixedClock(EARLY_NOON)) as t:
        def full(self, seq, digest):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(freshness.HeadRecord, "advance", full)
        r = t.checkin("100001", "c1")
        assert r.seq == 1  # durable in the store; the poll worker is told so
        assert isinstance(_record(t).last_error, OSError)


def test_two_terminals_share_one_head_directory(tmp_path):
    a = terminal_dir(tmp_path / "T01", VOTERS)
    b = terminal_dir(tmp_path / "T02", VOTERS, terminal="T02", station="E02")
    with Terminal.open(a, FixedClock(EARLY_NOON)) as ta, Terminal.open(b, FixedClock(EARLY_NOON)) as tb:
        ta.checkin("100001", "c1")
        ta.checkin("100002", "c1")
        tb.record_station("open")
        assert _record(ta).path != _record(tb).path
    with Terminal.open(a, FixedClock(EARLY_NOON)) as ta, Terminal.open(b, FixedClock(EARLY_NOON)) as tb:
        assert (ta.head().seq, tb.head().seq) == (2, 1)


def test_head_directory_inside_tdir_is_refused(tmp_path, monkeypatch):
    tdir = terminal_dir(tmp_path / "T01", VOTERS)
    monkeypatch.setenv(freshness.HEAD_DIR_ENV, str(tdir.root / "heads"))
    with pytest.raises(MeiboError) as ei:
        Terminal.open(tdir, FixedClock(EARLY_NOON))
    assert ei.value.code == "head_dir_in_tdir"


def test_damaged_record_is_refused_and_a_torn_newest_slot_is_not(tmp_path):
    tdir = terminal_dir(tmp_path / "T01", VOTERS)
    with Terminal.open(tdir, FixedClock(EARLY_NOON)) as t:
        t.checkin("100001", "c1")
        t.checkin("100002", "c1")  # slot 0: seq 0 → 2; slot 1: seq 1
        path = _record(t).path
    raw = bytearray(path.read_bytes())
    newest = 0 if freshness._unpack(bytes(raw[:freshness.SLOT])).seq == 2 else 1  # type: ignore[union-attr]
    raw[newest * freshness.SLOT + 10] ^= 0xFF  # a torn write of the newest slot
    path.write_bytes(bytes(raw))
    with Terminal.open(tdir, FixedClock(EARLY_NOON)) as t:
        assert t.head().seq == 2  # the older slot (seq 1) counts; the store is ahead of it
    raw = bytearray(path.read_bytes())
    for i in (10, freshness.SLOT + 10):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(MeiboError) as ei:
        Terminal.open(tdir, FixedClock(EARLY_NOON))
    assert ei.value.code == "head_record_corrupt"
