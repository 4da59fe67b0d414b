"""Every lookup that shows a voter leaves a ``lookup`` journal entry (who, when, which voter, why:
scan or search) before the result is returned; HQ's ledger keeps them out of the ballots."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance import journal
from appliance.audit import audited_lookup
from ground.barcode import make_barcode
from ground.clock import FixedClock
from ground.errors import StorageFailed, UsageError
from ground.events import EventKind
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, terminal_dir, voter


def with_roll(term: Terminal) -> Terminal:
    with term.store.atomic() as c:
        term.store.set_meta(c, "roll_version", "1")
    return term


def lookups(term: Terminal) -> list[tuple[str, str, str | None]]:
    return [(ev.voter, ev.data["via"], ev.data.get("clerk"))
            for ev in journal.entries_after(term.store, 0, limit=1000) if ev.kind is EventKind.LOOKUP]


def test_scan_and_search_are_audited_with_clerk(tmp_path: Path) -> None:
    t = terminal_dir(tmp_path / "t", [voter("100001", name_kana="ヤマダ タロウ"),
                                      voter("100002", name_kana="ヤマダ ハナコ"), voter("100003", name_kana="スズキ イチロウ")])
    with with_roll(Terminal.open(t, FixedClock(EARLY_NOON))) as term:
        code = make_barcode("100001", term.config.barcode)
        res = audited_lookup(term, barcode=code, clerk="k7")
        assert [f.voter.voter_id for f in res.found] == ["100001"]
        audited_lookup(term, kana="やまだ", clerk="k7")
        audited_lookup(term, voter_id=" 100003 ")
        assert not audited_lookup(term, voter_id="999999").found  # nothing shown, nothing logged
        assert lookups(term) == [("100001", "scan", "k7"), ("100001", "search", "k7"),
                                 ("100002", "search", "k7"), ("100003", "search", None)]
        entries = [ev for ev in journal.entries_after(term.store, 0, limit=10)]
        assert all(ev.hlc > 0 and ev.terminal == "T01" for ev in entries)  # when, which terminal
        assert term.verify().ok
        with pytest.raises(UsageError):
            term.record_lookup(["100001"], "curiosity")


def test_lookup_not_shown_when_audit_cannot_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t = terminal_dir(tmp_path / "t", [voter("100001")])
    with with_roll(Terminal.open(t, FixedClock(EARLY_NOON))) as term:
        def full(*a: object, **k: object) -> None:
            raise StorageFailed("disk full")
        monkeypatch.setattr(term, "record_lookup", full)
        with pytest.raises(StorageFailed):
            audited_lookup(term, voter_id="100001")


def test_hq_ledger_keeps_lookups_out_of_ballots(tmp_path: Path) -> None:
    from hq.ledger import Ledger

    t = terminal_dir(tmp_path / "t", [voter("100001")])
    with with_roll(Terminal.open(t, FixedClock(EARLY_NOON))) as term:
        audited_lookup(term, voter_id="100001")
        evs = journal.entries_after(term.store, 0, limit=10)
    assert evs and evs[0].kind is EventKind.LOOKUP
    ledger = Ledger("yokohama-2027")
    ledger.register("T01", "E01", b"\0" * 32)
    for ev in evs:
        assert ledger.apply(ev) == []  # no voted flag
    assert ledger.ballots == {} and ledger.voted_set() == set()
    assert [ev.kind for ev in ledger.other_events] == [EventKind.LOOKUP]


def test_cli_lookup_is_audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    from tests.security_helpers import meibo

    t = terminal_dir(tmp_path / "t", [voter("100001")])
    with_roll(Terminal.open(t, FixedClock(EARLY_NOON))).close()
    rc, out = meibo(monkeypatch, capsys, "terminal", "lookup", str(t.root), "--voter-id", "100001", "--clerk", "k2")
    assert rc == 0 and out["count"] == 1
    with Terminal.open(t, FixedClock(EARLY_NOON)) as term:
        assert lookups(term) == [("100001", "search", "k2")]
