"""``meibo hq migrate-store``: HQ's records copied from one store to another, then verified.

Either side is hq.db (``sqlite``) or a PostgreSQL store (a URL or libpq keywords, store_db.py).
Rules:

- The source is read in one snapshot (SQLite: one read transaction; PostgreSQL: REPEATABLE READ,
  READ ONLY), so a copy is of one moment; nothing is written to it.
- The target must hold no row of HQ's records: a non-empty target is refused with
  ``store_target_not_empty`` before anything is written (a migration never merges two HQs).
- Every row is written in ONE transaction on the target, with its keys (``hq_order``, the ids),
  and PostgreSQL's identity sequences are moved past them, so the next event follows the last.
- Before that transaction commits, each table's row count and a digest of its rows in key order
  (for ``events``: in ``hq_order``) are taken again from the target and must equal the source's;
  otherwise it rolls back (``store_migration_mismatch``). After it commits, a ledger is rebuilt
  from each side (HqStore.load) and their figures (verdict counts, the flag stream's length and
  head mark) must be equal too.

The HqDb Protocol has no "every row of every table" read, so this module reads and writes the
tables through each backend's own connection (SQLite's ``Store``, a psycopg connection of its
own on the DSN); the table list is ``TABLES``. What is not HQ's records (the migrations'
bookkeeping, the ``leadership`` fence, the shared files: ``NOT_COPIED``) is never copied: each side keeps its own.

Layer: hq. Never imports the screens, the CLI or the tooling; the command's parsing is cli/sync.py.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from appliance.dirs import HqDir
from ground.errors import StorageFailed, UsageError
from hq.ledger import Ledger
from hq.store import HqStore
from hq.store_db import StoreUnreachable, StoreUrl, parse_store_url, redact
from hq.store_sqlite import SqliteHqDb

BATCH = 5000  # rows read and written at once


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    key: str  # ORDER BY: the order rows are copied and digested in
    identity: str | None = None  # PostgreSQL's GENERATED ALWAYS AS IDENTITY column


# HQ's records, every table both backends' migrations make (store_sqlite.py, store_pg.py)
TABLES: tuple[Table, ...] = (
    Table("events", ("hq_order", "terminal", "seq", "hlc", "kind", "body", "received_at"), "hq_order", "hq_order"),
    Table("refusals", ("terminal", "seq", "code", "body"), "terminal, seq, code"),
    Table("alarms", ("id", "terminal", "seq", "reason", "held_hash", "offered_hash", "at", "cleared_by"), "id", "id"),
    Table("rollbacks", ("id", "terminal", "hq_acked", "terminal_acked", "at"), "id", "id"),
    Table("contacts", ("terminal", "last_contact", "peer", "signal"), "terminal"),
    Table("alert_actions", ("id", "alert_id", "state", "who", "at", "note"), "id", "id"),
    Table("absentee_status", ("id", "voter", "contest", "state", "at", "who", "note"), "id", "id"),
    Table("meta", ("key", "value"), "key"),
)


# Tables of both schemas that are not HQ's records and so are never copied: each store keeps its
# own. ``leadership`` is the fence between HQ nodes (store_db.py): its epoch may only go up, so
# neither a migration nor a restore may carry an older one across. ``hq_files`` holds copies of
# HQDIR's own files for the other HQ node (hq/shared_files.py): empty on hq.db, and re-published
# from the nodes' directories on PostgreSQL (a node whose copy is newer than the store's publishes it).
NOT_COPIED: frozenset[str] = frozenset({"leadership", "hq_files"})


class StoreTargetNotEmpty(UsageError):
    """The target store already holds HQ's records: migrate into an empty one."""

    code = "store_target_not_empty"


class StoreSourceMissing(UsageError):
    """The source store does not exist (no hq.db, or no HQ schema in the database)."""

    code = "store_source_missing"


class StoreMigrationMismatch(StorageFailed):
    """The target does not hold what the source holds: do not use it."""

    code = "store_migration_mismatch"


class Digest:
    """Row count and SHA-256 of a table's rows in key order (each row's ``repr`` of plain
    values: the same for both engines once bytes are bytes)."""

    def __init__(self) -> None:
        self.rows = 0
        self._h = hashlib.sha256()

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows += len(rows)
        for r in rows:
            self._h.update(repr(r).encode("utf-8"))
            self._h.update(b"\n")

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def _plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)


class Side(Protocol):
    """One store as migrate-store sees it, inside its transaction."""

    def pages(self, t: Table) -> Iterator[list[tuple[Any, ...]]]: ...
    def count(self, t: Table) -> int: ...
    def insert(self, t: Table, rows: list[tuple[Any, ...]]) -> None: ...
    def after_insert(self, t: Table) -> None: ...
    def clear(self, t: Table) -> None: ...


class SqliteSide:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.c = conn

    def pages(self, t: Table) -> Iterator[list[tuple[Any, ...]]]:
        cur = self.c.execute(f"SELECT {', '.join(t.columns)} FROM {t.name} ORDER BY {t.key}")
        while rows := cur.fetchmany(BATCH):
            yield [_plain(r) for r in rows]

    def count(self, t: Table) -> int:
        return int(self.c.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0])

    def insert(self, t: Table, rows: list[tuple[Any, ...]]) -> None:
        self.c.executemany(f"INSERT INTO {t.name}({', '.join(t.columns)}) VALUES({', '.join('?' * len(t.columns))})",
                           rows)

    def after_insert(self, t: Table) -> None:
        pass  # INTEGER PRIMARY KEY goes on from the largest key by itself

    def clear(self, t: Table) -> None:
        self.c.execute(f"DELETE FROM {t.name}")


def _pg_error(e: Exception, dsn: str) -> StorageFailed:
    # lazy: psycopg and libpq load only for a PostgreSQL store (as hq/store.py's open_db)
    import psycopg
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    if isinstance(e, psycopg.OperationalError):
        return StoreUnreachable(f"本部のデータベース（{redact(dsn)}）に接続できません: {first}", code="store_unreachable")
    return StorageFailed(f"本部のデータベース（{redact(dsn)}）で移行できませんでした: {first}")


class PgSide:
    def __init__(self, conn: Any) -> None:
        self.c = conn

    def pages(self, t: Table) -> Iterator[list[tuple[Any, ...]]]:
        # a named (server-side) cursor: pages of BATCH rows, never the whole table in memory
        with self.c.cursor(name=f"migrate_{t.name}") as cur:
            cur.execute(f"SELECT {', '.join(t.columns)} FROM {t.name} ORDER BY {t.key}")
            while rows := cur.fetchmany(BATCH):
                yield [_plain(r) for r in rows]

    def count(self, t: Table) -> int:
        return int(self.c.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0])

    def insert(self, t: Table, rows: list[tuple[Any, ...]]) -> None:
        # COPY writes identity columns as given (GENERATED ALWAYS is an INSERT rule)
        with self.c.cursor() as cur, cur.copy(f"COPY {t.name} ({', '.join(t.columns)}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)

    def after_insert(self, t: Table) -> None:
        if t.identity:  # the next row the store adds takes the key after the last copied one
            self.c.execute(f"SELECT setval(pg_get_serial_sequence('{t.name}', '{t.identity}'), "
                           f"coalesce(max({t.identity}), 0) + 1, false) FROM {t.name}")

    def clear(self, t: Table) -> None:
        self.c.execute(f"DELETE FROM {t.name}")


@contextmanager
def _sqlite_source(path: Path) -> Iterator[Side]:
    if not path.exists():
        raise StoreSourceMissing(f"移行元の本部記録がありません: {path}", code="store_source_missing")
    SqliteHqDb(path).close()  # the schema brought up to date, as any HQ start does (no row written)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("BEGIN")  # one read transaction: one snapshot of every table
        yield SqliteSide(conn)
        conn.execute("COMMIT")
    finally:
        conn.close()


@contextmanager
def _sqlite_target(path: Path) -> Iterator[Side]:
    made = not path.exists()
    db = SqliteHqDb(path)  # made (with its migrations) when missing
    try:
        with db.store.atomic() as c:  # BEGIN IMMEDIATE: one writer, all or nothing
            yield SqliteSide(c)
    except BaseException:
        db.close()
        for p in (path.with_name(path.name + s) for s in ("", "-wal", "-shm")) if made else ():
            p.unlink(missing_ok=True)  # a failed copy leaves no empty hq.db for HQ to start on
        raise
    db.close()


@contextmanager
def _pg(dsn: str, *, source: bool) -> Iterator[Side]:
    # lazy: psycopg and libpq load only for a PostgreSQL store (as hq/store.py's open_db)
    import psycopg
    from hq.store_pg import PgHqDb, check_dsn  # lazy: psycopg, as above
    try:
        conn = psycopg.connect(check_dsn(dsn))
    except psycopg.Error as e:
        raise _pg_error(e, dsn) from e
    try:
        if source:
            has = conn.execute("SELECT to_regclass('events') IS NOT NULL").fetchone()
            conn.rollback()
            if not has or not has[0]:
                raise StoreSourceMissing(f"移行元のデータベースに本部記録がありません: {redact(dsn)}",
                                         code="store_source_missing")
        PgHqDb(dsn).close()  # the schema made or brought up to date (its own transaction)
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ if source else None
        conn.read_only = source
        try:
            with conn.transaction():
                if not source:  # durable (on a synchronous standby too); no HQ writes while it is filled
                    conn.execute("SET LOCAL synchronous_commit TO on")
                    conn.execute(f"LOCK TABLE {', '.join(t.name for t in TABLES)} IN EXCLUSIVE MODE")
                yield PgSide(conn)
        except psycopg.Error as e:
            raise _pg_error(e, dsn) from e
    finally:
        conn.close()


def _side(hq: HqDir, url: StoreUrl, *, source: bool) -> AbstractContextManager[Side]:
    if url.backend == "sqlite":
        return _sqlite_source(hq.hq_db) if source else _sqlite_target(hq.hq_db)
    return _pg(url.dsn, source=source)


def ledger_figures(led: Ledger) -> dict[str, Any]:
    """What a rebuilt ledger must show on both sides."""
    verdicts: Counter[str] = Counter()
    states: Counter[str] = Counter()
    for _, rec in led.checkins.reading():
        for cv in rec.verdict.values():
            verdicts[cv.verdict.value] += 1
        for st in rec.states().values():
            states[st.value] += 1
    return {"events": led.order, "checkins": len(led.checkins), "verdicts": dict(sorted(verdicts.items())),
            "states": dict(sorted(states.items())), "alerts": len(led.alert_log),
            "active_alerts": len(led.active_alerts()), "alarms": len(led.alarms),
            "flags": len(led.flags), "flag_head": led.flags.mark(len(led.flags)),
            "acked": {t: ts.acked_seq for t, ts in sorted(led.terminals.items())}}


def _ledger(hq: HqDir, url: StoreUrl) -> dict[str, Any]:
    store = HqStore(hq, store_url="sqlite" if url.backend == "sqlite" else url.dsn)
    try:
        return ledger_figures(store.load())
    finally:
        store.close()


def copy_rows(source: Side, target: Side, replace: bool = False) -> dict[str, dict[str, Any]]:
    """Every table of ``source`` into ``target`` (both inside their transactions), refused if the
    target holds any row (``replace``: its rows deleted first, in the same transaction: a
    restore); then the target's counts and digests checked against the source's."""
    for t in TABLES if replace else ():
        target.clear(t)
    full = [t.name for t in TABLES if target.count(t)]
    if full:
        raise StoreTargetNotEmpty("移行先の本部記録が空ではありません（" + "、".join(full) + "）。"
                                  "空のデータベースを指定してください。何も書き込んでいません",
                                  code="store_target_not_empty", tables=full)
    figures: dict[str, dict[str, Any]] = {}
    for t in TABLES:
        src = Digest()
        for rows in source.pages(t):
            src.add(rows)
            target.insert(t, rows)
        target.after_insert(t)
        dst = Digest()
        for rows in target.pages(t):
            dst.add(rows)
        figures[t.name] = {"rows": src.rows, "sha256": src.hexdigest()}
        if (dst.rows, dst.hexdigest()) != (src.rows, src.hexdigest()):
            raise StoreMigrationMismatch(f"移行先の {t.name} が移行元と一致しません（{src.rows} 行 → {dst.rows} 行）。"
                                         "何も書き込んでいません", table=t.name)
    return figures


def migrate_store(hq: HqDir, from_url: str, to_url: str) -> dict[str, Any]:
    """Copy HQ's records from ``from_url`` to the empty ``to_url`` and verify (see the module)."""
    hq.require()
    src, dst = parse_store_url(from_url), parse_store_url(to_url)
    if str(src) == str(dst) and (src.backend == "sqlite" or src.dsn == dst.dsn):
        raise UsageError("移行元と移行先が同じです", code="store_same")
    with _side(hq, src, source=True) as source, _side(hq, dst, source=False) as target:
        tables = copy_rows(source, target)
    before, after = _ledger(hq, src), _ledger(hq, dst)
    if before != after:
        raise StoreMigrationMismatch("移行先から作り直した台帳が移行元と一致しません。移行先を使わないでください",
                                     source=before, target=after)
    return {"code": "ok", "from": str(src), "to": str(dst), "tables": tables,
            "events_sha256": tables["events"]["sha256"], "ledger": after}


def export_store(hq: HqDir, url: StoreUrl, path: Path) -> dict[str, dict[str, Any]]:
    """HQ's records in ``url`` copied, verified, into the new hq.db file ``path`` (a backup)."""
    with _side(hq, url, source=True) as source, _sqlite_target(path) as target:
        return copy_rows(source, target)


def replace_store(hq: HqDir, url: StoreUrl) -> dict[str, Any]:
    """The rows of ``url`` replaced by those of ``hq``'s hq.db in one transaction (a restore:
    ``hq`` is the restored directory), verified like a migration."""
    with _sqlite_source(hq.hq_db) as source, _side(hq, url, source=False) as target:
        tables = copy_rows(source, target, replace=True)
    before, after = _ledger(hq, StoreUrl("sqlite")), _ledger(hq, url)
    if before != after:
        raise StoreMigrationMismatch("復元先から作り直した台帳がバックアップと一致しません。復元先を使わないでください",
                                     source=before, target=after)
    return {"tables": tables, "events_sha256": tables["events"]["sha256"], "ledger": after}


def migrate_text(out: dict[str, Any]) -> str:
    led = out["ledger"]
    rows = "、".join(f"{name} {t['rows']}" for name, t in out["tables"].items())
    v = led["verdicts"]
    return (f"本部記録を移行しました: {out['from']} → {out['to']}\n"
            f"  行数（移行元＝移行先）: {rows}\n"
            f"  受付記録のダイジェスト: {out['events_sha256'][:16]}…（両側一致）\n"
            f"  作り直した台帳（両側一致）: 受付 {led['checkins']} 件（選挙ごとの判定: 初回 {v.get('accepted', 0)}・"
            f"投票済 {v.get('already_voted', 0)}）、警告 {led['alerts']} 件、投票済情報 {led['flags']} 件"
            f"（先頭 {led['flag_head'][:16] or '-'}）")


__all__ = ["migrate_store", "migrate_text", "export_store", "replace_store", "copy_rows", "ledger_figures", "TABLES",
           "NOT_COPIED", "StoreTargetNotEmpty",
           "StoreSourceMissing", "StoreMigrationMismatch"]
