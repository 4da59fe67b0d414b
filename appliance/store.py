"""The terminal's SQLite store: roll replica, journal, known voted flags, sync cursors.

All writes go through here (STYLE rule 10). A check-in and its journal entry are one
transaction (``atomic()``: ``BEGIN IMMEDIATE`` so that two processes on one terminal directory
serialise and can never fork the journal). WAL with ``synchronous=FULL``: a commit is fsynced
before ``atomic()`` returns, which is what lets us tell a poll worker a check-in happened.

Schema: every table comes from a migration, applied by sqlite-utils' ``Migrations`` (built into
sqlite-utils 4; the ``sqlite-migrate`` package is now a deprecated shim re-exporting it, so we
depend on sqlite-utils alone). It works on a SQLCipher connection as on a plain one; each applied
step is a row of ``_sqlite_migrations`` and ``PRAGMA user_version`` goes on counting them (one set
per file). Stores written before tracked a numbered list in ``user_version`` only:
``adopt_user_version`` records that many of the set's first steps as applied, once, so such a
store upgrades in place and keeps its rows. The set runs inside our own ``BEGIN IMMEDIATE``
(sqlite-utils nests a savepoint per step), so two processes opening a fresh store cannot both run
it. ``numbered(name, steps)`` makes a set from functions of a connection; HQ's stores can use the
same mechanism. Everything after the schema is raw sqlite3: the check-in path is hot and measured
(bench/), and one ``execute`` is what we want there.

At rest: a terminal's ``store.db`` is a SQLCipher file when its directory holds a sealed data key
(appliance/atrest.py). ``Store(path)`` finds that out by itself and takes the unlocked key from
the station's runtime directory, so every caller (CLI, sync agent, kiosk, roll installer) opens
an encrypted store exactly like a plain one; a closed station is refused with ``station_closed``.
SQLCipher's errors are not ``sqlite3.Error``: catch ``DB_ERRORS``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

from appliance import atrest
from appliance.dirs import TerminalDir
from ground.errors import StorageFailed

Migration = Callable[[sqlite3.Connection], None]  # one step, run inside the migration's transaction


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
    if path.name != "store.db" or not atrest.store_is_protected(path):
        return None
    return atrest.store_key(TerminalDir(path.parent))


def script(c: sqlite3.Connection, sql: str) -> None:
    """Run statements one by one (``executescript`` would commit the migration's transaction)."""
    for stmt in sql.split(";"):
        if stmt.strip():
            c.execute(stmt)


_script = script  # the name HQ's store and roll database import


def numbered(name: str, steps: Sequence[Migration]) -> Migrations:
    """A migration set of ``steps`` in order, step *i* named ``m{i:03d}_<function name>``. The order
    is the numbering of the ``PRAGMA user_version`` era, which ``adopt_user_version`` maps onto."""
    migrations = Migrations(name)
    for i, step in enumerate(steps, start=1):
        def run(db: sqlite_utils.Database, step: Migration = step) -> None:
            step(db.conn)
        migrations(name=f"m{i:03d}_{step.__name__.strip('_')}")(run)
    return migrations


def _roll_journal_voted(c: sqlite3.Connection) -> None:
    script(
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


def _kana_index(c: sqlite3.Connection) -> None:
    # Created after bulk loads by the roll installer; kept here so an empty store can search.
    c.execute("CREATE INDEX IF NOT EXISTS voters_kana ON voters(kana_key)")


def _procedures_tables(c: sqlite3.Connection) -> None:
    # The election-day procedures' tables (appliance/procedures/): the 在外選挙人 roll and HQ's
    # 不在者投票 notices. IF NOT EXISTS: stores written before this migration may already hold
    # them, created on first use by the procedures module itself.
    script(
        c,
        """
        CREATE TABLE IF NOT EXISTS zaigai_voters (
            zaigai_id TEXT PRIMARY KEY, card_no TEXT NOT NULL, name TEXT NOT NULL, kana TEXT NOT NULL,
            birth_date TEXT NOT NULL, sex TEXT NOT NULL, last_address TEXT NOT NULL, country TEXT NOT NULL,
            status TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS absentee_notices (
            voter_id TEXT NOT NULL, contest TEXT NOT NULL, state TEXT NOT NULL, hlc INTEGER NOT NULL,
            PRIMARY KEY (voter_id, contest)
        ) WITHOUT ROWID
        """
    )


# Append only: a step once shipped is never edited or reordered (stores out there recorded it).
MIGRATIONS: Migrations = numbered("meibo.terminal", [_roll_journal_voted, _kana_index, _procedures_tables])


def adopt_user_version(db: sqlite_utils.Database, migrations: Migrations) -> int:
    """A store from the ``PRAGMA user_version`` era: record its first ``user_version`` migrations
    as applied (they ran, under their numbers), once; returns how many were recorded."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version == 0 or migrations.applied(db):
        return 0
    migrations.ensure_migrations_table(db)
    done = [m.name for m in migrations.pending(db)][:version]
    table = db.table(Migrations.migrations_table)
    for name in done:
        table.insert({"migration_set": migrations.name, "name": name, "applied_at": f"user_version {version}"})
    return len(done)


def migrate(conn: sqlite3.Connection, migrations: Migrations | Sequence[Migration]) -> None:
    """Bring the schema up to date: nothing written when nothing is pending (every open reads only);
    otherwise adopt a ``user_version`` store and apply the rest, all in one ``BEGIN IMMEDIATE``."""
    if not isinstance(migrations, Migrations):
        migrations = numbered("meibo", migrations)
    # execute_plugins off: no third-party plugin touches an election store; recursive_triggers
    # left as SQLite has it (we have no triggers, and the connection must not change by migrating)
    db = sqlite_utils.Database(conn, execute_plugins=False, recursive_triggers=False)
    legacy = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if not migrations.pending(db) and not (legacy and not migrations.applied(db)):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        adopt_user_version(db, migrations)  # re-read under the lock: another process may have won
        migrations.apply(db)
        # still the count of applied steps: older code opening this file finds nothing to run, and
        # a set renamed later adopts them all
        conn.execute(f"PRAGMA user_version={len(migrations.applied(db))}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def connect(path: Path | str, *, migrations: Migrations | Sequence[Migration] = MIGRATIONS,
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
        migrate(conn, migrations)
    except DB_ERRORS as e:
        raise StorageFailed(f"データベースを開けません: {path} ({e})")
    return conn


class Store:
    """A SQLite file opened for durable writes (raw sqlite3 after the migrations: see the module)."""

    def __init__(self, path: Path | str, *, migrations: Migrations | Sequence[Migration] = MIGRATIONS,
                 key: StoreKey = AUTO) -> None:
        self.path = Path(path)
        self.encrypted = False
        k = _resolve_key(self.path, key)
        self.conn = connect(path, migrations=migrations, key=k)
        self.encrypted = k is not None
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
