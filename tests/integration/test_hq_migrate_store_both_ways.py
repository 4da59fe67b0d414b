"""``meibo hq migrate-store`` on a real PostgreSQL server (tests/pg_fixtures.py): a day of HQ's
records (events, refusals, alarms, rollbacks, contacts, alert actions, 不在者 status, meta) goes
from hq.db into an empty PostgreSQL database and back into a fresh hq.db, every row the same, the
ledgers rebuilt on each side equal; the source is not changed; a target that holds any row is
refused with nothing written."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from appliance.dirs import HqDir
from ground.clock import FixedClock
from ground.model import TerminalId, VoterId
from hq.ledger import Alarm
from hq.migrate_store import NOT_COPIED, TABLES
from hq.screen import VOTER_UNKNOWN, Refusal
from hq.store import HqStore
from hq.terminals import hq_init
from tests.builders import EARLY_NOON, election_toml
from tests.security_helpers import meibo
from tests.unit.sync_protocol.reports_day import build

CLOCK = FixedClock(EARLY_NOON)


@pytest.fixture
def hq(tmp_path: Path) -> HqDir:
    """An HQ whose hq.db holds a day and a row in every table."""
    day = build()
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(), "utf-8")
    hq_init(tmp_path / "hq", cfg, CLOCK)
    terms = [{"terminal": t, "station": ts.station, "device_pub": "00" * 32, "revoked": False}
             for t, ts in day.ledger.terminals.items() if t != "HQ"]
    (tmp_path / "hq" / "terminals.json").write_text(json.dumps(terms), "utf-8")
    hq = HqDir(tmp_path / "hq")
    store = HqStore(hq, CLOCK, store_url="sqlite")
    try:
        first = day.events[0]
        store.commit(day.events, refusals=[Refusal(TerminalId(first.terminal), first.seq, VOTER_UNKNOWN,
                                                   VoterId("99"), ("shu",), "E01", "E02", 1, "c")])
        store.record_alarm(Alarm(TerminalId("TE1"), 3, "fork", "aa", "bb"))
        store.record_rollback(TerminalId("TE2"), 1, 4)
        store.touch(TerminalId("TD1"), "10.20.0.5", "4")
        store.set_alert_state(1, "investigating", "山田", "2027-04-25T10:00:00+09:00", "確認中")
        store.db.set_meta("note", "本部")
        with store.store.atomic() as c:
            c.execute("INSERT INTO absentee_status(voter, contest, state, at, who, note) VALUES(?,?,?,?,?,?)",
                      ("22", "shu", "requested", "2027-04-20T09:00:00+09:00", "窓口", ""))
    finally:
        store.close()
    return hq


def sqlite_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    c = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {t.name: c.execute(f"SELECT {', '.join(t.columns)} FROM {t.name} ORDER BY {t.key}").fetchall()
                for t in TABLES}
    finally:
        c.close()


def pg_rows(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(dsn) as c:
        return {t.name: [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in
                         c.execute(f"SELECT {', '.join(t.columns)} FROM {t.name} ORDER BY {t.key}").fetchall()]
                for t in TABLES}


def test_sqlite_to_postgresql_and_back_gives_every_row_and_the_same_ledger(
        hq: HqDir, pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = sqlite_rows(hq.hq_db)
    assert all(before.values()), {k: len(v) for k, v in before.items()}  # a row in every table

    rc, out = meibo(monkeypatch, capsys, "hq", "migrate-store", str(hq.root), "--from", "sqlite", "--to", pg_database)
    assert rc == 0, out
    assert {k: t["rows"] for k, t in out["tables"].items()} == {k: len(v) for k, v in before.items()}
    assert out["ledger"]["events"] == len(before["events"]) and out["ledger"]["flags"] > 0
    assert pg_rows(pg_database) == before
    assert sqlite_rows(hq.hq_db) == before  # the source changed nothing

    # the sequences went on: HQ on PostgreSQL adds the next row after the copied ones
    store = HqStore(hq, CLOCK, store_url=pg_database)
    try:
        store.record_rollback(TerminalId("TE1"), 2, 3)
        assert [r[0] for r in pg_rows(pg_database)["rollbacks"]] == [1, 2]
    finally:
        store.close()
    with psycopg.connect(pg_database) as c:
        c.execute("DELETE FROM rollbacks WHERE id = 2")

    back = HqDir(tmp_path / "hq2")
    shutil.copytree(hq.root, back.root, ignore=shutil.ignore_patterns("hq.db*"))
    rc, out2 = meibo(monkeypatch, capsys, "hq", "migrate-store", str(back.root), "--from", pg_database, "--to", "sqlite")
    assert rc == 0, out2
    assert sqlite_rows(back.hq_db) == before
    assert out2["ledger"] == out["ledger"] and out2["events_sha256"] == out["events_sha256"]


def test_a_target_holding_rows_is_refused_and_nothing_is_written(
        hq: HqDir, pg_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    store = HqStore(hq, CLOCK, store_url=pg_database)
    try:
        store.touch(TerminalId("T99"), "10.20.0.9", None)  # one row, in contacts
    finally:
        store.close()
    before = pg_rows(pg_database)
    rc, out = meibo(monkeypatch, capsys, "hq", "migrate-store", str(hq.root), "--from", "sqlite", "--to", pg_database)
    assert rc == 2 and out["code"] == "store_target_not_empty" and "contacts" in out["message"]
    assert pg_rows(pg_database) == before

    rc, out = meibo(monkeypatch, capsys, "hq", "migrate-store", str(hq.root), "--from", pg_database, "--to", "sqlite")
    assert rc == 2 and out["code"] == "store_target_not_empty"  # hq.db holds the day


def test_an_empty_source_copies_nothing_and_changes_nothing(
        tmp_path: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(), "utf-8")
    hq_init(tmp_path / "hq", cfg, CLOCK)
    hq = HqDir(tmp_path / "hq")
    rc, out = meibo(monkeypatch, capsys, "hq", "migrate-store", str(hq.root), "--from", "sqlite", "--to", pg_database)
    assert rc == 2 and out["code"] == "store_source_missing" and not hq.hq_db.exists()
    HqStore(hq, CLOCK, store_url="sqlite").close()  # hq.db as the first hq serve makes it: no row
    rc, out = meibo(monkeypatch, capsys, "hq", "migrate-store", str(hq.root), "--from", "sqlite", "--to", pg_database)
    assert rc == 0, out
    assert all(t["rows"] == 0 for t in out["tables"].values()) and out["ledger"]["flags"] == 0
    assert not any(pg_rows(pg_database).values())


def test_the_same_store_on_both_sides_is_refused(
        hq: HqDir, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    before = sqlite_rows(hq.hq_db)
    rc, out = meibo(monkeypatch, capsys, "hq", "migrate-store", str(hq.root), "--from", "sqlite", "--to", "sqlite")
    assert rc == 2 and out["code"] == "store_same"
    assert sqlite_rows(hq.hq_db) == before


def test_every_table_of_both_schemas_is_copied_or_named_as_not_hqs_records(hq: HqDir, pg_database: str) -> None:
    HqStore(hq, CLOCK, store_url=pg_database).close()  # PostgreSQL's schema, made by its migrations
    c = sqlite3.connect(f"file:{hq.hq_db}?mode=ro", uri=True)
    try:
        in_sqlite = {n for (n,) in c.execute("SELECT name FROM sqlite_master WHERE type='table'")
                     if not n.startswith(("sqlite_", "_sqlite_"))}
    finally:
        c.close()
    with psycopg.connect(pg_database) as pc:
        in_pg = {n for (n,) in pc.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")} - {
            "schema_migrations"}
    copied = {t.name for t in TABLES}
    assert in_sqlite == in_pg == copied | NOT_COPIED  # a new table must be copied or named here
