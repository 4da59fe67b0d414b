"""The console's incremental records read HQ's check-ins without making the ledger keep a
record per check-in (HQ holds plain first-ballot check-ins as lean rows: the GC's cost and
memory on a day of a million check-ins); the figures are still exact."""

from __future__ import annotations

from datetime import datetime

from ground.clock import JST
from hq.records import HqFacts, RecordsLedger, console_data
from ui_kivy.console.demo import EventMaker, demo_config
from ui_kivy.console.live import Change, LiveRecords

NOW = datetime(2027, 4, 25, 15, 0, tzinfo=JST)


def test_observing_plain_checkins_keeps_them_lean_rows():
    cfg = demo_config()
    ledger = RecordsLedger(cfg.election_id)
    mk = EventMaker(ledger)
    mk.terminal("T1", "D01")
    events = [mk.checkin("T1", "D01", str(100000 + i), NOW.replace(hour=9, minute=i), ["shu", "governor"])
              for i in range(50)]
    raw = getattr(ledger.checkins, "raw", None)
    if raw is None:  # a ledger without lean rows: nothing to keep lean
        return
    lean_before = sum(1 for ev in events if type(raw(("T1", ev.seq))) is tuple)
    live = LiveRecords(cfg)
    for ev in events:
        live.observe(ledger, Change.of(ev))
    data = live.build(ledger, HqFacts(), NOW)
    lean_after = sum(1 for ev in events if type(raw(("T1", ev.seq))) is tuple)
    assert lean_before == lean_after == 50
    assert data.turnout.total == 50
    assert data == console_data(ledger, cfg, HqFacts(), NOW)
