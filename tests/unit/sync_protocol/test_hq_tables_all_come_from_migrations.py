"""Every table and index of HQ's hq.db comes from the numbered migration list (hq/store.py
``MIGRATIONS``): a day of use (events, alarms, contacts, rollbacks, 不在者投票 status through
the CLI, reports) leaves the schema exactly as the migrations made it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from appliance.store import Store
from cli.main import main
from hq.ledger import Alarm
from hq.store import MIGRATIONS, HqStore
from tests.unit.sync_protocol.hq_day_dir import hq_with_day


def _schema(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    return {(str(t), str(n)) for t, n in conn.execute(
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}


def test_a_day_of_use_adds_no_table_to_what_the_migrations_made(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    fresh = Store(tmp_path / "fresh.db", migrations=MIGRATIONS)
    try:
        migrated = _schema(fresh.conn)
    finally:
        fresh.close()
    assert ("table", "absentee_status") in migrated and ("index", "absentee_status_voter") in migrated

    (tmp_path / "day").mkdir()
    hq, _ = hq_with_day(tmp_path / "day")
    store = HqStore(hq)
    try:
        store.touch("T01", "10.0.0.5")
        store.record_alarm(Alarm("T01", 1, "changed_event", "aa", "bb"))
        store.record_rollback("T01", 3, 5)
    finally:
        store.close()
    base = ["hq", "absentee-status", str(hq.root), "30", "--contest", "shu", "--who", "選管 山本",
            "--now", "2027-04-18T10:00", "--json"]
    assert main(base + ["--state", "requested"]) == 0
    for what in ("reconcile", "age"):
        assert main(["hq", "reports", str(hq.root), "--what", what, "--format", "json"]) in (0, 1)
    capsys.readouterr()
    conn = sqlite3.connect(hq.hq_db)
    try:
        assert _schema(conn) == migrated
    finally:
        conn.close()
