"""HQ-side rehearsal tests' helpers: a terminal in test mode as HQ sees it, built from what is
committed (the interface with the terminal side, ground/rehearsal.py): the terminal's own
certificate and device key, a journal and HELLO for ``rehearsal_id(election)``, its own store
holding the test voters. The terminal side's own test area (appliance/rehearsal.py) makes the
same thing with its generated テスト roll; here the voters are sync_env's, so that the same voter
ids can be checked at both stations.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

from appliance import journal
from appliance.dirs import TerminalDir, TerminalIdentity
from appliance.store import Store
from appliance.terminal import Terminal
from ground.config import load_config
from ground.rehearsal import rehearsal_id
from sync_protocol.client import SyncAgent, SyncSettings
from tests.builders import insert_voters
from tests.integration.sync_env import VOTERS, Env

AREA = "hq-test-area"


def terminal_in_test_mode(env: Env, tid: str) -> Terminal:
    """``tid`` in test mode: a store of its own under TDIR/hq-test-area, for the rehearsal's id."""
    real = env.terminals[tid]
    area = TerminalDir(real.root / AREA)
    cfg = load_config(real.config_path)
    rid = rehearsal_id(cfg.election_id)
    if not area.store_path.exists():
        ident = real.identity()
        area.root.mkdir(parents=True)
        area.write_identity(TerminalIdentity(ident.terminal_id, ident.station_id, rid, ident.hq_address))
        store = Store(area.store_path, key=None)
        try:
            journal.init(store, rid, ident.terminal_id)
            insert_voters(store, VOTERS)
        finally:
            store.close()
    return Terminal(area, env.clock, config=dataclasses.replace(cfg, election_id=rid))


def agent_in_test_mode(env: Env, tid: str, budget: float = 1.5) -> SyncAgent:
    """The sync agent of ``tid`` in test mode: its real certificate and key, the test store."""
    return SyncAgent(env.terminals[tid], terminal_in_test_mode(env, tid),
                     SyncSettings(verdict_budget_s=budget, backoff_initial_s=0.05, backoff_max_s=0.2))


def table_rows(db: Path) -> dict[str, Any]:
    """Every row of every table of an SQLite file, read-only (the real store before and after)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {n: sorted(map(repr, conn.execute(f'SELECT * FROM "{n}"').fetchall())) for n in names}
    finally:
        conn.close()
