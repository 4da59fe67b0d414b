"""The terminal's SQLite store: roll replica, journal, known voted flags, sync cursors.

All writes go through here (STYLE rule 10). A check-in and its journal entry are one
transaction (``atomic()``: ``BEGIN IMMEDIATE`` so that two processes on one terminal directory
serialise and can never fork the journal). WAL with ``synchronous=FULL``: a commit is fsynced
before ``atomic()`` returns, which is what lets us tell a poll worker a check-in happened.
Schema changes are numbered migrations tracked in ``PRAGMA user_version``.

At rest: a terminal's ``store.db`` is a SQLCipher file when its directory holds a sealed data key
(appliance/atrest.py). ``Store(path)`` finds that out by itself and takes the unlocked key from
the station's runtime directory, so every caller (CLI, sync agent, kiosk, roll installer) opens
an encrypted store exactly like a plain one; a closed station is refused with ``station_closed``.
SQLCipher's errors are not ``sqlite3.Error``: catch ``DB_ERRORS``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from ground.errors import StorageFailed

Migration = Callable[[sqlite3.Connection], None]


def _cipher_module() -> Any:
    from sqlcipher3 import dbapi2

    return dbapi2


def _db_errors() -> tuple[type[BaseException], ...]:
    try:
        return (sqlite3.Error, _cipher_module().Error)
    except ImportError:  # pragma: no cover - sqlcipher3-binary is a dependency
        return (sqlite3.Error,)


DB_ERRORS: tuple[type[BaseException], ...] = _db_errors()


class _Auto:
    """Sentinel: find the key from the store's directory (see module docstring)."""


AUTO = _Auto()
StoreKey = bytes | None | _Auto


def _resolve_key(path: Path, key: StoreKey) -> bytes | None:
    if not isinstance(key, _Auto):
        return key
    from appliance import atrest
    from appliance.dirs import TerminalDir

    if path.name != "store.db" or not atrest.store_is_protected(path):
        return None
    return atrest.store_key(TerminalDir(path.parent))


def _script(c: sqlite3.Connection, sql: str) -> None:
    """Run statements one by one (``executescript`` would commit the migration's transaction)."""
    for stmt in sql.split(";"):
        if stmt.strip():
            c.execute(stmt)


def _m1(c: sqlite3.Connection) -> None:
    _script(
        c,
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
        -- ballots this terminal knows were handed to a voter, per contest (own journal and
        -- HQ's stream of voted flags from every other terminal and 不在者投票)
        CREATE TABLE voted (
            voter_id TEXT NOT NULL, contest TEXT NOT NULL, terminal TEXT NOT NULL,
            station TEXT NOT NULL, hlc INTEGER NOT NULL, seq INTEGER NOT NULL,
            PRIMARY KEY (voter_id, contest)
        ) WITHOUT ROWID;
        """
    )


def _m2(c: sqlite3.Connection) -> None:
    # Created after bulk loads by the roll installer; kept here so an empty store can search.
    c.execute("CREATE INDEX IF NOT EXISTS voters_kana ON voters(kana_key)")


MIGRATIONS: list[Migration] = [_m1, _m2]


def connect(path: Path | str, *, migrations: list[Migration] = MIGRATIONS,
            key: bytes | None = None) -> sqlite3.Connection:
    """Open (creating if needed) a durable SQLite file and bring its schema up to date.

    With ``key`` the file is SQLCipher (AES-256, per-page HMAC; WAL encrypted too), keyed with the
    raw 256-bit data key (no passphrase KDF: the key is already random)."""
    try:
        if key is None:
            conn = sqlite3.connect(str(path), isolation_level=None, timeout=30.0, check_same_thread=False)
        else:
            if len(key) != 32:
                raise ValueError("data key must be 32 bytes")
            conn = _cipher_module().connect(str(path), isolation_level=None, timeout=30.0,
                                            check_same_thread=False)
            conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # wrong key fails here
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for i, m in enumerate(migrations[version:], start=version + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                m(conn)
                conn.execute(f"PRAGMA user_version={i}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    except DB_ERRORS as e:
        raise StorageFailed(f"データベースを開けません: {path} ({e})")
    return conn


class Store:
    """A SQLite file opened for durable writes. ``db`` is the sqlite-utils view of it."""

    def __init__(self, path: Path | str, *, migrations: list[Migration] = MIGRATIONS,
                 key: StoreKey = AUTO) -> None:
        self.path = Path(path)
        self.encrypted = False
        k = _resolve_key(self.path, key)
        self.conn = connect(path, migrations=migrations, key=k)
        self.encrypted = k is not None
        self.db = sqlite_utils.Database(self.conn)
        self._after_commit: dict[str, Callable[[], None]] = {}

    def after_commit(self, name: str, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the current ``atomic()`` block has committed (fsynced), never if it rolls
        back; a later ``fn`` under the same ``name`` replaces an earlier one (appliance/freshness.py
        records the journal head this way: after the commit, so it is never ahead of the file)."""
        if not self.conn.in_transaction:
            raise RuntimeError("Store.after_commit must run inside Store.atomic()")
        self._after_commit[name] = fn

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """One durable transaction: everything inside commits (fsynced) or nothing does."""
        self._after_commit.clear()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except DB_ERRORS as e:
            raise StorageFailed(f"記録を開始できません: {e}") from e
        try:
            yield self.conn
        except BaseException:
            self._after_commit.clear()
            self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except DB_ERRORS as e:
            # disk full / read-only: the transaction did not happen
            try:
                self.conn.execute("ROLLBACK")
            except DB_ERRORS:
                pass
            self._after_commit.clear()
            raise StorageFailed(f"記録を保存できませんでした（ディスクの空きや書き込み権限を確認してください）: {e}") from e
        hooks = list(self._after_commit.values())
        self._after_commit.clear()
        for fn in hooks:
            fn()

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, conn: sqlite3.Connection, key: str, value: str) -> None:
        """Set inside an ``atomic()`` block (pass its connection)."""
        conn.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                     (key, value))
