"""``meibo hq backup`` and ``meibo hq restore``: HQ's directory, copied whole and consistently.

A backup is a directory: every regular file of the HQ directory (election.toml, the registry,
keys, PKI, roll packages), the two SQLite files (hq.db, roll.db) copied with SQLite's online
backup API — a consistent snapshot even while ``hq serve`` writes — and ``manifest.json`` with
each file's size and SHA-256, when it was taken and how many events of each terminal it holds.
It is written under ``OUT.partial`` and renamed when complete, so a backup that exists is whole.

A restore verifies every file against the manifest first (a damaged backup changes nothing),
refuses while HQ is serving, moves the current directory aside (never deletes it: it is
evidence) and puts the copy in place, again through a ``.partial`` directory and a rename.

On a PostgreSQL store (``--store URL`` or election.toml's ``[hq] store``) the backup's hq.db is a
logical export of the database's rows (hq/migrate_store.py: one REPEATABLE READ snapshot,
every table's count and digest checked), rather than a ``pg_dump``: the backup has one format
whatever the backend (the same manifest, restorable onto either), needs no pg_dump binary as
new as the server, and never carries what is not HQ's records (``schema_migrations``, a
leadership or fencing row, which must never go back in time). A restore onto PostgreSQL first
exports the rows it is about to replace into the directory moved aside (evidence), then
replaces every row in one transaction, verified before it commits; HQDIR gets no hq.db.

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
# never copied: a database's own side files (the backup API copies its content), runtime sockets
_SKIP_SUFFIXES = ("-wal", "-shm", "-journal")


class BackupInvalid(MeiboError):
    """The backup is incomplete or damaged: restore from another one."""

    code = "backup_invalid"


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


def backup(hq: HqDir, out: Path, clock: Clock, store_url: str | None = None) -> dict[str, Any]:
    """Copy ``hq`` to the new directory ``out``; returns the manifest."""
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
        for name in DATABASES:
            if name == "hq.db" and url.backend == "postgresql":
                export_store(hq, url, stage / name)  # the database's rows, not a stale hq.db
            elif (hq.root / name).exists():
                _copy_database(hq.root / name, stage / name)
        for p in _regular_files(stage) + [stage / n for n in DATABASES if (stage / n).exists()]:
            files[p.relative_to(stage).as_posix()] = {"size": p.stat().st_size, "sha256": _sha256(p)}
        manifest = {"format": 1, "hqdir": str(hq.root), "taken_at": clock.now().isoformat(timespec="seconds"),
                    "store": url.backend,
                    "election": hq.config().election_id,
                    "terminal_heads": _terminal_heads(stage / "hq.db") if (stage / "hq.db").exists() else {},
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
            store_url: str | None = None) -> dict[str, Any]:
    """Put a verified backup in place of ``hq_root`` (moved aside, kept). ``serving``: HQ answers
    on its admin socket (the caller asks it): a running HQ is never restored under. On a
    PostgreSQL store (``store_url``, else the backup's election.toml) the backup's hq.db
    replaces the database's rows, the rows replaced kept in the directory moved aside."""
    manifest = verify(backup_dir)
    if serving:
        raise UsageError("本部サーバが動いています。meibo hq serve を止めてから復元してください", code="hq_running")
    url = store_url_of(HqDir(backup_dir), store_url)
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
        if url.backend == "postgresql":
            _restore_rows(HqDir(stage), url, evidence)
        if aside is not None:
            hq_root.rename(aside)
        stage.rename(hq_root)
        if evidence.exists():  # the database's rows as they were before the restore: evidence
            if aside is None:
                aside = hq_root.with_name(f"{hq_root.name}.before-restore-{stamp}")
                aside.mkdir()
            (evidence / "hq.db").rename(aside / "store-before-restore.db")
            shutil.rmtree(evidence)
        _fsync_dir(hq_root.parent)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if evidence.exists() and not (evidence / "hq.db").exists():
            shutil.rmtree(evidence)
        raise
    return {"code": "ok", "hqdir": str(hq_root), "backup": str(backup_dir), "taken_at": manifest["taken_at"],
            "store": url.backend, "terminal_heads": manifest.get("terminal_heads", {}),
            "moved_aside": str(aside) if aside else None}


def _restore_rows(stage: HqDir, url: StoreUrl, evidence: Path) -> None:
    """The PostgreSQL store's rows kept (``evidence``/hq.db), then replaced by the staged hq.db's,
    which leaves the stage: HQDIR on PostgreSQL holds no hq.db."""
    evidence.mkdir()
    try:
        export_store(stage, url, evidence / "hq.db")
    except StoreSourceMissing:  # a fresh database: no rows to keep
        shutil.rmtree(evidence)
    except BaseException:
        shutil.rmtree(evidence)  # nothing replaced yet: no evidence needed
        raise
    replace_store(stage, url)
    for p in stage.root.glob("hq.db*"):
        p.unlink()


__all__ = ["backup", "verify", "restore", "BackupInvalid", "MANIFEST"]
