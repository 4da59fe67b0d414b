"""The console's header names the HQ node leading the store and since when (two HQ nodes on one
PostgreSQL database, issue 18), without a window; nothing is shown before any node claimed it."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from hq.records import console_data
from ground.clock import JST
from ui_kivy.console.demo import DEMO_NOW, demo_config, demo_ledger
from ui_kivy.console.live import LiveRecords
from ui_kivy.console.presenter import ConsolePresenter


def _presenter(leader: tuple[str, float] | None) -> ConsolePresenter:
    ledger, facts = demo_ledger()
    p = ConsolePresenter(backend=None)  # type: ignore[arg-type]  # no action is asked here
    p.on_data(console_data(ledger, demo_config(), dataclasses.replace(facts, leader=leader), DEMO_NOW))
    return p


def test_the_header_names_the_leading_node_and_since_when():
    since = datetime(2026, 12, 3, 7, 5, 9, tzinfo=JST).timestamp()
    p = _presenter(("hq-a", since))
    assert p.leader_line() == "主系: hq-a（2026-12-03 07:05から）"
    assert "主系: hq-a（2026-12-03 07:05から）" in p.header()


def test_no_leader_line_before_any_node_claimed_the_store():
    for leader in (None, ("", 0.0)):
        p = _presenter(leader)
        assert p.leader_line() == "" and "主系" not in p.header()


def test_the_live_figures_carry_the_leader_like_the_full_build():
    ledger, facts = demo_ledger()
    facts = dataclasses.replace(facts, leader=("hq-b", datetime(2026, 12, 3, 9, 0, tzinfo=JST).timestamp()))
    live = LiveRecords(demo_config())
    full = console_data(ledger, demo_config(), facts, DEMO_NOW)
    assert full.leader is not None and full.leader.node == "hq-b"
    assert live.build(ledger, facts, DEMO_NOW).leader == full.leader
