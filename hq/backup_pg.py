"""HQ's PostgreSQL store backed up with ``pg_dump -Fc`` and restored with ``pg_restore`` (issue 18).

What a database administrator of a municipality does with any PostgreSQL database, made the
first-class path of ``meibo hq backup`` / ``meibo hq restore`` on a PostgreSQL store (hq/backup.py
keeps the directory's files, the manifest and the rename; this module is the database's part):

- **Backup.** One REPEATABLE READ, READ ONLY transaction exports its snapshot
  (``pg_export_snapshot()``); ``pg_dump --snapshot`` dumps exactly that snapshot while the same
  transaction takes each table's row count and digest (hq/migrate_store.py's ``Digest``, rows in
  key order), the ``hq_order`` head, each terminal's last seq and the leadership epoch. So the
  manifest describes the very rows in the dump, taken while HQ serves and writes.
- **Restore.** The target database must hold no row of HQ's records unless ``replace`` is given;
  then its rows are first dumped into the directory moved aside (evidence, never deleted).
  ``pg_restore --single-transaction --clean --if-exists`` puts the dump in (all or nothing); then
  the manifest is checked against the restored rows. A mismatch undoes it: the evidence dump
  goes back in (or, for a target that held nothing, the restored tables are dropped), so no
  half-good database is left for HQ to start on, and ``restore_mismatch`` is raised.
- **The fence.** The restored ``leadership`` row's epoch is raised above both the backup's and
  the target's former one (store_db.py: an epoch only goes up), so a node that led before the
  restore is fenced at its next write rather than writing into the restored past.

The shared files of two HQ nodes (``hq_files``, hq/shared_files.py) travel in the dump but are
not in the manifest's figures (migrate_store.py ``NOT_COPIED``): they are copies of the nodes'
own directories, and a node whose copy is newer than a restored row publishes it again.

What the restore cannot bring back (events acknowledged after the dump) the protocol recovers,
as after any restore: terminals ahead of HQ resend, HQ records 本部の記録が巻き戻っています, and
a flag cursor into the old stream gets the stream again. A dump restored by hand with plain
``pg_restore`` (not through meibo) is recovered the same way: it needs nothing of this module.

The binaries are PostgreSQL's client tools (Debian ``postgresql-client``): ``MEIBO_PG_BIN``, else
the newest /usr/lib/postgresql/N/bin, else PATH. A password in the DSN is handed to them in
``PGPASSWORD``, never on their command line (``ps`` shows it to every user).

Layer: hq. Never imports the screens, the CLI or the tooling (the test servers are tooling's).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ground.errors import StorageFailed, UsageError
from hq.migrate_store import TABLES, Digest, PgSide
from hq.store_db import StoreUnreachable, redact
from hq.store_pg import PgHqDb, check_dsn

DUMP = "hq.dump"
EVIDENCE = "store-before-restore.dump"
PG_ROOT = Path("/usr/lib/postgresql")


@dataclass(frozen=True)
class PgToolSettings:
    """How long a pg_dump or pg_restore may run before it is given up (STYLE rule 9)."""

    dump_timeout_s: float = 3600.0
    restore_timeout_s: float = 3600.0


SETTINGS = PgToolSettings()


class PgToolMissing(UsageError):
    """pg_dump / pg_restore is not installed: install PostgreSQL's client tools."""

    code = "pg_dump_missing"


class PgDumpFailed(StorageFailed):
    """pg_dump or pg_restore ran and failed (``details`` has what it printed): nothing changed."""

    code = "pg_dump_failed"


class RestoreTargetNotEmpty(UsageError):
    """The target database holds HQ's records: restore into an empty one, or ask to replace."""

    code = "restore_target_not_empty"


class RestoreMismatch(StorageFailed):
    """The restored rows are not what the manifest says: the target was put back as it was."""

    code = "restore_mismatch"


def pg_tool(name: str) -> Path:
    """The ``pg_dump`` / ``pg_restore`` binary to run (see the module)."""
    forced = os.environ.get("MEIBO_PG_BIN")
    dirs = [Path(forced)] if forced else sorted((p / "bin" for p in PG_ROOT.glob("*") if p.name.isdigit()),
                                                key=lambda b: int(b.parent.name), reverse=True)
    for d in dirs:
        if (d / name).is_file():
            return d / name
    found = None if forced else shutil.which(name)
    if found:
        return Path(found)
    raise PgToolMissing(f"{name} が見つかりません。PostgreSQL のクライアント（Debian: `apt-get install "
                        f"postgresql-client`）を導入してください。サーバと同じか新しい版が必要です",
                        tool=name, where=forced or f"{PG_ROOT}/*/bin, PATH", hint="apt-get install postgresql-client")


def _run_tool(name: str, args: list[str], dsn: str, timeout_s: float) -> str:
    """Run a client tool on ``dsn`` (given as ``-d``, its password in PGPASSWORD); its stdout."""
    params = conninfo_to_dict(check_dsn(dsn))
    env = dict(os.environ)
    password = params.pop("password", None)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    argv = [str(pg_tool(name)), *args, "-d", make_conninfo("", **params)]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise PgDumpFailed(f"{name} が {timeout_s:.0f} 秒以内に終わりませんでした（{redact(dsn)}）",
                           code="pg_dump_failed", tool=name) from e
    if p.returncode != 0:
        said = (p.stderr or p.stdout).strip()[-800:]
        raise PgDumpFailed(f"{name} が失敗しました（{redact(dsn)}）: {said}", code="pg_dump_failed",
                           tool=name, status=p.returncode)
    return p.stdout


def _connect(dsn: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(check_dsn(dsn))
    except psycopg.OperationalError as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise StoreUnreachable(f"本部のデータベース（{redact(dsn)}）に接続できません: {first}",
                               code="store_unreachable") from e


def _has_hq_schema(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass('events') IS NOT NULL").fetchone()
    return bool(row and row[0])


def _figures(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Inside a snapshot: what the manifest says of HQ's records (see the module)."""
    side = PgSide(conn)
    tables: dict[str, dict[str, Any]] = {}
    for t in TABLES:
        d = Digest()
        for rows in side.pages(t):
            d.add(rows)
        tables[t.name] = {"rows": d.rows, "sha256": d.hexdigest()}
    head = conn.execute("SELECT coalesce(max(hq_order), 0) FROM events").fetchone()
    heads = conn.execute("SELECT terminal, max(seq) FROM events GROUP BY terminal ORDER BY terminal").fetchall()
    epoch = conn.execute("SELECT coalesce(max(epoch), 0) FROM leadership").fetchone()
    return {"tables": tables, "hq_order_head": int(head[0]) if head else 0,
            "terminal_heads": {str(t): int(s) for t, s in heads}, "epoch": int(epoch[0]) if epoch else 0}


def dump_store(dsn: str, path: Path, settings: PgToolSettings = SETTINGS) -> dict[str, Any]:
    """``pg_dump -Fc`` of HQ's database into ``path``, of one snapshot whose figures are returned
    (``format``, ``tables``, ``hq_order_head``, ``terminal_heads``, ``epoch``)."""
    pg_tool("pg_dump")  # before anything: a missing binary says so, not a connection error
    conn = _connect(dsn)
    try:
        if not _has_hq_schema(conn):
            raise UsageError(f"データベースに本部の記録がありません: {redact(dsn)}", code="store_source_missing")
        conn.rollback()
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            assert row is not None
            # the dump reads the snapshot while this transaction stays open; the figures are of it too
            _run_tool("pg_dump", ["-Fc", "--no-owner", "--no-privileges", f"--snapshot={row[0]}", "-f", str(path)],
                      dsn, settings.dump_timeout_s)
            figures = _figures(conn)
    except psycopg.Error as e:
        raise StorageFailed(f"本部のデータベース（{redact(dsn)}）のバックアップに失敗しました: {e}") from e
    finally:
        conn.close()
    with open(path, "rb+") as f:
        os.fsync(f.fileno())
    return {"format": "pg_dump", **figures}


def _target_state(dsn: str) -> tuple[list[str], int]:
    """The HQ tables of the target that hold rows, and its leadership epoch (0: none)."""
    conn = _connect(dsn)
    try:
        if not _has_hq_schema(conn):
            return [], 0
        full = []
        for t in TABLES:
            reg = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (t.name,)).fetchone()
            if not (reg and reg[0]):
                continue
            rows = conn.execute(f"SELECT EXISTS (SELECT 1 FROM {t.name})").fetchone()
            if rows and rows[0]:
                full.append(t.name)
        has_lead = conn.execute("SELECT to_regclass('leadership') IS NOT NULL").fetchone()
        epoch = (conn.execute("SELECT coalesce(max(epoch), 0) FROM leadership").fetchone()
                 if has_lead and has_lead[0] else (0,))
        return full, int(epoch[0]) if epoch else 0
    finally:
        conn.close()


_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (\S+) (\S+) ")


def _drop_restored(dump: Path, dsn: str, settings: PgToolSettings) -> None:
    """Drop the tables ``dump`` made (its table of contents), in one transaction: a target that
    held nothing holds nothing again."""
    toc = _run_tool("pg_restore", ["-l", str(dump)], dsn, settings.restore_timeout_s)
    names = [f'"{m[1]}"."{m[2]}"' for line in toc.splitlines() if (m := _TOC_TABLE.match(line))]
    if not names:
        return
    conn = _connect(dsn)
    try:
        with conn.transaction():
            conn.execute(f"DROP TABLE IF EXISTS {', '.join(names)} CASCADE")
    finally:
        conn.close()


def _pg_restore(dump: Path, dsn: str, settings: PgToolSettings) -> None:
    _run_tool("pg_restore", ["--exit-on-error", "--single-transaction", "--clean", "--if-exists", "--no-owner",
                             "--no-privileges", str(dump)], dsn, settings.restore_timeout_s)


def restore_store(dump: Path, want: dict[str, Any], dsn: str, evidence: Path, *, replace: bool,
                  settings: PgToolSettings = SETTINGS) -> dict[str, Any]:
    """``dump`` into the database ``dsn``, checked against the manifest's figures ``want`` (see
    the module). ``evidence``: where the target's former rows are dumped when ``replace``.
    Returns what the restored database holds (its figures and the new epoch)."""
    pg_tool("pg_restore")
    pg_tool("pg_dump")
    full, before_epoch = _target_state(dsn)
    if full and not replace:
        raise RestoreTargetNotEmpty(
            f"復元先のデータベース（{redact(dsn)}）には本部の記録があります（{'、'.join(full)}）。"
            "空のデータベースを指定するか、置き換えてよければ --replace を付けてください。何も変えていません",
            code="restore_target_not_empty", tables=full)
    kept = None
    if full:  # the rows about to be replaced, as a dump the administrator can restore
        evidence.mkdir(parents=True, exist_ok=True)
        kept = evidence / EVIDENCE
        _run_tool("pg_dump", ["-Fc", "--no-owner", "--no-privileges", "-f", str(kept)], dsn, settings.dump_timeout_s)
    _pg_restore(dump, dsn, settings)
    conn = _connect(dsn)
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            got = _figures(conn)
    finally:
        conn.close()
    wrong = [n for n, t in want["tables"].items() if got["tables"].get(n) != t]
    if wrong or got["hq_order_head"] != want["hq_order_head"]:
        if kept is not None:
            _pg_restore(kept, dsn, settings)  # the target as it was
        else:
            _drop_restored(dump, dsn, settings)
        raise RestoreMismatch(f"復元したデータベースがバックアップの目録と一致しません（{'、'.join(wrong) or 'hq_order'}）。"
                              "復元先は復元前の状態に戻しました。別のバックアップから復元してください",
                              code="restore_mismatch", tables=wrong)
    PgHqDb(dsn).close()  # a dump of an older schema brought up to date, as any HQ start does
    conn = _connect(dsn)
    try:
        with conn.transaction():  # every node that led before (the backup's, the target's) is fenced
            row = conn.execute("UPDATE leadership SET epoch = greatest(epoch, %s) + 1, node = '', since = 0 "
                               "WHERE id = 1 RETURNING epoch", (before_epoch,)).fetchone()
    finally:
        conn.close()
    return {**got, "epoch": int(row[0]) if row else 0, "replaced": full,
            "kept": str(kept) if kept is not None else None}


def is_dump_backup(manifest: dict[str, Any]) -> bool:
    return bool(manifest.get("database", {}).get("format") == "pg_dump")


__all__ = ["dump_store", "restore_store", "pg_tool", "is_dump_backup", "PgToolMissing", "PgDumpFailed",
           "RestoreTargetNotEmpty", "RestoreMismatch", "DUMP", "EVIDENCE"]
