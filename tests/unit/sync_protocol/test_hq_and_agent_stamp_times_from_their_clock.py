"""HQ's store and the terminal's sync agent take the time from the clock they are given
(STYLE rule 6), not from the machine's: HQ's received_at, contacts, alarms and rollbacks, and
the agent's last contact with HQ, are all the injected clock's."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from ground.clock import JST, FixedClock
from ground.events import Event, EventKind
from ground.model import TerminalId
from hq.ledger import Alarm
from hq.store import HqStore
from hq.terminals import hq_init
from appliance.dirs import HqDir
from sync_protocol.client import META_LAST_SYNC
from sync_protocol.session import LinkActions
from tests.builders import EARLY_NOON, election_toml
from tests.integration.sync_env import make_env

LONG_AGO = datetime(2001, 2, 3, 4, 5, 6, tzinfo=JST)  # far from the machine's clock


def test_hq_store_stamps_rows_with_its_clock(tmp_path: Path) -> None:
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(), "utf-8")
    hq = HqDir(tmp_path / "hq")
    hq_init(hq.root, cfg, FixedClock(EARLY_NOON))
    store = HqStore(hq, FixedClock(LONG_AGO))
    at = LONG_AGO.timestamp()
    try:
        store.touch("T01", "10.0.0.5")
        ev = Event(EventKind.STATION, 1, 1, TerminalId("T01"), {"station": "E01"})
        store.commit([ev])
        store.record_alarm(Alarm("T01", 1, "changed_event", "aa", "bb"))
        store.record_rollback("T01", 3, 5)
        assert store.contacts()["T01"][0] == at
        conn = store.store.conn
        assert conn.execute("SELECT received_at FROM events").fetchone()[0] == at
        assert conn.execute("SELECT at FROM alarms").fetchone()[0] == at
        assert store.rollbacks() == [("T01", 3, 5, at)]
    finally:
        store.close()


def test_sync_agent_records_last_contact_with_its_clock(tmp_path: Path) -> None:
    env = make_env(tmp_path, {"T01": "E01"})
    agent = env.agent("T01", clock=FixedClock(LONG_AGO))
    try:
        asyncio.run(agent._act(LinkActions(acked_seq=0)))
        assert float(agent.store.get_meta(META_LAST_SYNC) or 0) == LONG_AGO.timestamp()
    finally:
        agent.term.close()
