"""A terminal store written by the ``PRAGMA user_version`` era's code upgrades in place (issue 17).

Before the store used sqlite-utils' migrations it ran a numbered list and counted it in
``user_version``; the procedures' tables were created on first use outside any migration. Such a
store, plain or SQLCipher, must open with today's code, keep every row, gain the tables it lacks
and record the old steps as applied without running them again."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from sqlcipher3 import dbapi2

from appliance.store import MIGRATIONS, Store, numbered
from ground.errors import StorageFailed

# The schema as the user_version era wrote it (frozen copy: this test is about old files).
OLD_STEPS = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE voters (
        voter_id TEXT PRIMARY KEY, district INTEGER NOT NULL, name TEXT NOT NULL,
        kana TEXT NOT NULL, kana_key TEXT NOT NULL, birth_date TEXT NOT NULL,
        sex TEXT NOT NULL, address TEXT NOT NULL, status TEXT NOT NULL,
        display_reason TEXT, moved_on TEXT, moved_within_pref INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE journal (
        seq INTEGER PRIMARY KEY, hlc INTEGER NOT NULL, kind TEXT NOT NULL,
        body BLOB NOT NULL, hash BLOB NOT NULL
    );
    CREATE TABLE voted (
        voter_id TEXT NOT NULL, contest TEXT NOT NULL, terminal TEXT NOT NULL,
        station TEXT NOT NULL, hlc INTEGER NOT NULL, seq INTEGER NOT NULL,
        PRIMARY KEY (voter_id, contest)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS voters_kana ON voters(kana_key)",
]
OLD_ENSURE_SCHEMA = """
    CREATE TABLE IF NOT EXISTS absentee_notices (
        voter_id TEXT NOT NULL, contest TEXT NOT NULL, state TEXT NOT NULL, hlc INTEGER NOT NULL,
        PRIMARY KEY (voter_id, contest)
    ) WITHOUT ROWID
"""
ROWS = {
    "meta": [("election_id", "yokohama-2027"), ("roll_version", "3")],
    "voters": [("V1", 1, "山田 太郎", "ヤマダ タロウ", "ヤマダタロウ", "1980-04-01", "M", "横浜市", "registered",
                None, None, None)],
    "journal": [(1, 111, "checkin", b"body", b"h" * 32)],
    "voted": [("V1", "mayor", "T1", "S1", 111, 1)],
}


def _old_store(path: Path, key: bytes | None, *, procedures_used: bool) -> None:
    conn: Any = sqlite3.connect(str(path)) if key is None else dbapi2.connect(str(path))
    if key is not None:
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    for i, sql in enumerate(OLD_STEPS, start=1):
        for stmt in sql.split(";"):
            conn.execute(stmt)
        conn.execute(f"PRAGMA user_version={i}")
    for table, rows in ROWS.items():
        conn.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)
    if procedures_used:  # the old ensure_schema, run by a 不在者投票 notice
        conn.execute(OLD_ENSURE_SCHEMA)
        conn.execute("INSERT INTO absentee_notices VALUES ('V1', 'mayor', 'issued', 5)")
    conn.commit()
    conn.close()


def _tables(store: Store) -> set[str]:
    return {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@pytest.mark.parametrize("encrypted", [False, True])
@pytest.mark.parametrize("procedures_used", [False, True])
def test_old_store_upgrades_and_keeps_its_rows(tmp_path: Path, encrypted: bool, procedures_used: bool) -> None:
    key = os.urandom(32) if encrypted else None
    path = tmp_path / "old.db"
    _old_store(path, key, procedures_used=procedures_used)
    store = Store(path, key=key)
    try:
        for table, rows in ROWS.items():
            assert store.conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall() == rows
        assert {"zaigai_voters", "absentee_notices"} <= _tables(store)
        notices = store.conn.execute("SELECT voter_id, state FROM absentee_notices").fetchall()
        assert notices == ([("V1", "issued")] if procedures_used else [])
        applied = store.conn.execute("SELECT name, applied_at FROM _sqlite_migrations ORDER BY id").fetchall()
        assert [n for n, _ in applied] == ["m001_roll_journal_voted", "m002_kana_index", "m003_procedures_tables"]
        assert [a for _, a in applied[:2]] == ["user_version 2", "user_version 2"]  # adopted, not run again
        assert store.encrypted is encrypted
    finally:
        store.close()
    again = Store(path, key=key)  # a second open finds nothing to do
    try:
        assert again.conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == 3
        assert again.conn.execute("PRAGMA user_version").fetchone()[0] == 3
    finally:
        again.close()


def test_fresh_store_gets_every_table_from_the_migrations(tmp_path: Path) -> None:
    store = Store(tmp_path / "new.db", key=None)
    try:
        assert _tables(store) == {"_sqlite_migrations", "meta", "voters", "journal", "voted", "zaigai_voters",
                                  "absentee_notices"}
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == 3  # still counts the steps
    finally:
        store.close()


def test_no_table_is_created_outside_the_migrations() -> None:
    root = Path(__file__).resolve().parents[3] / "appliance"
    creators = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                      if re.search(r"CREATE\s+TABLE", p.read_text("utf-8"), re.IGNORECASE))
    assert creators == ["store.py"]


def test_a_failing_migration_leaves_nothing_and_runs_again_next_open(tmp_path: Path) -> None:
    calls: list[str] = []

    def good(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE a (x)")

    def bad(c: sqlite3.Connection) -> None:
        calls.append("bad")
        c.execute("CREATE TABLE b (x)")
        raise sqlite3.OperationalError("disk on fire")

    path = tmp_path / "x.db"
    with pytest.raises(StorageFailed):
        Store(path, key=None, migrations=numbered("t", [good, bad]))
    db = sqlite_utils.Database(sqlite3.connect(str(path)))
    assert db.table_names() == []  # all or nothing: the good step rolled back with the bad one
    db.conn.close()
    store = Store(path, key=None, migrations=numbered("t", [good]))
    try:
        assert "a" in _tables(store)
    finally:
        store.close()
    assert calls == ["bad"]


def test_the_terminal_set_is_named_and_append_only() -> None:
    assert MIGRATIONS.name == "meibo.terminal"
    names = [m.name for m in MIGRATIONS.pending(sqlite_utils.Database(memory=True))]
    assert names[:3] == ["m001_roll_journal_voted", "m002_kana_index", "m003_procedures_tables"]
