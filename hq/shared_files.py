"""The HQ directory's changing files, shared between HQ nodes through the PostgreSQL store
(共有ファイル, issue 18).

Two HQ nodes share the ledger through PostgreSQL, but some of what they serve by is files in
HQDIR that change during the election: the registry (``terminals.json``), the card register
(``cards.json``), the CA's register of issued certificates (``pki/issued.json``), the CRL
(``pki/crl.pem``, ``pki/crl-renewal.json``), the published roll packages (``rolls/*``) and the
master roll (``roll.db``). ``hq add-node`` copies them once; this module keeps them the same on
every node afterwards, one row per file in the store's ``hq_files`` table (store_pg.py, migration
6): its bytes, their SHA-256, the node that wrote it and a generation from one sequence.

``SharedFiles.sync()`` is one step, inside one database transaction holding the files lock (so
every node's, and every offline command's, step is serialised across machines). This directory
remembers, in HQDIR/shared-files.json (never shared), the generation and digest it last agreed
with the store for each file. Then for each file:

- the store holds a newer generation and the file here is as agreed: the row is pulled;
- the file here changed and the store's row did not: it is published (its writer wrote it);
- both changed: for ``terminals.json`` the two registries are merged (every entry of both, a
  revocation in either wins: a revocation is never lost), and the merge is published; for any
  other file the store's copy wins and ours is kept beside it as ``<name>.conflict-<generation>``
  (logged, and named in the result), never silently dropped. The same for a file this directory
  never agreed on that differs from the store's (a node made by add-node: its copy is older).

A pulled row is checked first: its name must be one of the shared files (a row can never write
outside them), and its body must hash to its digest. A row that fails is refused with
``shared_file_invalid`` before anything is written, so one bad row changes nothing at all (the
step raises; the serving node logs it and keeps the files it has). Every file is written with
``write_atomic`` (temp + fsync + rename); ``roll.db`` is SQLite and open in other connections, so
it is published as a consistent snapshot (the backup API into memory, serialised, its header's
WAL flag and change counter made neutral so equal content has equal bytes) and pulled by the
backup API into the live file (one SQLite transaction: readers see the old roll or the new one).

Why hand-written: the files are small but need digest checks, per-file conflict rules and the
database's lock; a replication tool (rsync, a shared file system) would bring a second channel
and its own failure modes beside the one store both nodes already trust.

Who calls it: the writers, around their change (``edit``: pull first, publish after:
terminals.py, enroll_server.py, roll.py), the CRL keeper every period while a node serves, the
standby while it waits and at take-over, and ``hq serve`` at start. On SQLite (one node) there is
nothing to share: ``for_hq`` gives None and ``edit`` does nothing.

Layer: hq. Imports ground, appliance and hq's store modules only (psycopg lazily, through
store_pg.py); never the ledger, the server, the screens, the CLI or the tooling.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.dirs import HqDir, write_atomic
from ground.clock import Clock, SystemClock
from ground.errors import StorageFailed
from hq.store_db import parse_store_url

if TYPE_CHECKING:  # psycopg loads only for a PostgreSQL store
    from hq.store_pg import PgFileRows, PgFileTx

log = logging.getLogger("meibo.hq.shared")
STATE_FILE = "shared-files.json"
ROLL_DB = "roll.db"
# the fixed files; plus every published package under rolls/ (ROLL_FILE)
FIXED = ("terminals.json", "cards.json", "pki/issued.json", "pki/crl.pem", "pki/crl-renewal.json", ROLL_DB)
ROLL_FILE = re.compile(r"^rolls/[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
REGISTRY = "terminals.json"


class SharedFileInvalid(StorageFailed):
    """A shared file's row in the store is not what it claims (its digest does not match its
    body, or its name is not a shared file): refused, nothing written; the store needs a look."""

    code = "shared_file_invalid"


@dataclass
class SyncResult:
    pulled: list[str] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # kept aside as <name>.conflict-<generation>

    def as_dict(self) -> dict[str, Any]:
        return {"pulled": self.pulled, "published": self.published, "merged": self.merged,
                "conflicts": self.conflicts}


CONFLICT = ".conflict-"  # a copy kept aside (module doc): never a shared file itself


def is_shared(name: str) -> bool:
    return name in FIXED or (bool(ROLL_FILE.match(name)) and CONFLICT not in name and not name.endswith(".tmp"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- roll.db: a consistent snapshot in, the backup API out -----------------------------------

def sqlite_snapshot(path: Path) -> bytes:
    """A consistent image of the SQLite database at ``path`` (the backup API into memory), with
    the header's WAL flag (bytes 18-19) set to rollback mode and the change counter (24-27, 92-95)
    zeroed: the same content gives the same bytes on every node."""
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    mem = sqlite3.connect(":memory:")
    try:
        src.backup(mem)
        data = bytearray(mem.serialize())
    finally:
        mem.close()
        src.close()
    if len(data) >= 100:
        data[18] = data[19] = 1
        data[24:28] = data[92:96] = bytes(4)
    return bytes(data)


def sqlite_restore(data: bytes, path: Path) -> None:
    """``data`` (a ``sqlite_snapshot``) into the database at ``path`` by the backup API: one
    transaction of SQLite's own, so a reader on another connection sees the old or the new."""
    mem = sqlite3.connect(":memory:")
    try:
        mem.deserialize(data)
        mem.execute("PRAGMA quick_check").fetchone()  # an image SQLite cannot read fails here, not half-way
        path.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(path)
        try:
            mem.backup(dst)
        finally:
            dst.close()
    except sqlite3.Error as e:
        raise SharedFileInvalid(f"共有された名簿データベースを書き込めません: {e}", code="shared_file_invalid") from e
    finally:
        mem.close()


# --- this directory's side ------------------------------------------------------------------

def _sig(hq: HqDir, name: str) -> list[int] | None:
    """What changes when the file does (size, mtime; roll.db's WAL too): a cheap look before a digest."""
    out: list[int] = []
    for p in ([hq.root / name, hq.root / f"{name}-wal"] if name == ROLL_DB else [hq.root / name]):
        try:
            st = p.stat()
        except FileNotFoundError:
            if p.name == name.rsplit("/", 1)[-1]:
                return None
            continue
        out += [st.st_ino, st.st_size, st.st_mtime_ns]
    return out


def read_local(hq: HqDir, name: str) -> bytes | None:
    path = hq.root / name
    if not path.exists():
        return None
    return sqlite_snapshot(path) if name == ROLL_DB else path.read_bytes()


def write_local(hq: HqDir, name: str, body: bytes) -> None:
    if name == ROLL_DB:
        sqlite_restore(body, hq.root / name)
    else:
        write_atomic(hq.root / name, body)


def local_names(hq: HqDir) -> list[str]:
    names = [n for n in FIXED if (hq.root / n).exists()]
    if hq.rolls.is_dir():
        names += [f"rolls/{p.name}" for p in sorted(hq.rolls.iterdir()) if p.is_file() and is_shared(f"rolls/{p.name}")]
    return names


def read_state(hq: HqDir) -> dict[str, Any]:
    try:
        data = json.loads((hq.root / STATE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {"files": {}}
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return {"files": {}}
    return data


def write_state(hq: HqDir, state: dict[str, Any]) -> None:
    write_atomic(hq.root / STATE_FILE, json.dumps(state, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8"))


def merge_registries(ours: bytes, theirs: bytes) -> bytes:
    """Both registries' entries (an entry is one enrollment: terminal, device key, time); an entry
    revoked in either is revoked, with every serial either lists."""
    def items(b: bytes) -> list[dict[str, Any]]:
        raw = json.loads(b.decode("utf-8"))
        got = raw if isinstance(raw, list) else raw.get("terminals", [])
        return [d for d in got if isinstance(d, dict)]

    out: list[dict[str, Any]] = []
    index: dict[tuple[str, str, str], dict[str, Any]] = {}
    for d in items(theirs) + items(ours):
        key = (str(d.get("terminal")), str(d.get("device_pub")), str(d.get("enrolled_at")))
        have = index.get(key)
        if have is None:
            index[key] = dict(d)
            out.append(index[key])
            continue
        serials = sorted({int(s) for s in have.get("tls_serials", [])} | {int(s) for s in d.get("tls_serials", [])})
        if d.get("revoked") and not have.get("revoked"):
            have.update({k: v for k, v in d.items() if k.startswith("revoked")}, revoked=True)
        if serials:
            have["tls_serials"] = serials
    return json.dumps(out, ensure_ascii=False, indent=1).encode("utf-8")


# --- the step -------------------------------------------------------------------------------

class SharedFiles:
    """This HQ directory's files kept the same as the store's (module doc). One per process
    that serves; a writer may make a short-lived one (``edit``)."""

    def __init__(self, hq: HqDir, dsn: str, node: str | None = None, clock: Clock | None = None) -> None:
        from hq.store_pg import PgFileRows  # lazy: psycopg and libpq load only for a PostgreSQL store
        self.hq = hq
        self.node = node or _node_name(hq)
        self.clock: Clock = clock or SystemClock()
        self.rows: PgFileRows = PgFileRows(dsn)

    def close(self) -> None:
        self.rows.close()

    def sync(self) -> SyncResult:
        """One step: pull what is newer, publish what changed here (module doc). Raises
        ``SharedFileInvalid`` (nothing written) or ``StoreUnreachable``."""
        with self.rows.locked() as tx:
            state = read_state(self.hq)  # under the lock: another process of this directory may have synced
            before = json.dumps(state, sort_keys=True)
            files: dict[str, dict[str, Any]] = state["files"]
            result, published = self._step(tx, files)
            if json.dumps(state, sort_keys=True) != before:  # most looks change nothing: no write, no fsync
                write_state(self.hq, state)  # what was pulled is agreed, whatever becomes of the publish
        if published:  # committed: only now agreed (a rolled-back publish is published again next time)
            files.update(published)
            write_state(self.hq, state)
        if result.pulled or result.published or result.merged:
            log.info("shared files: pulled %s, published %s, merged %s", result.pulled, result.published,
                     result.merged)
        return result

    def _step(self, tx: PgFileTx, files: dict[str, dict[str, Any]]) -> tuple[SyncResult, dict[str, dict[str, Any]]]:
        result = SyncResult()
        heads = tx.heads()
        bad = sorted(n for n in heads if not is_shared(n))
        if bad:
            raise SharedFileInvalid(f"本部のデータベースに共有ファイルではない行があります: {bad}。何も書き込んでいません",
                                    code="shared_file_invalid", names=bad)
        # a row newer than the generation agreed here (a lower one: the store went back, e.g. a
        # restored dump; this directory's copy is then published again below)
        newer = [n for n, (g, _) in heads.items() if g > int(files.get(n, {}).get("generation", 0))]
        rows = tx.bodies(newer)
        for name, _, digest, body in rows:  # every row checked before any is written
            if sha256(body) != digest:
                raise SharedFileInvalid(f"共有ファイル {name} の内容がダイジェストと一致しません（データベースの行が壊れています）。"
                                        "何も書き込んでいません", code="shared_file_invalid", name=name)
        local: dict[str, tuple[bytes | None, str | None]] = {}
        sigs: dict[str, list[int] | None] = {}  # taken BEFORE the read: a write after it shows next time

        def here(name: str) -> tuple[bytes | None, str | None]:
            if name not in local:
                agreed = files.get(name, {})
                sig = sigs[name] = _sig(self.hq, name)
                if sig is not None and sig == agreed.get("sig"):
                    local[name] = (None, str(agreed.get("sha256")))  # unchanged since agreed: no need to read it
                else:
                    body = read_local(self.hq, name)
                    local[name] = (body, None if body is None else sha256(body))
            return local[name]

        to_publish: dict[str, bytes] = {}
        for name, gen, digest, body in rows:
            agreed = files.get(name, {})
            mine_body, mine = here(name)
            # never agreed here (a directory made by add-node): its copy is older than the store's,
            # except that two registries are always merged (a revocation is never lost)
            changed_here = mine is not None and mine != agreed.get("sha256") and (
                "sha256" in agreed or name == REGISTRY)
            if not changed_here or mine == digest:
                if mine != digest:
                    if mine is not None and "sha256" not in agreed:  # never agreed here: kept, not lost
                        self._keep_aside(name, gen, result, "has never been agreed with the store", logging.WARNING)
                    write_local(self.hq, name, body)
                    result.pulled.append(name)
                files[name] = {"generation": gen, "sha256": digest, "sig": _sig(self.hq, name)}
                local.pop(name, None)
                continue
            if mine_body is None:
                mine_body = read_local(self.hq, name)
                assert mine_body is not None
            if name == REGISTRY:
                merged = merge_registries(mine_body, body)
                write_local(self.hq, name, merged)
                files[name] = {"generation": gen, "sha256": digest, "sig": None}
                result.merged.append(name)
                local.pop(name, None)
                continue
            self._keep_aside(name, gen, result, "changed here and on another node")
            write_local(self.hq, name, body)
            files[name] = {"generation": gen, "sha256": digest, "sig": _sig(self.hq, name)}
            local.pop(name, None)
        for name in sorted(set(local_names(self.hq)) | set(heads)):
            mine_body, mine = here(name)
            if mine is None:
                continue
            head = heads.get(name)
            agreed = files.get(name, {})
            if head is not None and head[1] == mine:  # the same bytes: agreed, nothing to write
                files[name] = {"generation": head[0], "sha256": mine, "sig": sigs.get(name)}
                continue
            if mine == agreed.get("sha256") and head is not None and head[0] >= int(agreed.get("generation", 0)):
                continue
            to_publish[name] = mine_body if mine_body is not None else (read_local(self.hq, name) or b"")
        published: dict[str, dict[str, Any]] = {}
        at = self.clock.now().timestamp()
        for name, body in to_publish.items():
            digest, sig = sha256(body), sigs.get(name)
            published[name] = {"generation": tx.put(name, digest, body, self.node, at), "sha256": digest, "sig": sig}
            result.published.append(name)
        return result, published

    def _keep_aside(self, name: str, gen: int, result: SyncResult, why: str, level: int = logging.ERROR) -> None:
        """This directory's copy of ``name``, about to be replaced by the store's, kept beside it."""
        aside = self.hq.root / f"{name}{CONFLICT}{gen}"
        write_atomic(aside, read_local(self.hq, name) or b"")
        result.conflicts.append(name)
        log.log(level, "shared file %s %s: the store's copy is taken, this directory's is kept at %s", name, why, aside)

    @contextmanager
    def edit(self) -> Iterator[None]:
        """Around a writer: the newest files first (so it changes the newest), published after."""
        self.sync()
        yield
        try:
            self.sync()
        except StorageFailed as e:  # written here: the next step of any process of this directory publishes it
            log.warning("shared files not published yet (%s): the next sync publishes them", e.message)


def _node_name(hq: HqDir) -> str:
    try:
        data = json.loads((hq.root / "node.json").read_text("utf-8"))
        if isinstance(data, dict) and isinstance(data.get("node"), str):
            return str(data["node"])
    except (OSError, ValueError):
        pass
    return f"{socket.gethostname()}:{os.getpid()}"


def store_dsn(hq: HqDir, store_url: str | None = None) -> str | None:
    """The PostgreSQL store this directory shares its files through: ``store_url``, else
    election.toml's ``[hq] store``; None on SQLite."""
    if store_url is None:
        try:
            store_url = hq.config().hq_store
        except (OSError, StorageFailed):
            return None
    url = parse_store_url(store_url)
    return url.dsn if url.backend == "postgresql" else None


def for_hq(hq: HqDir, store_url: str | None = None, node: str | None = None,
           clock: Clock | None = None) -> SharedFiles | None:
    dsn = store_dsn(hq, store_url)
    return SharedFiles(hq, dsn, node, clock) if dsn else None


@contextmanager
def edit(hq: HqDir, store_url: str | None = None) -> Iterator[None]:
    """A writer's change of shared files (``SharedFiles.edit``), or nothing on SQLite. The store
    unreachable before the change: ``StoreUnreachable`` and nothing is changed."""
    shared = for_hq(hq, store_url)
    if shared is None:
        yield
        return
    try:
        with shared.edit():
            yield
    finally:
        shared.close()


def publish(hq: HqDir, store_url: str | None = None) -> SyncResult | None:
    """After a writer that could not be wrapped (roll import/publish): one step now; a store that
    cannot be reached is logged, and the next step of any process of this directory publishes."""
    shared = for_hq(hq, store_url)
    if shared is None:
        return None
    try:
        return shared.sync()
    except StorageFailed as e:
        log.warning("shared files not published yet (%s): the next sync publishes them", e.message)
        return None
    finally:
        shared.close()
