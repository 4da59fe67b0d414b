"""HQ's store on SQLite: HQDIR/hq.db through the terminal's ``Store`` (WAL, ``synchronous=FULL``,
``BEGIN IMMEDIATE``; plain sqlite3, never SQLCipher: HQ's disk is protected by its machine). The
default backend, and the SQL HQ has always run (store_db.py says what every backend promises).

The schema is the numbered list ``MIGRATIONS`` (append only); the PostgreSQL backend has its own
list making the same tables (store_pg.py).

Layer: hq. Never imports the screens, the CLI or the tooling (lint-imports checks it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Sequence
from pathlib import Path

from appliance.store import Migration, Store, _script
from hq.store_db import AbsenteeRow, AlarmRow, Backend, ChangeRow, EventAlreadyStored, EventRow, Leader, RefusalRow


def _m1(c: sqlite3.Connection) -> None:
    _script(c, """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE events (
            hq_order INTEGER PRIMARY KEY, terminal TEXT NOT NULL, seq INTEGER NOT NULL,
            hlc INTEGER NOT NULL, kind TEXT NOT NULL, body BLOB NOT NULL, received_at REAL NOT NULL,
            UNIQUE (terminal, seq)
        );
        CREATE TABLE alarms (
            id INTEGER PRIMARY KEY, terminal TEXT NOT NULL, seq INTEGER NOT NULL, reason TEXT NOT NULL,
            held_hash TEXT NOT NULL, offered_hash TEXT NOT NULL, at REAL NOT NULL, cleared_by TEXT
        );
        CREATE TABLE alert_actions (
            id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL, state TEXT NOT NULL,
            who TEXT NOT NULL, at TEXT NOT NULL, note TEXT NOT NULL
        );
        CREATE TABLE contacts (
            terminal TEXT PRIMARY KEY, last_contact REAL NOT NULL, peer TEXT, signal TEXT
        )
    """)


def _m2(c: sqlite3.Connection) -> None:
    # 不在者投票 status per voter and contest (hq/procedures.py reads and writes it). IF NOT EXISTS:
    # before this migration existed the table was made on first use, so an older hq.db has it
    c.execute("""CREATE TABLE IF NOT EXISTS absentee_status (
        id INTEGER PRIMARY KEY, voter TEXT NOT NULL, contest TEXT NOT NULL, state TEXT NOT NULL,
        at TEXT NOT NULL, who TEXT NOT NULL, note TEXT NOT NULL)""")
    c.execute("CREATE INDEX IF NOT EXISTS absentee_status_voter ON absentee_status(voter, contest, id)")


def _m3(c: sqlite3.Connection) -> None:
    # HQ's decision on a check-in it did not count (screen.py), written with the event in one
    # transaction: replay reuses it, so a roll republished later never changes a verdict
    _script(c, """
        CREATE TABLE refusals (
            terminal TEXT NOT NULL, seq INTEGER NOT NULL, code TEXT NOT NULL, body TEXT NOT NULL,
            PRIMARY KEY (terminal, seq, code)
        ) WITHOUT ROWID
    """)


def _m4(c: sqlite3.Connection) -> None:
    # a terminal came back holding acknowledged events HQ lacks: HQ went back in time (restored
    # from a backup, a lost disk cache); what the console shows in red until the end
    _script(c, """
        CREATE TABLE rollbacks (
            id INTEGER PRIMARY KEY, terminal TEXT NOT NULL, hq_acked INTEGER NOT NULL,
            terminal_acked INTEGER NOT NULL, at REAL NOT NULL
        )
    """)


def _m5(c: sqlite3.Connection) -> None:
    # who leads (store_db.py): on hq.db one HQ per file, so the row only answers leader()
    _script(c, """
        CREATE TABLE leadership (
            id INTEGER PRIMARY KEY CHECK (id = 1), epoch INTEGER NOT NULL, node TEXT NOT NULL,
            since REAL NOT NULL
        );
        INSERT INTO leadership(id, epoch, node, since) VALUES (1, 0, '', 0)
    """)


def _m6(c: sqlite3.Connection) -> None:
    # the files HQ nodes share through PostgreSQL (hq/shared_files.py); on hq.db (one node) it
    # stays empty, and is here so both backends make the same tables (tests/contracts)
    _script(c, """
        CREATE TABLE hq_files (
            name TEXT PRIMARY KEY, sha256 TEXT NOT NULL, body BLOB NOT NULL, written_at REAL NOT NULL,
            node TEXT NOT NULL, generation INTEGER NOT NULL
        )
    """)


# Every table of hq.db comes from this list, in order (none is created elsewhere); append only.
MIGRATIONS: list[Migration] = [_m1, _m2, _m3, _m4, _m5, _m6]


class SqliteHqDb:
    """hq.db. ``store`` is the open ``Store``: code that still runs its own SQL on hq.db
    (procedures, roll, the console) reaches it through ``HqStore.store``."""

    backend: Backend = "sqlite"

    def __init__(self, path: Path) -> None:
        self.store = Store(path, migrations=MIGRATIONS)

    def close(self) -> None:
        self.store.close()

    def commit(self, events: Sequence[EventRow], refusals: Sequence[RefusalRow]) -> None:
        try:
            with self.store.atomic() as c:
                c.executemany("INSERT INTO events(terminal, seq, hlc, kind, body, received_at) VALUES(?,?,?,?,?,?)",
                              events)
                if refusals:
                    c.executemany("INSERT OR REPLACE INTO refusals(terminal, seq, code, body) VALUES(?,?,?,?)",
                                  refusals)
        except sqlite3.IntegrityError as e:  # UNIQUE (terminal, seq): rolled back, nothing written
            raise EventAlreadyStored(f"同じ受付記録がすでに保存されています: {e}") from e

    def bodies(self, chunk: int) -> Generator[list[bytes], None, None]:
        cur = self.store.conn.execute("SELECT body FROM events ORDER BY hq_order")
        while True:
            bodies = [body for (body,) in cur.fetchmany(chunk)]
            if not bodies:
                return
            yield bodies

    def refusals(self) -> list[tuple[str, int, str]]:
        return self.store.conn.execute("SELECT terminal, seq, body FROM refusals").fetchall()

    def open_alarms(self) -> list[AlarmRow]:
        return self.store.conn.execute(
            "SELECT terminal, seq, reason, held_hash, offered_hash FROM alarms WHERE cleared_by IS NULL").fetchall()

    def record_alarm(self, alarm: AlarmRow, at: float) -> None:
        with self.store.atomic() as c:
            c.execute("INSERT INTO alarms(terminal, seq, reason, held_hash, offered_hash, at) VALUES(?,?,?,?,?,?)",
                      (*alarm, at))

    def record_rollback(self, terminal: str, hq_acked: int, terminal_acked: int, at: float) -> None:
        with self.store.atomic() as c:
            c.execute("INSERT INTO rollbacks(terminal, hq_acked, terminal_acked, at) VALUES(?,?,?,?)",
                      (terminal, hq_acked, terminal_acked, at))

    def rollbacks(self) -> list[tuple[str, int, int, float]]:
        return self.store.conn.execute(
            "SELECT terminal, hq_acked, terminal_acked, at FROM rollbacks ORDER BY id").fetchall()

    def touch(self, terminal: str, at: float, peer: str, signal: str | None) -> None:
        with self.store.atomic() as c:
            c.execute("INSERT INTO contacts(terminal, last_contact, peer, signal) VALUES(?,?,?,?) "
                      "ON CONFLICT(terminal) DO UPDATE SET last_contact=excluded.last_contact, peer=excluded.peer, "
                      "signal=COALESCE(excluded.signal, contacts.signal)", (terminal, at, peer, signal))

    def contacts(self) -> list[tuple[str, float, str, str | None]]:
        return self.store.conn.execute("SELECT terminal, last_contact, peer, signal FROM contacts").fetchall()

    def add_alert_action(self, alert_id: int, state: str, who: str, at: str, note: str) -> None:
        with self.store.atomic() as c:
            c.execute("INSERT INTO alert_actions(alert_id, state, who, at, note) VALUES(?,?,?,?,?)",
                      (alert_id, state, who, at, note))

    def alert_actions(self) -> list[tuple[int, str, str, str, str]]:
        return self.store.conn.execute("SELECT alert_id, state, who, at, note FROM alert_actions ORDER BY id").fetchall()

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        return self.store.get_meta(key, default)

    def set_meta(self, key: str, value: str) -> None:
        with self.store.atomic() as c:
            self.store.set_meta(c, key, value)

    def claim(self, node: str, at: float, floor: int = 0) -> Leader:
        """Recorded for ``leader()``; no fence: one HQ per hq.db (the file is this machine's).
        Above ``floor`` as on PostgreSQL (store_db.py)."""
        with self.store.atomic() as c:
            c.execute("UPDATE leadership SET epoch = max(epoch, ?) + 1, node = ?, since = ? WHERE id = 1",
                      (floor, node, at))
        return self.leader()

    def check_fence(self) -> None:
        """No fence on hq.db (``claim``)."""

    def leader(self) -> Leader:
        row = self.store.conn.execute("SELECT node, epoch, since FROM leadership WHERE id = 1").fetchone()
        return Leader(str(row[0]), int(row[1]), float(row[2])) if row else Leader("", 0, 0.0)

    # --- reads for the offline commands and the console (the SQL they ran on hq.db before) ----
    def absentee_rows(self, voter: str | None = None) -> list[AbsenteeRow]:
        q = "SELECT id, voter, contest, state, at, who, note FROM absentee_status"
        return self.store.conn.execute(q + (" WHERE voter=?" if voter else "") + " ORDER BY id",
                                       (voter,) if voter else ()).fetchall()

    def add_absentee_status(self, voter: str, contest: str, state: str, at: str, who: str, note: str) -> None:
        with self.store.atomic() as c:
            c.execute("INSERT INTO absentee_status(voter, contest, state, at, who, note) VALUES(?,?,?,?,?,?)",
                      (voter, contest, state, at, who, note))

    def bodies_of_kinds(self, kinds: Sequence[str]) -> list[bytes]:
        q = ",".join("?" * len(kinds))
        return [bytes(b) for (b,) in self.store.conn.execute(
            f"SELECT body FROM events WHERE kind IN ({q}) ORDER BY hq_order", tuple(kinds))]

    def events_after(self, after: int, limit: int) -> list[tuple[int, str, bytes]]:
        return self.store.conn.execute(
            "SELECT hq_order, terminal, body FROM events WHERE hq_order > ? ORDER BY hq_order LIMIT ?",
            (after, limit)).fetchall()

    def changes_after(self, after: int, limit: int, body_kinds: Sequence[str]) -> list[ChangeRow]:
        return changes_after(self.store.conn, after, limit, body_kinds)


def changes_after(conn: sqlite3.Connection, after: int, limit: int, body_kinds: Sequence[str]) -> list[ChangeRow]:
    """Events after ``after`` in ``hq_order``, bodies only of ``body_kinds`` (on any connection
    to hq.db: the console reads on a read-only one of its own)."""
    q = ",".join("?" * len(body_kinds))
    return conn.execute(f"SELECT hq_order, terminal, seq, hlc, kind, CASE WHEN kind IN ({q}) THEN body END "
                        "FROM events WHERE hq_order > ? ORDER BY hq_order LIMIT ?",
                        (*body_kinds, after, limit)).fetchall()
