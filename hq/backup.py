"""``meibo hq backup`` and ``meibo hq restore``: HQ's directory, copied whole and consistently.

A backup is a directory: every regular file of the HQ directory (election.toml, the registry,
keys, PKI, roll packages), the two SQLite files (hq.db, roll.db) copied with SQLite's online
backup API — a consistent snapshot even while ``hq serve`` writes — and ``manifest.json`` with
each file's size and SHA-256, when it was taken and how many events of each terminal it holds.
It is written under ``OUT.partial`` and renamed when complete, so a backup that exists is whole.

A restore verifies every file against the manifest first (a damaged backup changes nothing),
refuses while HQ is serving, moves the current directory aside (never deletes it: it is
evidence) and puts the copy in place, again through a ``.partial`` directory and a rename.

On a PostgreSQL store (``--store URL`` or election.toml's ``[hq] store``) the database is backed
up as a database administrator backs up any PostgreSQL database: ``hq.dump``, a ``pg_dump -Fc`` of
one snapshot, with that snapshot's row counts and digests, ``hq_order`` head, terminal heads and
leadership epoch in the manifest (hq/backup_pg.py), and restored with ``pg_restore`` into the
target database: refused when it holds HQ's records unless ``replace`` (then they are dumped into
the directory moved aside first), checked against the manifest after, undone on a mismatch, its
leadership epoch raised so every node that led before is fenced. ``logical`` keeps the older
form, a logical export of the rows as hq.db (hq/migrate_store.py, one REPEATABLE READ snapshot):
the one backup that restores onto either backend (PostgreSQL → SQLite, e.g. a cloud HQ moved back
to one town hall server) and needs no pg_dump as new as the server. A restore never takes a
backup of another election than the HQ directory it replaces (``backup_other_election``).

What a restore cannot bring back, the protocol does (docs/protocol.md): terminals resend the
events HQ lost, HQ's console shows 本部の記録が巻き戻っています when a terminal holds acknowledged
events HQ lacks, and a flag cursor into the old stream gets the whole stream again. Hand-written
rather than a tar of the directory: the SQLite files must be copied through SQLite (a file copy
of a live WAL database can be torn), and the manifest is what lets restore refuse a damaged copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
from pathlib import Path
from typing import Any

from ground.clock import Clock
from appliance.dirs import HqDir, write_atomic
from ground.errors import MeiboError, UsageError
from hq.migrate_store import StoreSourceMissing, export_store, replace_store
from hq.store_db import StoreUrl, parse_store_url

MANIFEST = "manifest.json"
DATABASES = ("hq.db", "roll.db")
DUMP = "hq.dump"  # hq/backup_pg.py's pg_dump of a PostgreSQL store
# never copied: a database's own side files (the backup API copies its content), runtime sockets
_SKIP_SUFFIXES = ("-wal", "-shm", "-journal")


class BackupInvalid(MeiboError):
    """The backup is incomplete or damaged: restore from another one."""

    code = "backup_invalid"


class BackupOtherElection(UsageError):
    """The backup is of another election than the HQ directory it would replace."""

    code = "backup_other_election"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _regular_files(root: Path) -> list[Path]:
    out = []
    for p in sorted(root.rglob("*")):
        if p.name.endswith(_SKIP_SUFFIXES) or p.relative_to(root).as_posix() in DATABASES:
            continue
        try:
            if stat.S_ISREG(p.lstat().st_mode):
                out.append(p)
        except FileNotFoundError:
            continue
    return out


def _copy_database(src: Path, dst: Path) -> None:
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(str(dst))
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            target.close()
    finally:
        source.close()
    with open(dst, "rb+") as f:
        os.fsync(f.fileno())


def _terminal_heads(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {t: int(s) for t, s in conn.execute("SELECT terminal, max(seq) FROM events GROUP BY terminal")}
    except sqlite3.Error:
        return {}
    finally:
        conn.close()


def store_url_of(hq: HqDir, store_url: str | None) -> StoreUrl:
    """The store ``--store`` names, else election.toml's ``[hq] store``, else hq.db."""
    return parse_store_url(store_url) if store_url is not None else parse_store_url(hq.config().hq_store,
                                                                                    from_config=True)


def backup(hq: HqDir, out: Path, clock: Clock, store_url: str | None = None,
           logical: bool = False) -> dict[str, Any]:
    """Copy ``hq`` to the new directory ``out``; returns the manifest. On a PostgreSQL store the
    database goes in as ``pg_dump`` (``logical``: as an hq.db export, see the module)."""
    hq.require()
    url = store_url_of(hq, store_url)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"バックアップ先が空ではありません: {out}", code="backup_exists")
    if out.resolve().is_relative_to(hq.root.resolve()):
        raise UsageError(f"バックアップ先を本部ディレクトリの中にはできません: {out}", code="backup_inside_hq")
    stage = out.with_name(out.name + ".partial")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        files: dict[str, dict[str, Any]] = {}
        for p in _regular_files(hq.root):
            rel = p.relative_to(hq.root)
            dst = stage / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, dst)
            with open(dst, "rb+") as f:
                os.fsync(f.fileno())
        database: dict[str, Any] | None = None
        for name in DATABASES:
            if name == "hq.db" and url.backend == "postgresql":
                if logical:
                    export_store(hq, url, stage / name)  # the database's rows, not a stale hq.db
                else:
                    from hq import backup_pg  # lazy: psycopg loads only for a PostgreSQL store
                    database = backup_pg.dump_store(url.dsn, stage / DUMP)
            elif (hq.root / name).exists():
                _copy_database(hq.root / name, stage / name)
        for p in _regular_files(stage) + [stage / n for n in DATABASES if (stage / n).exists()]:
            files[p.relative_to(stage).as_posix()] = {"size": p.stat().st_size, "sha256": _sha256(p)}
        heads = (database["terminal_heads"] if database is not None
                 else _terminal_heads(stage / "hq.db") if (stage / "hq.db").exists() else {})
        manifest = {"format": 1, "hqdir": str(hq.root), "taken_at": clock.now().isoformat(timespec="seconds"),
                    "store": url.backend,
                    "election": hq.config().election_id,
                    "terminal_heads": heads,
                    **({"database": database} if database is not None else {}),
                    "files": dict(sorted(files.items()))}
        write_atomic(stage / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
        for d in sorted({stage} | {(stage / f).parent for f in files}, key=lambda x: -len(x.parts)):
            _fsync_dir(d)
        if out.exists():
            out.rmdir()  # empty, checked above
        stage.rename(out)
        _fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return manifest


def verify(backup_dir: Path) -> dict[str, Any]:
    """The manifest, once every file it lists is there with its size and SHA-256."""
    try:
        manifest: dict[str, Any] = json.loads((backup_dir / MANIFEST).read_text("utf-8"))
        files = manifest["files"]
        assert isinstance(files, dict)
    except (OSError, ValueError, KeyError, AssertionError, TypeError) as e:
        raise BackupInvalid(f"バックアップの目録（{backup_dir / MANIFEST}）を読めません: {e}") from e
    for rel, want in files.items():
        p = backup_dir / rel
        if not p.is_file():
            raise BackupInvalid(f"バックアップにファイルがありません: {p}", file=str(p))
        if p.stat().st_size != want.get("size") or _sha256(p) != want.get("sha256"):
            raise BackupInvalid(f"バックアップのファイルが壊れています（目録と一致しません）: {p}", file=str(p))
    extra = {p.relative_to(backup_dir).as_posix() for p in _regular_files(backup_dir)} - set(files) - {MANIFEST}
    extra |= {n for n in DATABASES if (backup_dir / n).exists()} - set(files)
    if extra:
        raise BackupInvalid(f"目録にないファイルがあります: {', '.join(sorted(extra))}", files=sorted(extra))
    return manifest


def restore(backup_dir: Path, hq_root: Path, clock: Clock, serving: bool,
            store_url: str | None = None, replace: bool = False) -> dict[str, Any]:
    """Put a verified backup in place of ``hq_root`` (moved aside, kept). ``serving``: HQ answers
    on its admin socket (the caller asks it): a running HQ is never restored under. On a
    PostgreSQL store (``store_url``, else the backup's election.toml) the backup's database
    (hq.dump, or an hq.db export) goes into it; a database holding HQ's records is replaced
    only with ``replace``, its rows kept in the directory moved aside."""
    manifest = verify(backup_dir)
    if serving:
        raise UsageError("本部サーバが動いています。meibo hq serve を止めてから復元してください", code="hq_running")
    _same_election(manifest, hq_root)
    url = store_url_of(HqDir(backup_dir), store_url)
    dump = "database" in manifest
    if dump and url.backend != "postgresql":
        raise UsageError("このバックアップは PostgreSQL の pg_dump です。復元先に PostgreSQL のデータベースを "
                         "--store で指定してください（SQLite へ戻すには hq backup --logical で取ったバックアップを使います）",
                         code="backup_needs_postgresql")
    stage = hq_root.with_name(hq_root.name + ".partial")
    shutil.rmtree(stage, ignore_errors=True)
    stamp = clock.now().strftime('%Y%m%dT%H%M%S')
    # the database's rows before the restore; never removed once written (it may be all that is
    # left of them if the restore fails after its transaction committed)
    evidence = hq_root.with_name(f"{hq_root.name}.before-restore-{stamp}.store")
    aside = hq_root.with_name(f"{hq_root.name}.before-restore-{stamp}") if hq_root.exists() else None
    try:
        shutil.copytree(backup_dir, stage, ignore=shutil.ignore_patterns(MANIFEST))
        for p in stage.rglob("*"):
            if p.is_file():
                with open(p, "rb+") as f:
                    os.fsync(f.fileno())
        restored: dict[str, Any] = {}
        if dump:
            from hq import backup_pg  # lazy: psycopg loads only for a PostgreSQL store
            restored = backup_pg.restore_store(stage / DUMP, manifest["database"], url.dsn, evidence,
                                               replace=replace)
            (stage / DUMP).unlink()  # the records live in the database; the dump stays in the backup
        elif url.backend == "postgresql":
            _restore_rows(HqDir(stage), url, evidence, replace)
        if aside is not None:
            hq_root.rename(aside)
        stage.rename(hq_root)
        if evidence.exists():  # the database's rows as they were before the restore: evidence
            if aside is None:
                aside = hq_root.with_name(f"{hq_root.name}.before-restore-{stamp}")
                aside.mkdir()
            for p in evidence.iterdir():
                p.rename(aside / ("store-before-restore.db" if p.name == "hq.db" else p.name))
            shutil.rmtree(evidence)
        _fsync_dir(hq_root.parent)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if evidence.exists() and not any(evidence.iterdir()):
            shutil.rmtree(evidence)
        raise
    return {"code": "ok", "hqdir": str(hq_root), "backup": str(backup_dir), "taken_at": manifest["taken_at"],
            "store": url.backend, "format": "pg_dump" if dump else "files",
            "terminal_heads": manifest.get("terminal_heads", {}),
            **({"hq_order_head": restored["hq_order_head"], "epoch": restored["epoch"],
                "replaced": restored["replaced"]} if dump else {}),
            "moved_aside": str(aside) if aside else None}


def _same_election(manifest: dict[str, Any], hq_root: Path) -> None:
    """A backup never replaces another election's HQ directory."""
    if not (hq_root / "election.toml").exists():
        return
    here, there = HqDir(hq_root).config().election_id, manifest.get("election")
    if there != here:
        raise BackupOtherElection(f"バックアップは別の選挙（{there}）のものです。{hq_root} は選挙 {here} の本部です。"
                                  "何も変えていません", code="backup_other_election", backup=there, hqdir=here)


def _restore_rows(stage: HqDir, url: StoreUrl, evidence: Path, replace: bool) -> None:
    """The PostgreSQL store's rows kept (``evidence``/hq.db), then replaced by the staged hq.db's,
    which leaves the stage: HQDIR on PostgreSQL holds no hq.db. A store holding rows is
    replaced only with ``replace``."""
    evidence.mkdir()
    try:
        held = export_store(stage, url, evidence / "hq.db")
        full = [name for name, t in held.items() if t["rows"]]
        if full and not replace:
            from hq.backup_pg import RestoreTargetNotEmpty  # lazy: psycopg, as above
            raise RestoreTargetNotEmpty(f"復元先のデータベースには本部の記録があります（{'、'.join(full)}）。"
                                        "置き換えてよければ --replace を付けてください。何も変えていません",
                                        code="restore_target_not_empty", tables=full)
    except StoreSourceMissing:  # a fresh database: no rows to keep
        shutil.rmtree(evidence)
    except BaseException:
        shutil.rmtree(evidence)  # nothing replaced yet: no evidence needed
        raise
    replace_store(stage, url)
    for p in stage.root.glob("hq.db*"):
        p.unlink()


__all__ = ["backup", "verify", "restore", "BackupInvalid", "BackupOtherElection", "MANIFEST", "DUMP"]
