"""HQ's store on PostgreSQL through psycopg 3 (store_db.py says what every backend promises).

The same tables as hq.db, made by their own numbered migrations (``PG_MIGRATIONS``; each applied
step is a row of ``schema_migrations``; append only), all pending steps in one transaction under
an advisory lock, so two HQ processes starting at once cannot both run them and a failed step
leaves nothing. Bodies are ``bytea``; times are ``double precision`` seconds, as hq.db's REAL.

Durability: the session sets ``synchronous_commit = on``, so a COMMIT returns only once the WAL
is flushed on the primary and, where the server names a synchronous standby, on it too: only
then may HQ acknowledge. Events go in by a binary ``COPY`` (one round trip for the batch); a duplicate
(terminal, seq) fails the whole transaction, as SQLite's UNIQUE does.

The connection is autocommit and every write is an explicit ``transaction()``. A lost server
raises ``StoreUnreachable`` (for a commit: its outcome is unknown, so HQ reloads its ledger from
what the store holds, as after any failed commit); the next call connects again, which with a
multi-host DSN and ``target_session_attrs=read-write`` finds the new primary. One lock keeps a
read from another thread out of a write's transaction.

Leadership (store_db.py): ``claim`` bumps the one ``leadership`` row; once claimed, every write
transaction first reads that row ``FOR SHARE`` (``_fenced``) and raises ``Fenced`` inside the
transaction, so it rolls back, when the epoch is no longer ours. A reconnect keeps the epoch.
A claim never produces an epoch at or below one this process has seen (``seen_epoch``): a DBA's
plain ``pg_restore`` of an old dump puts an old, lower epoch back (docs/backup-pg.md), and the
next claim must still fence every node that led before.

Every connection carries libpq's TCP keepalives (``KEEPALIVES``, ``with_keepalives``; the lead
lock's in standby.py too): a database machine that vanished without a FIN is noticed in seconds.

The shared files (``hq_files``, migration 6): the HQ directory's files that change during the
election, one row each, written and read by hq/shared_files.py through ``PgFileRows`` on a
connection of its own (a large roll.db must not hold up the commits of verdicts).

Layer: hq. Never imports the screens, the CLI or the tooling (the test servers live in tooling/pgcluster.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ground.errors import StorageFailed
from hq.store_db import (AbsenteeRow, AlarmRow, Backend, ChangeRow, EventAlreadyStored, EventRow, Fenced, Leader,
                         RefusalRow, StoreUnreachable, StoreUrlInvalid, redact)

_EVENT_TYPES = ["text", "int8", "int8", "text", "bytea", "float8"]  # the COPY's columns, in order
CONNECT_TIMEOUT_S = 5  # libpq waits forever by default; a store HQ cannot reach must say so
_MIGRATION_LOCK = 0x6D6569626F  # pg_advisory_xact_lock key: "meibo"

PgMigration = Callable[[psycopg.Connection[Any]], None]


# libpq's client-side TCP keepalives: a silent server is given up after ~5 + 3 x 2 s idle, or
# 10 s of unacknowledged sends (tcp_user_timeout, ms)
KEEPALIVES: dict[str, int] = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                              "keepalives_count": 3, "tcp_user_timeout": 10_000}
# the server's side of the same session (PostgreSQL settings any user may SET): a dead leader's
# lock is released within ~15 s (standby.py's LeadLock sets them)
SERVER_KEEPALIVES: dict[str, int] = {"tcp_keepalives_idle": 5, "tcp_keepalives_interval": 2,
                                     "tcp_keepalives_count": 3, "tcp_user_timeout": 10_000}


def with_keepalives(dsn: str) -> str:
    """The DSN with ``KEEPALIVES`` (and a connect timeout) added where it sets none of its own:
    a DBA's own values in the DSN win."""
    params = conninfo_to_dict(dsn)
    extra: dict[str, int] = {k: v for k, v in KEEPALIVES.items() if k not in params}
    if "connect_timeout" not in params:
        extra["connect_timeout"] = CONNECT_TIMEOUT_S
    return make_conninfo(dsn, **extra) if extra else dsn


def _run(c: psycopg.Connection[Any], sql: str) -> None:
    for stmt in sql.split(";"):
        if stmt.strip():
            c.execute(stmt)


def _m1(c: psycopg.Connection[Any]) -> None:
    _run(c, """
        CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
        CREATE TABLE events (
            hq_order bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, terminal text NOT NULL,
            seq bigint NOT NULL, hlc bigint NOT NULL, kind text NOT NULL, body bytea NOT NULL,
            received_at double precision NOT NULL, UNIQUE (terminal, seq)
        );
        CREATE TABLE alarms (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, terminal text NOT NULL, seq bigint NOT NULL,
            reason text NOT NULL, held_hash text NOT NULL, offered_hash text NOT NULL,
            at double precision NOT NULL, cleared_by text
        );
        CREATE TABLE alert_actions (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, alert_id bigint NOT NULL, state text NOT NULL,
            who text NOT NULL, at text NOT NULL, note text NOT NULL
        );
        CREATE TABLE contacts (
            terminal text PRIMARY KEY, last_contact double precision NOT NULL, peer text, signal text
        )
    """)


def _m2(c: psycopg.Connection[Any]) -> None:
    # 不在者投票 status (hq/procedures.py; still SQL on hq.db only, see HqStore.store)
    _run(c, """
        CREATE TABLE absentee_status (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, voter text NOT NULL, contest text NOT NULL,
            state text NOT NULL, at text NOT NULL, who text NOT NULL, note text NOT NULL
        );
        CREATE INDEX absentee_status_voter ON absentee_status(voter, contest, id)
    """)


def _m3(c: psycopg.Connection[Any]) -> None:
    c.execute("""CREATE TABLE refusals (
        terminal text NOT NULL, seq bigint NOT NULL, code text NOT NULL, body text NOT NULL,
        PRIMARY KEY (terminal, seq, code))""")


def _m4(c: psycopg.Connection[Any]) -> None:
    c.execute("""CREATE TABLE rollbacks (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, terminal text NOT NULL, hq_acked bigint NOT NULL,
        terminal_acked bigint NOT NULL, at double precision NOT NULL)""")


def _m5(c: psycopg.Connection[Any]) -> None:
    # the leadership fence (store_db.py): one row, epoch 0 until the first HQ claims it
    _run(c, """
        CREATE TABLE leadership (
            id integer PRIMARY KEY CHECK (id = 1), epoch bigint NOT NULL, node text NOT NULL,
            since double precision NOT NULL
        );
        INSERT INTO leadership(id, epoch, node, since) VALUES (1, 0, '', 0)
    """)


def _m6(c: psycopg.Connection[Any]) -> None:
    # the HQ directory's changing files shared between HQ nodes (hq/shared_files.py): one row per
    # file, its SHA-256 (hex) checked before a node writes the body; generation from one sequence,
    # so "newer" is one number across every file
    _run(c, """
        CREATE SEQUENCE hq_files_generation;
        CREATE TABLE hq_files (
            name text PRIMARY KEY, sha256 text NOT NULL, body bytea NOT NULL,
            written_at double precision NOT NULL, node text NOT NULL, generation bigint NOT NULL
        )
    """)


# Every table of HQ's PostgreSQL schema comes from this list, in order (the same as hq.db's
# MIGRATIONS, step for step); append only: a step once shipped is never edited or reordered.
PG_MIGRATIONS: list[PgMigration] = [_m1, _m2, _m3, _m4, _m5, _m6]


def migrate(c: psycopg.Connection[Any], steps: Sequence[PgMigration] = PG_MIGRATIONS) -> int:
    """Apply the pending steps in one transaction; returns how many ran (0: nothing written)."""
    with c.transaction():
        c.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        c.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
            version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())""")
        row = c.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        done = int(row[0]) if row else 0
        for version, step in enumerate(steps, start=1):
            if version > done:
                step(c)
                c.execute("INSERT INTO schema_migrations(version, name) VALUES (%s, %s)",
                          (version, step.__name__.strip("_")))
        return max(0, len(steps) - done)


def check_dsn(dsn: str) -> str:
    """The DSN as libpq will be given it (a connect timeout added when none is set), or
    ``StoreUrlInvalid`` when libpq cannot parse it."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as e:
        raise StoreUrlInvalid(f"PostgreSQL の接続文字列が読めません: {redact(dsn)!r}（{e}）",
                              code="store_url_invalid") from e
    return dsn if "connect_timeout" in params else make_conninfo(dsn, connect_timeout=CONNECT_TIMEOUT_S)


class PgHqDb:
    backend: Backend = "postgresql"

    def __init__(self, dsn: str) -> None:
        self.dsn = with_keepalives(check_dsn(dsn))
        self._lock = threading.Lock()
        self._c: psycopg.Connection[Any] | None = None
        self.epoch: int | None = None  # ours once claimed; from then on every write is fenced
        self.seen_epoch = 0  # the highest epoch this process read: a claim goes above it (module doc)
        with self._lock:
            with self._translate("接続"):
                migrate(self._conn())

    # --- connection ---------------------------------------------------------------------------
    def _conn(self) -> psycopg.Connection[Any]:
        c = self._c
        if c is not None and not c.closed and not c.broken:
            return c
        self._c = None
        try:
            c = psycopg.connect(self.dsn, autocommit=True)
        except psycopg.OperationalError as e:
            raise StoreUnreachable(f"本部のデータベースに接続できません: {redact(self.dsn)}（{_first_line(e)}）",
                                   code="store_unreachable") from e
        c.execute("SET synchronous_commit TO on")  # durable (on a synchronous standby too) before ack
        self._c = c
        return c

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        """psycopg's errors as ours (store_db.py); the caller holds the lock."""
        try:
            yield
        except pg_errors.UniqueViolation as e:
            raise EventAlreadyStored(f"同じ受付記録がすでに保存されています: {_first_line(e)}") from e
        except psycopg.OperationalError as e:  # the server went away: the connection is dropped
            self._drop()
            raise StoreUnreachable(f"本部のデータベースとの接続が切れました（{what}）: {_first_line(e)}",
                                   code="store_unreachable") from e
        except psycopg.Error as e:
            raise StorageFailed(f"本部のデータベースで{what}できませんでした: {_first_line(e)}") from e

    def _drop(self) -> None:
        c, self._c = self._c, None
        if c is not None:
            try:
                c.close()
            except psycopg.Error:
                pass

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _fenced(self, c: psycopg.Connection[Any]) -> None:
        """Inside a write's transaction: is the store still ours? ``FOR SHARE`` holds the row
        until the commit, so a claim (an UPDATE of it) cannot slip in between this check and
        the COMMIT; raising here rolls the transaction back."""
        if self.epoch is None:  # not a claimant (the offline commands): nothing to fence
            return
        row = c.execute("SELECT epoch, node, since FROM leadership WHERE id = 1 FOR SHARE").fetchone()
        if row is not None:
            self.seen_epoch = max(self.seen_epoch, int(row[0]))
        if row is None or int(row[0]) != self.epoch:
            now = f"{row[1]}（エポック {row[0]}）" if row else "不明"
            raise Fenced(f"本部の主系は別のノードに移りました: {now}。このノード（エポック {self.epoch}）は"
                         "応答を止めます（何も保存していません）", code="hq_fenced",
                         epoch=self.epoch, leader=str(row[1]) if row else "", leader_epoch=int(row[0]) if row else 0)

    def _write(self, what: str, sql: str, params: Sequence[Any]) -> None:
        with self._lock, self._translate(what):
            c = self._conn()
            with c.transaction():
                self._fenced(c)
                c.execute(sql, params)

    def _read(self, sql: str, params: Sequence[Any] = (), binary: bool = False) -> list[Any]:
        with self._lock, self._translate("読み出し"):
            return self._conn().execute(sql, params, binary=binary).fetchall()

    # --- HqDb ---------------------------------------------------------------------------------
    def commit(self, events: Sequence[EventRow], refusals: Sequence[RefusalRow]) -> None:
        with self._lock, self._translate("保存"):
            c = self._conn()
            with c.transaction():
                self._fenced(c)
                with c.cursor() as cur:
                    with cur.copy("COPY events (terminal, seq, hlc, kind, body, received_at) "
                                  "FROM STDIN (FORMAT BINARY)") as cp:
                        cp.set_types(_EVENT_TYPES)  # binary: bodies go as they are, not as hex text
                        for row in events:
                            cp.write_row(row)
                    if refusals:
                        cur.executemany("INSERT INTO refusals(terminal, seq, code, body) VALUES (%s, %s, %s, %s) "
                                        "ON CONFLICT (terminal, seq, code) DO UPDATE SET body = excluded.body",
                                        refusals)

    def bodies(self, chunk: int) -> Generator[list[bytes], None, None]:
        # Keyset pages, each its own statement: the lock is held per page, not for the replay
        # (HQ appends with one writer, so a page boundary never skips a committed event)
        after = 0
        while True:
            rows = self._read("SELECT hq_order, body FROM events WHERE hq_order > %s ORDER BY hq_order LIMIT %s",
                              (after, chunk), binary=True)  # bodies as they are, not hex to decode
            if not rows:
                return
            after = int(rows[-1][0])
            yield [bytes(body) for _, body in rows]

    def refusals(self) -> list[tuple[str, int, str]]:
        return self._read("SELECT terminal, seq, body FROM refusals")

    def open_alarms(self) -> list[AlarmRow]:
        return self._read("SELECT terminal, seq, reason, held_hash, offered_hash FROM alarms "
                          "WHERE cleared_by IS NULL ORDER BY id")

    def record_alarm(self, alarm: AlarmRow, at: float) -> None:
        self._write("警報の記録", "INSERT INTO alarms(terminal, seq, reason, held_hash, offered_hash, at) "
                    "VALUES (%s, %s, %s, %s, %s, %s)", (*alarm, at))

    def record_rollback(self, terminal: str, hq_acked: int, terminal_acked: int, at: float) -> None:
        self._write("巻き戻りの記録", "INSERT INTO rollbacks(terminal, hq_acked, terminal_acked, at) "
                    "VALUES (%s, %s, %s, %s)", (terminal, hq_acked, terminal_acked, at))

    def rollbacks(self) -> list[tuple[str, int, int, float]]:
        return self._read("SELECT terminal, hq_acked, terminal_acked, at FROM rollbacks ORDER BY id")

    def touch(self, terminal: str, at: float, peer: str, signal: str | None) -> None:
        self._write("接続記録", "INSERT INTO contacts(terminal, last_contact, peer, signal) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (terminal) DO UPDATE SET last_contact = excluded.last_contact, "
                    "peer = excluded.peer, signal = COALESCE(excluded.signal, contacts.signal)",
                    (terminal, at, peer, signal))

    def contacts(self) -> list[tuple[str, float, str, str | None]]:
        return self._read("SELECT terminal, last_contact, peer, signal FROM contacts")

    def add_alert_action(self, alert_id: int, state: str, who: str, at: str, note: str) -> None:
        self._write("警告の対応記録", "INSERT INTO alert_actions(alert_id, state, who, at, note) "
                    "VALUES (%s, %s, %s, %s, %s)", (alert_id, state, who, at, note))

    def alert_actions(self) -> list[tuple[int, str, str, str, str]]:
        return self._read("SELECT alert_id, state, who, at, note FROM alert_actions ORDER BY id")

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = %s", (key,))
        return str(rows[0][0]) if rows else default

    def set_meta(self, key: str, value: str) -> None:
        self._write("設定の記録", "INSERT INTO meta(key, value) VALUES (%s, %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def claim(self, node: str, at: float, floor: int = 0) -> Leader:
        """Take the lead: above both the stored epoch and every epoch seen (``seen_epoch``,
        ``floor``: what the caller saw before, e.g. before a restart), with our name and time,
        in one transaction (it waits for the writes in flight that hold the row); from now on
        every write of ours is fenced."""
        with self._lock, self._translate("主系の取得"):
            c = self._conn()
            with c.transaction():
                row = c.execute("UPDATE leadership SET epoch = greatest(epoch, %s) + 1, node = %s, since = %s "
                                "WHERE id = 1 RETURNING epoch, node, since",
                                (max(self.seen_epoch, floor), node, at)).fetchone()
            assert row is not None  # the row is made by migration 5 and never deleted
            self.epoch = self.seen_epoch = int(row[0])
            return Leader(str(row[1]), int(row[0]), float(row[2]))

    def check_fence(self) -> None:
        """``Fenced`` unless we still lead: the barrier before a reply that writes nothing (a
        WELCOME's verdicts) is fenced like a commit."""
        if self.epoch is None:
            return
        with self._lock, self._translate("主系の確認"):
            c = self._conn()
            with c.transaction():
                self._fenced(c)

    def leader(self) -> Leader:
        rows = self._read("SELECT node, epoch, since FROM leadership WHERE id = 1")
        if rows:
            self.seen_epoch = max(self.seen_epoch, int(rows[0][1]))
        return Leader(str(rows[0][0]), int(rows[0][1]), float(rows[0][2])) if rows else Leader("", 0, 0.0)

    # --- reads for the offline commands and the console ---------------------------------------
    def absentee_rows(self, voter: str | None = None) -> list[AbsenteeRow]:
        q = "SELECT id, voter, contest, state, at, who, note FROM absentee_status"
        return self._read(q + (" WHERE voter = %s" if voter else "") + " ORDER BY id", (voter,) if voter else ())

    def add_absentee_status(self, voter: str, contest: str, state: str, at: str, who: str, note: str) -> None:
        self._write("不在者投票の記録", "INSERT INTO absentee_status(voter, contest, state, at, who, note) "
                    "VALUES (%s, %s, %s, %s, %s, %s)", (voter, contest, state, at, who, note))

    def bodies_of_kinds(self, kinds: Sequence[str]) -> list[bytes]:
        rows = self._read("SELECT body FROM events WHERE kind = ANY(%s) ORDER BY hq_order", (list(kinds),),
                          binary=True)
        return [bytes(b) for (b,) in rows]

    def events_after(self, after: int, limit: int) -> list[tuple[int, str, bytes]]:
        rows = self._read("SELECT hq_order, terminal, body FROM events WHERE hq_order > %s ORDER BY hq_order "
                          "LIMIT %s", (after, limit), binary=True)
        return [(int(o), str(t), bytes(b)) for o, t, b in rows]

    def changes_after(self, after: int, limit: int, body_kinds: Sequence[str]) -> list[ChangeRow]:
        rows = self._read("SELECT hq_order, terminal, seq, hlc, kind, CASE WHEN kind = ANY(%s) THEN body END "
                          "FROM events WHERE hq_order > %s ORDER BY hq_order LIMIT %s",
                          (list(body_kinds), after, limit), binary=True)
        return [(int(o), str(t), int(q), int(h), str(k), None if b is None else bytes(b)) for o, t, q, h, k, b in rows]


_FILES_LOCK = 0x6D6569626F46  # pg_advisory_xact_lock key of the shared files: "meiboF"
FileHead = tuple[int, str]  # (generation, sha256 hex) of one hq_files row
FileRow = tuple[str, int, str, bytes]  # (name, generation, sha256 hex, body)


class PgFileTx:
    """One transaction on ``hq_files`` under the files lock (every node's sync is one of these)."""

    def __init__(self, c: psycopg.Connection[Any]) -> None:
        self.c = c

    def heads(self) -> dict[str, FileHead]:
        return {str(n): (int(g), str(h)) for n, g, h in self.c.execute("SELECT name, generation, sha256 FROM hq_files")}

    def bodies(self, names: Sequence[str]) -> list[FileRow]:
        rows = self.c.execute("SELECT name, generation, sha256, body FROM hq_files WHERE name = ANY(%s) ORDER BY name",
                              (list(names),), binary=True).fetchall()
        return [(str(n), int(g), str(h), bytes(b)) for n, g, h, b in rows]

    def put(self, name: str, sha256: str, body: bytes, node: str, at: float) -> int:
        """Write one file's row; its new generation (above every generation stored: a restored
        dump's sequence may lag behind its rows)."""
        row = self.c.execute(
            "INSERT INTO hq_files(name, sha256, body, written_at, node, generation) "
            "VALUES (%s, %s, %s, %s, %s, greatest(nextval('hq_files_generation'), "
            "(SELECT coalesce(max(generation), 0) + 1 FROM hq_files))) "
            "ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, body = excluded.body, "
            "written_at = excluded.written_at, node = excluded.node, generation = excluded.generation "
            "RETURNING generation", (name, sha256, body, at, node)).fetchone()
        assert row is not None
        return int(row[0])


class PgFileRows:
    """The shared files' rows, on a connection of their own (module doc). Thread-safe."""

    def __init__(self, dsn: str) -> None:
        self.dsn = with_keepalives(check_dsn(dsn))
        self._mutex = threading.Lock()
        self._c: psycopg.Connection[Any] | None = None

    def _conn(self) -> psycopg.Connection[Any]:
        c = self._c
        if c is not None and not c.closed and not c.broken:
            return c
        self._c = None
        try:
            c = psycopg.connect(self.dsn, autocommit=True)
            c.execute("SET synchronous_commit TO on")
            migrate(c)  # a store made before migration 6: the table, before the first sync
        except psycopg.OperationalError as e:
            raise StoreUnreachable(f"本部のデータベースに接続できません（共有ファイル）: {redact(self.dsn)}（{_first_line(e)}）",
                                   code="store_unreachable") from e
        self._c = c
        return c

    @contextmanager
    def locked(self) -> Iterator[PgFileTx]:
        """One transaction holding the files lock: every node's read-compare-write of the shared
        files is serialised across machines (an exception inside rolls back what it wrote)."""
        with self._mutex:
            try:
                c = self._conn()
                with c.transaction():
                    c.execute("SELECT pg_advisory_xact_lock(%s)", (_FILES_LOCK,))
                    yield PgFileTx(c)
            except psycopg.OperationalError as e:
                self._drop()
                raise StoreUnreachable(f"本部のデータベースとの接続が切れました（共有ファイル）: {_first_line(e)}",
                                       code="store_unreachable") from e
            except psycopg.Error as e:
                raise StorageFailed(f"本部のデータベースで共有ファイルを扱えませんでした: {_first_line(e)}") from e

    def _drop(self) -> None:
        c, self._c = self._c, None
        if c is not None:
            try:
                c.close()
            except psycopg.Error:
                pass

    def close(self) -> None:
        with self._mutex:
            self._drop()


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
