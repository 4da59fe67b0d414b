"""The terminal's check-in journal (受付記録): append-only, hash-chained, fsynced.

Entries live in the store's ``journal`` table: ``seq`` (1, 2, 3 … no gaps), ``hlc``, ``kind``,
``body`` (the event's canonical encoding, ground.events) and ``hash`` =
SHA-256(previous hash || body), the first entry chained to ``genesis_hash(election, terminal)``.

Rules kept here:
- ``append`` runs inside the caller's ``Store.atomic()`` transaction (``BEGIN IMMEDIATE``): the last
  seq and hash are read inside that same write transaction, so two processes appending to one
  terminal directory serialise and can never write two different entries with one seq (a fork).
  The hybrid-logical-clock timestamp is drawn there too, after observing the last entry's, so
  timestamps increase along the chain even across processes.
- An entry is never updated or deleted; a correction is a new entry (``void``, ``withheld``).
- Every committed append tells the store's head watcher (``watch``; appliance/freshness.py keeps
  a copy of the head outside the store directory) *after* the commit, so the copy is never ahead.
- ``verify`` trusts nothing in the table: it decodes every body, checks the seq continuity, the
  canonical form, that the columns agree with the body, and the hash chain, and names the first
  broken entry.

Imports the store's connection type only; never the network, the UI or the roll importer.
"""

from __future__ import annotations

import os
import sqlite3
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ground.errors import JournalCorrupt, UsageError
from ground.events import Event, EventKind, chain_hash, decode, genesis_hash, validate
from ground.hlc import HybridClock
from ground.model import TerminalId
from appliance.store import Store

META_ELECTION = "journal.election"
META_TERMINAL = "journal.terminal"
META_INSTANCE = "journal.instance"  # random per store: names its head record (appliance/freshness.py)


@dataclass(frozen=True)
class Head:
    seq: int  # 0 when the journal is empty
    hash: bytes  # the genesis hash when empty
    hlc: int  # 0 when empty


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    entries: int  # entries checked and found sound (before the first broken one)
    head: Head  # the last sound entry
    first_broken: int | None = None  # seq of the first broken entry
    problem: str = ""  # Japanese: what is wrong with it
    code: str = "ok"  # ok | journal_corrupt

    def raise_if_broken(self) -> None:
        if not self.ok:
            raise JournalCorrupt(self.problem, first_broken=self.first_broken)


def init(store: Store, election_id: str, terminal: TerminalId, *,
         randbytes: Callable[[int], bytes] = os.urandom) -> None:
    """Bind a store's journal to one election and terminal (at enrollment). Idempotent.

    Also gives the store a random instance id (``META_INSTANCE``) if it has none yet (a store
    made before it existed gets one at its next open)."""
    have_e, have_t = store.get_meta(META_ELECTION), store.get_meta(META_TERMINAL)
    if have_e is not None or have_t is not None:
        if (have_e, have_t) != (election_id, terminal):
            raise UsageError(f"この記録は別の選挙・端末のものです（{have_e} / {have_t}）", code="journal_identity")
        if store.get_meta(META_INSTANCE) is not None:
            return
    with store.atomic() as conn:
        if have_e is None:
            store.set_meta(conn, META_ELECTION, election_id)
            store.set_meta(conn, META_TERMINAL, terminal)
        if conn.execute("SELECT 1 FROM meta WHERE key=?", (META_INSTANCE,)).fetchone() is None:
            store.set_meta(conn, META_INSTANCE, randbytes(16).hex())


def instance(store: Store) -> str | None:
    """The store's random instance id (None before ``init``)."""
    return store.get_meta(META_INSTANCE)


_IDENTITY: "weakref.WeakKeyDictionary[Store, tuple[str, TerminalId]]" = weakref.WeakKeyDictionary()


def identity(store: Store) -> tuple[str, TerminalId]:
    """(election, terminal) the journal is bound to; cached, since ``init`` never changes it."""
    got = _IDENTITY.get(store)
    if got is not None:
        return got
    e, t = store.get_meta(META_ELECTION), store.get_meta(META_TERMINAL)
    if e is None or t is None:
        raise UsageError("記録が初期化されていません（端末の登録をやり直してください）", code="journal_uninitialised")
    _IDENTITY[store] = (e, TerminalId(t))
    return e, TerminalId(t)


def _head(conn: sqlite3.Connection, election_id: str, terminal: str) -> Head:
    row = conn.execute("SELECT seq, hash, hlc FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    if row is None:
        return Head(0, genesis_hash(election_id, terminal), 0)
    return Head(int(row[0]), bytes(row[1]), int(row[2]))


def head(store: Store) -> Head:
    e, t = identity(store)
    return _head(store.conn, e, t)


def hash_at(store: Store, seq: int) -> bytes | None:
    """The chain hash of entry ``seq`` as stored (the genesis hash for 0; None beyond the head)."""
    if seq == 0:
        e, t = identity(store)
        return genesis_hash(e, t)
    row = store.conn.execute("SELECT hash FROM journal WHERE seq=?", (seq,)).fetchone()
    return bytes(row[0]) if row else None


_WATCHERS: "weakref.WeakKeyDictionary[Store, Callable[[Head], None]]" = weakref.WeakKeyDictionary()


def watch(store: Store, fn: Callable[[Head], None] | None) -> None:
    """Call ``fn(new head)`` after every committed append to ``store`` by this process (None: stop)."""
    if fn is None:
        _WATCHERS.pop(store, None)
    else:
        _WATCHERS[store] = fn


def append(store: Store, conn: sqlite3.Connection, kind: EventKind, data: Mapping[str, Any],
           hlc: HybridClock) -> Event:
    """Append one entry inside the caller's ``store.atomic()`` block (``conn`` is its connection).

    The entry is durable only when that block commits; if it raises, nothing was appended.
    """
    if not conn.in_transaction:
        raise RuntimeError("journal.append must run inside Store.atomic()")
    election_id, terminal = identity(store)
    h = _head(conn, election_id, terminal)
    hlc.observe(h.hlc)  # another process may have appended with a later clock
    ev = validate(Event(kind, h.seq + 1, hlc.tick(), terminal, dict(data)))
    body = ev.encode()
    digest = chain_hash(h.hash, body)
    conn.execute("INSERT INTO journal(seq, hlc, kind, body, hash) VALUES(?, ?, ?, ?, ?)",
                 (ev.seq, ev.hlc, ev.kind.value, body, digest))
    fn = _WATCHERS.get(store)
    if fn is not None:  # after COMMIT only; the last append of the transaction wins
        new = Head(ev.seq, digest, ev.hlc)
        store.after_commit("journal.head", lambda: fn(new))
    return ev


def entry(store: Store, seq: int, conn: sqlite3.Connection | None = None) -> Event | None:
    row = (conn or store.conn).execute("SELECT body FROM journal WHERE seq=?", (seq,)).fetchone()
    return decode(bytes(row[0])) if row else None


def entries_after(store: Store, seq: int, limit: int = 500) -> list[Event]:
    """Entries with seq > ``seq`` in order (at most ``limit``): what sync sends next."""
    rows = store.conn.execute("SELECT body FROM journal WHERE seq>? ORDER BY seq LIMIT ?", (seq, limit))
    return [decode(bytes(r[0])) for r in rows]


def raw_entries_after(store: Store, seq: int, limit: int = 500) -> list[tuple[int, bytes, bytes]]:
    """(seq, body, hash) exactly as stored, for shipping the chain as written."""
    rows = store.conn.execute("SELECT seq, body, hash FROM journal WHERE seq>? ORDER BY seq LIMIT ?", (seq, limit))
    return [(int(r[0]), bytes(r[1]), bytes(r[2])) for r in rows]


def verify(store: Store, election_id: str, terminal: str) -> VerifyReport:
    """Check every entry of the chain; the report names the first broken one."""
    prev = Head(0, genesis_hash(election_id, terminal), 0)
    count = 0
    cur = store.conn.execute("SELECT seq, hlc, kind, body, hash FROM journal ORDER BY seq")

    def broken(seq: int, problem: str) -> VerifyReport:
        return VerifyReport(False, count, prev, seq, f"受付記録 {seq} 番が壊れています: {problem}", "journal_corrupt")

    for seq, hlc, kind, body, digest in cur:
        expected = prev.seq + 1
        if seq != expected:
            return broken(expected, f"{expected} 番が見つかりません（次は {seq} 番）")
        body = bytes(body) if isinstance(body, (bytes, memoryview)) else str(body).encode("utf-8")
        try:
            ev = decode(body)
        except JournalCorrupt as e:
            return broken(seq, f"内容を読めません（{e.message}）")
        if ev.seq != seq:
            return broken(seq, f"内容の番号が {ev.seq} になっています")
        if ev.terminal != terminal:
            return broken(seq, f"別の端末（{ev.terminal}）の記録です")
        if ev.kind.value != kind or ev.hlc != hlc:
            return broken(seq, "一覧の項目と内容が一致しません")
        if ev.hlc <= prev.hlc:
            return broken(seq, "時刻が前の記録より後になっていません")
        h = chain_hash(prev.hash, body)
        if bytes(digest) != h:
            return broken(seq, "ハッシュ連鎖が一致しません（改ざんまたは破損）")
        prev = Head(seq, h, ev.hlc)
        count += 1
    return VerifyReport(True, count, prev)
