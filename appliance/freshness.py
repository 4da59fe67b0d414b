"""Freshness of the terminal store (記録の巻き戻し検知): a copy of the journal head kept elsewhere.

SQLCipher keeps a copied disk secret; it does not keep the store *fresh*. Without a key, copying an
older ``store.db`` onto a closed terminal, or deleting ``store.db-wal`` after the sync agent was
killed, erases offline check-ins, and the chain still verifies (it is a shorter, valid chain). So
the head of the journal (seq and chain hash of the last committed entry) is also kept in a *head
record* that a copy of the store directory does not carry, and every open compares the two.

Rules kept here:
- Where: ``$MEIBO_HEAD_DIR`` (default ``$XDG_STATE_HOME/meibo/heads``, else
  ``~/.local/state/meibo/heads``); the appliance image points it at a partition other than the one
  holding TDIR. A head directory inside TDIR is refused (``head_dir_in_tdir``): a copy would carry it.
  The record's name is a hash of election, terminal and the store's random instance id
  (``journal.META_INSTANCE``), not of the TDIR path, so an old copy restored to another path
  still meets the same record, and a re-enrolled terminal (a new store) starts a new one.
- When written: after every committed journal append, through ``Store.after_commit`` (the commit
  was fsynced first), by whichever process appended. So the record is never ahead of what the
  store durably holds. A crash between the commit and the record write leaves the record one
  transaction *behind*, which is fine: a store at or ahead of the record opens.
- When checked: every ``Terminal`` open (kiosk, sync agent, ``meibo terminal verify|run|checkin``).
  The record is read *before* the store's head, so a concurrent append by another process can
  only make the store look newer, never older. Store head below the record's seq, or a different
  chain hash at the record's seq: ``StoreRolledBack`` (code ``store_rolled_back``), and the terminal
  does not open. Store ahead: the record is advanced, after fsyncing ``store.db`` and its WAL (what
  a killed process left in the page cache is made durable before the record claims it).
- The file: two 64-byte slots written alternately in place (``pwrite`` + ``fdatasync``), each
  with a checksum; the higher valid slot counts, so a torn write loses at most the newest head.
  ``flock`` serialises processes and a slot is only ever overwritten with a higher seq.
- A missing (or empty) record is created from the store as found: trust on first use, needed for
  a newly enrolled terminal, a store from before this check, or a terminal moved to new hardware.
  A record with no valid slot is refused (``head_record_corrupt``): only tampering does that.

What this cannot detect (docs/security.md):
- Someone who rolls back, restores or deletes the head record together with the store (the same
  root on the same machine can do both; a record kept on the enrollment card would stop that, see
  below). Deleting the record is accepted as "first use".
- Entries committed after the last record update: when the process dies between the commit and
  the record write (one transaction), or when the record's own write did not reach the disk before
  a power cut (we fdatasync it, so only the last append). A later rollback to exactly that point looks honest.
- A different store with its own instance id (a freshly made one). An encrypted store can only
  be made with the terminal's data key, so that needs the PIN (and card); HQ's WELCOME check then
  refuses a journal that does not hold what HQ acknowledged (``hq_journal_mismatch``,
  sync_protocol/session.py), which also covers everything above once the terminal connects.
Not done: a monotonic head counter on the enrollment card (provisioning/applet.py). The card is in
the reader only while a station opens, not on every append, so it could hold the head as of the
last close, not the live one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

from appliance import journal
from ground.errors import ApplianceError, UsageError
from appliance.store import Store

HEAD_DIR_ENV = "MEIBO_HEAD_DIR"
_MAGIC = b"MBH1"
_BODY = struct.Struct(">4sQ32s")  # magic, seq, chain hash
_CHECK = 16
SLOT = 64


class StoreRolledBack(ApplianceError):
    """The store holds less (or other) than it held before: stop check-ins, call HQ."""

    code = "store_rolled_back"
    alarm = True  # shown in red (cli/main.py)


class HeadRecordCorrupt(ApplianceError):
    code = "head_record_corrupt"
    alarm = True


class HeadRecordUnwritable(ApplianceError):
    code = "head_record_unwritable"


@dataclass(frozen=True)
class FreshnessSettings:
    base: Path | None = None  # None: $MEIBO_HEAD_DIR, $XDG_STATE_HOME/meibo/heads, ~/.local/state/meibo/heads
    sync: bool = True  # fdatasync the record after each write


DEFAULT_SETTINGS = FreshnessSettings()


def head_dir(settings: FreshnessSettings = DEFAULT_SETTINGS) -> Path:
    if settings.base is not None:
        return settings.base
    env = os.environ.get(HEAD_DIR_ENV)
    if env:
        return Path(env)
    state = os.environ.get("XDG_STATE_HOME")
    return (Path(state) if state else Path.home() / ".local" / "state") / "meibo" / "heads"


def record_name(election_id: str, terminal: str, instance: str) -> str:
    h = hashlib.blake2b(f"{election_id}\0{terminal}\0{instance}".encode("utf-8"), digest_size=16,
                        person=b"meibo-head")
    return f"{h.hexdigest()}.head"


def _pack(seq: int, digest: bytes) -> bytes:
    body = _BODY.pack(_MAGIC, seq, digest)
    return (body + hashlib.blake2b(body, digest_size=_CHECK).digest()).ljust(SLOT, b"\0")


def _unpack(raw: bytes) -> journal.Head | None:
    if len(raw) < _BODY.size + _CHECK:
        return None
    body, check = raw[:_BODY.size], raw[_BODY.size:_BODY.size + _CHECK]
    if hashlib.blake2b(body, digest_size=_CHECK).digest() != check:
        return None
    magic, seq, digest = _BODY.unpack(body)
    return journal.Head(seq, digest, 0) if magic == _MAGIC else None


class HeadRecord:
    """One store's head record file (see the module docstring). ``advance`` only ever raises it."""

    def __init__(self, path: Path, settings: FreshnessSettings = DEFAULT_SETTINGS) -> None:
        self.path = path
        self.settings = settings
        self.last_error: OSError | None = None  # a post-commit write that failed (record behind)
        self._lock = threading.Lock()  # flock does not exclude threads sharing this descriptor
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            existed = path.exists()
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
            if not existed:
                dfd = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
        except OSError as e:
            raise HeadRecordUnwritable(f"記録の確認用ファイルを開けません: {path} ({e.strerror})") from None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _slots(self) -> list[journal.Head | None]:
        raw = os.pread(self._fd, 2 * SLOT, 0)
        if not raw.strip(b"\0"):
            return []  # new, or created by a process that died before its first write
        slots = [_unpack(raw[0:SLOT]), _unpack(raw[SLOT:2 * SLOT])]
        if slots == [None, None]:
            raise HeadRecordCorrupt(f"記録の確認用ファイルが壊れています: {self.path}。"
                                    "この端末での受付を止め、本部に連絡してください")
        return slots

    def read(self) -> journal.Head | None:
        """The highest head recorded (``hlc`` is 0: not kept), or None for a new record."""
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            try:
                got = [s for s in self._slots() if s is not None]
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        return max(got, key=lambda h: h.seq) if got else None

    def advance(self, seq: int, digest: bytes) -> None:
        """Record (seq, digest) if it is above what is recorded; the other slot keeps the previous."""
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                try:
                    slots = self._slots()
                except HeadRecordCorrupt:
                    slots = []  # refused at open; overwriting it here is what a re-check would see
                valid = [(i, s) for i, s in enumerate(slots) if s is not None]
                if valid:
                    i, top = max(valid, key=lambda p: p[1].seq)
                    if seq <= top.seq:
                        return  # another process got there first (or this one is late)
                    slot = 1 - i
                else:
                    slot = 0
                os.pwrite(self._fd, _pack(seq, digest), slot * SLOT)
                if self.settings.sync:
                    os.fdatasync(self._fd)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def after_commit(self, h: journal.Head) -> None:
        """The journal watcher: the commit already happened, so a failure here must not look like
        a failed check-in; it leaves the record behind (safe) and is kept in ``last_error``."""
        try:
            self.advance(h.seq, h.hash)
            self.last_error = None
        except OSError as e:
            self.last_error = e


def _fsync_store(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            fd = os.open(p, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def rolled_back_message(had: int, has: int) -> str:
    return (f"端末の記録が巻き戻っています（記録 {had} 番まであったはずが {has} 番まで）。"
            "この端末での受付を止め、本部に連絡してください")


def replaced_message(seq: int) -> str:
    return (f"端末の記録が差し替えられています（記録 {seq} 番の内容が以前と違います）。"
            "この端末での受付を止め、本部に連絡してください")


def check(store: Store, record: HeadRecord) -> journal.Head:
    """Refuse a store behind its record; advance the record to a store ahead of it. Returns the head."""
    seen = record.read()  # first: a concurrent append can then only make the store look newer
    head = journal.head(store)
    if seen is not None:
        if head.seq < seen.seq:
            raise StoreRolledBack(rolled_back_message(seen.seq, head.seq), recorded_seq=seen.seq,
                                  store_seq=head.seq, recorded_hash=seen.hash.hex())
        if journal.hash_at(store, seen.seq) != seen.hash:
            raise StoreRolledBack(replaced_message(seen.seq), recorded_seq=seen.seq, store_seq=head.seq,
                                  recorded_hash=seen.hash.hex())
    if seen is None or head.seq > seen.seq:
        try:
            _fsync_store(store.path)
            record.advance(head.seq, head.hash)
        except OSError as e:
            raise HeadRecordUnwritable(f"記録の確認用ファイルに書けません: {record.path} ({e.strerror})") from None
    return head


def guard(store: Store, tdir_root: Path, settings: FreshnessSettings = DEFAULT_SETTINGS) -> HeadRecord:
    """Open the store's head record, ``check`` it, and keep it updated on every append (``journal.watch``)."""
    base = head_dir(settings)
    root = tdir_root.resolve()
    if base.resolve() == root or base.resolve().is_relative_to(root):
        raise UsageError(f"記録の確認用ディレクトリ（{base}）が端末ディレクトリの中にあります。"
                         f"別の場所を ${HEAD_DIR_ENV} で指定してください", code="head_dir_in_tdir")
    election_id, terminal = journal.identity(store)
    inst = journal.instance(store)
    if inst is None:
        raise UsageError("記録が初期化されていません（端末の登録をやり直してください）", code="journal_uninitialised")
    record = HeadRecord(base / record_name(election_id, terminal, inst), settings)
    try:
        check(store, record)
    except BaseException:
        record.close()
        raise
    journal.watch(store, record.after_commit)
    return record
