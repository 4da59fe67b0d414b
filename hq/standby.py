"""The standby HQ node: a warm ledger tailed from the PostgreSQL store, and the take-over.

``meibo hq serve --standby`` does not claim the store. It keeps a ledger warm by reading the
events after the last ``hq_order`` it applied, a chunk at a time, and waits for the leader to be
gone. Gone is decided by the database, not by a timer alone: the leading node holds a
session-level ``pg_advisory_lock(LEAD_LOCK)`` on a connection of its own (``LeadLock``), and the
server releases it the moment that connection or its process dies (a SIGKILLed HQ, a machine
that lost power, a promoted standby database, which holds no lock of the old primary). The
standby watches the lock on its own connection and takes it (``pg_try_advisory_lock``) only once
it has been free for ``grace_s``: a database restart or failover ends *every* session, the live
leader's too, and its keeper takes the lock again within one poll (HqSettings.lead_lock_poll_s),
so a standby polling faster must not win that race and fail over from a healthy leader. Once it
holds the lock it claims the store (epoch + 1, hq/store_db.py), catches up the tail and only then
opens its listener, so the terminals' failover (sync_protocol/hq_nodes.py) finds a node that
already leads.

Why this is safe with the fence: the lock says only *when* to take over, never *who may write*.
Exactly one node gives verdicts because every write checks the leadership row's epoch in its own
transaction (store_pg.py ``_fenced``). A leader that lost its lock but is still alive (its
connection cut, the database failed over under it) and writes again finds the standby's newer
epoch and is ``Fenced`` with nothing written; a claim waits for a write in flight, so nothing the
old leader committed is missed by the catch-up that follows the claim. Two nodes that both
believe they lead cost one of them (the older epoch stops); they can never both acknowledge.

A dead database machine (a pulled cable, no FIN) is noticed within seconds, not the kernel's two
hours: the lock's connection carries libpq's TCP keepalives and ``tcp_user_timeout`` (``KEEPALIVES``,
client side: the leader's keeper and the standby's tail see the server gone) and sets the same on
the server's side of the session (``SERVER_KEEPALIVES``: the database releases the lock of a leader
whose machine lost power within ~15 s, so the standby can take over). A DBA's own values in the
DSN win. (The constants and ``with_keepalives`` live in store_pg.py: the store's own connections
carry the same.) A drop between the claim and the catch-up (``take_over``) is retried with back-off until
the store answers again or another node has claimed it since (``Fenced``: the epoch decides).

The HQ directory's changing files (the registry, the CRL, the rolls: hq/shared_files.py) are
pulled when the standby starts and every ``files_poll_s`` while it waits; the node it becomes
pulls them once more when it opens its store, before its listener opens.

The tail reads refusals after each page of events: a batch's refusals are committed in the same
transaction as its events, so a page's verdicts replay as they were decided (``Ledger.decided``).

Layer: hq. Never imports the screens, the CLI or the tooling (lint-imports checks it).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from appliance.dirs import HqDir
from ground.errors import UsageError
from ground.events import decode_batch
from hq.ledger import Alarm, Ledger
from hq.screen import UNKNOWN_STATION
from hq.store import REPLAY_CHUNK, HqStore
from hq.store_db import Fenced, StoreUnreachable, redact
from hq.store_pg import KEEPALIVES as KEEPALIVES, SERVER_KEEPALIVES, with_keepalives
from ground.model import TerminalId

log = logging.getLogger("meibo.hq.standby")
LEAD_LOCK = 0x6D6569626F48  # pg_advisory_lock key of the leading node: "meiboH"


@dataclass(frozen=True)
class StandbySettings:
    poll_s: float = 0.2  # how often the standby looks at the lock and reads the tail
    grace_s: float = 1.5  # the lock free this long before it is taken: > the leader's re-take poll (0.5 s)
    chunk: int = REPLAY_CHUNK
    retry_first_s: float = 0.2  # take_over's back-off while the store is unreachable: doubled each time
    retry_max_s: float = 5.0
    files_poll_s: float = 1.0  # how often the shared files (hq/shared_files.py) are pulled while waiting


class LeadLock:
    """The leader's advisory lock on a connection of its own. Thread-safe; every call is short."""

    def __init__(self, dsn: str) -> None:
        self.dsn = with_keepalives(dsn)
        self._mutex = threading.Lock()
        self._c: psycopg.Connection[Any] | None = None
        self.held = False

    def _conn(self) -> psycopg.Connection[Any]:
        c = self._c
        if c is not None and not c.closed and not c.broken:
            return c
        self._c, self.held = None, False  # a new session holds no lock of the old one
        try:
            c = psycopg.connect(self.dsn, autocommit=True)
            unset = c.execute("SELECT name FROM pg_settings WHERE name = ANY(%s) AND source = 'default'",
                              (list(SERVER_KEEPALIVES),)).fetchall()  # a DBA's own (options=-c ...) win
            for (name,) in unset:
                c.execute("SELECT set_config(%s, %s, false)", (name, str(SERVER_KEEPALIVES[name])))
        except psycopg.OperationalError as e:
            raise StoreUnreachable(f"本部のデータベースに接続できません: {redact(self.dsn)}",
                                   code="store_unreachable") from e
        self._c = c
        return c

    def take(self) -> bool:
        """Hold the lock now if nobody else does; True while it is ours. A lost session (the
        server restarted, the primary promoted) lost the lock with it: taken again if free."""
        with self._mutex:
            try:
                c = self._conn()
                if self.held:  # re-entrant locks would count up: only check the session lives
                    c.execute("SELECT 1")
                    return True
                row = c.execute("SELECT pg_try_advisory_lock(%s)", (LEAD_LOCK,)).fetchone()
                self.held = bool(row and row[0])
                return self.held
            except psycopg.Error as e:
                self._drop()
                raise StoreUnreachable(f"本部のデータベースとの接続が切れました（主系ロック）: {e}",
                                       code="store_unreachable") from e

    def free(self) -> bool:
        """Whether no session holds the lock, without asking for it (pg_locks: a bigint key is
        classid = high 32 bits, objid = low 32 bits, objsubid 1)."""
        with self._mutex:
            try:
                row = self._conn().execute(
                    "SELECT NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND classid = %s AND objid = %s AND objsubid = 1)",
                    (LEAD_LOCK >> 32, LEAD_LOCK & 0xFFFFFFFF)).fetchone()
            except psycopg.Error as e:
                self._drop()
                raise StoreUnreachable(f"本部のデータベースとの接続が切れました（主系ロック）: {e}",
                                       code="store_unreachable") from e
        return bool(row and row[0])

    def tail(self, after: int, chunk: int) -> list[tuple[int, bytes]]:
        """The events after ``after`` in hq_order, one page (one writer appends: no gaps)."""
        with self._mutex:
            try:
                rows = self._conn().execute(
                    "SELECT hq_order, body FROM events WHERE hq_order > %s ORDER BY hq_order LIMIT %s",
                    (after, chunk), binary=True).fetchall()
            except psycopg.Error as e:
                self._drop()
                raise StoreUnreachable(f"本部のデータベースとの接続が切れました（追従）: {e}",
                                       code="store_unreachable") from e
        return [(int(o), bytes(b)) for o, b in rows]

    def _drop(self) -> None:
        c, self._c, self.held = self._c, None, False
        if c is not None:
            try:
                c.close()
            except psycopg.Error:
                pass

    def close(self) -> None:
        """Release the lock (closing the session releases it)."""
        with self._mutex:
            self._drop()


class Standby:
    """A node that does not lead yet: its ledger follows the store until it takes over."""

    def __init__(self, hq: HqDir, store_url: str | None = None, settings: StandbySettings = StandbySettings(),
                 ledger_cls: type[Ledger] = Ledger) -> None:
        self.settings = settings
        # never claims: reads only (and pulls the shared files: hq/shared_files.py)
        self.store = HqStore(hq, store_url=store_url, share_files=True)
        if self.store.url.backend != "postgresql":
            self.store.close()
            raise UsageError("待機系（--standby）は PostgreSQL の本部記録（--store）でだけ使えます",
                             code="standby_needs_postgresql")
        self.lock = LeadLock(self.store.url.dsn)
        self.ledger = ledger_cls(self.store.config.election_id)
        self.store.screening(self.ledger)
        self.store.refresh_registry(self.ledger)
        self.applied = 0  # hq_order of the last event in the ledger
        # take_over's hook, called after the claim and before the catch-up (tests cut the store there)
        self.before_catch_up: Callable[[], None] | None = None
        self.before_retry: Callable[[], None] | None = None  # a test's seam: runs before each retry's wait
        self.retried = threading.Event()  # set once take_over has met an unreachable store
        self.catch_up()

    def catch_up(self, store: HqStore | None = None) -> int:
        """Apply every event stored after the last applied; how many were applied. ``store``
        reads the registry and refusals (the standby's own until it takes over)."""
        store = store or self.store
        gc_was_on = gc.isenabled()
        gc.disable()  # the first catch-up is a whole replay: why, in HqStore.load
        try:
            return self._catch_up(store)
        finally:
            if gc_was_on:
                gc.enable()

    def _catch_up(self, store: HqStore) -> int:
        n = 0
        while rows := self.lock.tail(self.applied, self.settings.chunk):
            evs = decode_batch([body for _, body in rows])
            store.refresh_registry(self.ledger)
            for ev in evs:  # enrolled then removed from the registry (as HqStore.load does)
                if ev.terminal not in self.ledger.terminals:
                    self.ledger.register(ev.terminal, UNKNOWN_STATION, b"")
            self.ledger.decided = store.decisions()  # read after the page: its refusals are in
            try:
                self.ledger.apply_all(evs)
            finally:
                self.ledger.decided = None
            self.applied = rows[-1][0]
            n += len(evs)
        return n

    async def wait_for_lead(self) -> None:
        """Follow the store until the lead lock is ours: free for ``grace_s`` (module doc), then taken."""
        loop = asyncio.get_running_loop()
        free_since: float | None = None
        files_at = loop.time()
        while True:
            if loop.time() - files_at >= self.settings.files_poll_s:  # the files warm too (module doc)
                files_at = loop.time()
                await asyncio.to_thread(self.store.sync_files)
            try:
                if await asyncio.to_thread(self.lock.free):
                    free_since = loop.time() if free_since is None else free_since
                    if loop.time() - free_since >= self.settings.grace_s and await asyncio.to_thread(self.lock.take):
                        log.warning("the leading HQ node's lock has been free %.1f s: this standby takes over",
                                    loop.time() - free_since)
                        return
                else:
                    free_since = None  # a leader holds it (again)
                await asyncio.to_thread(self.catch_up)
            except StoreUnreachable as e:  # the database failing over: try again on the next poll
                free_since = None  # a leader reconnecting gets its grace from the database's return
                log.info("standby: store unreachable, retrying: %s", e.message)
            await asyncio.sleep(self.settings.poll_s)

    def take_over(self, store: HqStore) -> Ledger:
        """HqNode's hook, called right after its claim: the tail caught up (nothing can be
        committed behind the claim), screened by the node's own store, and the open alarms.
        The node's store reads: the standby's own session may have died with the old primary.
        An unreachable store is retried with back-off (logged) until it answers, unless another
        node has claimed it meanwhile: then ``Fenced``, and this node never serves."""
        if self.before_catch_up is not None:
            self.before_catch_up()
        delay, attempt = self.settings.retry_first_s, 0
        while True:
            try:
                if attempt:
                    store.db.check_fence()  # reachable again: do we still lead?
                return self._take_over(store)
            except StoreUnreachable as e:
                attempt += 1
                log.warning("standby take-over: store unreachable after the claim (attempt %d), retrying in "
                            "%.1f s: %s", attempt, delay, e.message)
                self.retried.set()
                if self.before_retry is not None:
                    self.before_retry()
                time.sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
            except Fenced:
                log.warning("standby take-over: another HQ node claimed the store meanwhile; this node stops")
                raise

    def _take_over(self, store: HqStore) -> Ledger:
        ledger = self.ledger
        store.screening(ledger)  # the node's roll: this store's is closed below
        store.refresh_registry(ledger)
        self.catch_up(store)
        for terminal, seq, reason, held, offered in store.db.open_alarms():
            if terminal in ledger.terminals:
                ledger.raise_alarm(Alarm(TerminalId(terminal), seq, reason, held, offered))
        self.store.close()
        return ledger
