"""Where the console's data and actions come from (the I/O edge of the console; no kivy).

Two ways to reach HQ, one interface (``snapshot()`` + the presenter's ``ConsoleBackend``):

- ``LocalHq``: the console runs the ``HqNode`` itself on the same asyncio loop. The ledger is
  only ever touched on the loop's thread (the node's rule). Actions use the very code path of
  the admin socket (``node.admin``), so there is one writer and one order.
- ``RemoteHq``: HQ is serving in another process. Once a second the console asks the admin
  socket for its report (online terminals) and follows HQ's store (hq.db, SQLite WAL: readers
  never block the writer; or PostgreSQL) through ``HqStore``'s reads, applying new events by
  ``hq_order`` to its own ``RecordsLedger``; actions go through the admin socket. Nothing here
  ever writes HQ's records.

Incremental (``live.LiveRecords``): neither rebuilds the figures from every event each second.
Both read only the events after their cursor in ``hq_order`` (HQ's ingest order; rows are
committed in the order the ledger applied them, so every committed row is already in the node's
ledger) and move the aggregates those events touch. The reading is done on a worker thread with
its own connection (read-only on hq.db; a session of its own on PostgreSQL); ``LocalHq`` then
applies the rows on the loop (the ledger's thread) in slices of ``FollowSettings.slice_rows``,
yielding to the window between slices, so a console opened on a million stored events stays
responsive while it catches up.

Revocation is the ``meibo hq revoke`` command's own code (registry + CRL); the running node
re-reads the registry at once (local) or within half a second (remote).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ground.clock import Clock, clock_from_arg
from appliance.dirs import HqDir
from ground.errors import HqUnreachable, MeiboError
from ground.events import decode
from ground.model import StationId, TerminalId
from hq.store import HqStore, open_db
from hq.store_db import ChangeRow, HqDb, Leader
from hq.store_sqlite import changes_after
from hq.ledger import Alarm
from hq.records import ConsoleData, HqFacts, RecordsLedger
from hq.roll import publish
from hq.server import ADMIN_SOCKET, HqNode
from hq import terminals as hq_terminals
from hq.admin_client import ask_admin
from hq.rehearsal_report import status as rehearsal_status
from ui_kivy.console.age import AgeChecks, AgeRow, age_rows
from ui_kivy.console.live import BODY_KINDS, Change, LiveRecords


def revoke_terminal(hq: HqDir, terminal: str, reason: str, now: str | None = None) -> dict[str, Any]:
    """``meibo hq revoke`` itself: registry first (refused at once), then the CRL when the CA key is here."""
    return hq_terminals.revoke_terminal(hq.root, terminal, reason, clock_from_arg(now), now)


def publish_roll(hq: HqDir, clock: Clock, full: bool) -> dict[str, Any]:
    res = publish(hq, None, clock, full=full)
    m = res.manifest
    return {"code": "ok", "version": m.version, "kind": m.kind, "rows": m.row_count, "file": str(res.path)}


def _revoked_reasons(store: HqStore) -> dict[str, str]:
    return {t: r.reason for t, r in store.registry.items() if r.revoked}


@dataclass(frozen=True)
class FollowSettings:
    read_rows: int = 50_000  # events read from the store per trip to the reader thread
    slice_rows: int = 1_000  # events applied on the loop between two yields to the window (~20 ms)
    per_refresh: int = 200_000  # at most this many a refresh: a console opened on a long day shows
    # the first figures at once and fills in, saying so, instead of a blank screen for a minute


_BODY_KINDS = tuple(sorted(BODY_KINDS))


def as_changes(rows: Sequence[ChangeRow]) -> list[tuple[int, Change]]:
    """Stored rows as the console needs them (bodies only for markers and 交付数: a check-in is
    all in the stored columns)."""
    out = []
    for order, terminal, seq, hlc, kind, body in rows:
        data = decode(bytes(body)).data if body is not None else {}
        out.append((order, Change(kind, terminal, seq, hlc, data)))
    return out


def read_changes(conn: sqlite3.Connection, after: int, limit: int) -> list[tuple[int, Change]]:
    """Events after ``after`` in ``hq_order`` from a connection to hq.db."""
    return as_changes(changes_after(conn, after, limit, _BODY_KINDS))


def rehearsal_figures(hq: HqDir) -> dict[str, Any] | None:
    """HQ's rehearsal (hq/rehearsal_report.py ``status``) while its switch is on, else None: the
    header marks every page 試験 and shows the test ledger's figures apart from the real ones."""
    try:
        st = rehearsal_status(hq)
    except (MeiboError, OSError, sqlite3.Error):
        return None
    return st if st.get("on") else None


def _leader(leader: Leader) -> tuple[str, float] | None:
    return (leader.node, leader.since) if leader.node else None


class LocalHq:
    """The console and the HQ node in one process, on one loop."""

    LINK = "本部サーバをこの画面で起動中"

    def __init__(self, node: HqNode, clock: Clock, settings: FollowSettings = FollowSettings()) -> None:
        self.node = node
        self.clock = clock
        self.settings = settings
        self.link = self.LINK
        self.rehearsal: dict[str, Any] | None = None  # rehearsal_figures, at each snapshot
        self.age_checks: list[AgeRow] = []  # 年齢確認: voters whose 不詳 birth date needs an ID check
        self._ages = AgeChecks(node.hq)
        self.caught_up = False
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="console-read")
        self._conn: sqlite3.Connection | None = None
        self._db: HqDb | None = None  # PostgreSQL: the reader's own session
        self._ledger: Any = None
        self._live = LiveRecords(node.store.config)
        self._cursor = 0  # hq_order of the last event the figures include
        self._lock = asyncio.Lock()

    def _read(self, after: int, limit: int) -> list[tuple[int, Change]]:
        """On the reader thread: its own read-only connection (WAL: never blocks the node's writer),
        or on PostgreSQL its own session (the node's is held by its writes)."""
        url = self.node.store.url
        if url.backend != "sqlite":
            if self._db is None:
                self._db = open_db(self.node.hq, url)
            return as_changes(self._db.changes_after(after, limit, _BODY_KINDS))
        if self._conn is None:
            uri = Path(self.node.hq.hq_db).resolve().as_uri() + "?mode=ro"  # percent-encoded: any path
            self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=30000")
        return read_changes(self._conn, after, limit)

    async def catch_up(self) -> None:
        """Bring the figures up to what the store holds (at most ``per_refresh`` events), touching
        only what is new; ``caught_up`` says whether everything committed is in."""
        node, st = self.node, self.settings
        loop = asyncio.get_running_loop()
        done = 0
        self.caught_up = False
        while done < st.per_refresh:
            if node.ledger is not self._ledger:  # first time, or HQ reloaded its ledger from disk
                self._ledger, self._live, self._cursor = node.ledger, LiveRecords(node.store.config), 0
            ledger, live = self._ledger, self._live
            rows = await loop.run_in_executor(self._pool, self._read, self._cursor, st.read_rows)
            for i in range(0, len(rows), st.slice_rows):
                if node.ledger is not ledger:
                    break  # the ledger was replaced while we yielded: start again on the new one
                part = rows[i:i + st.slice_rows]
                for _, ch in part:
                    live.observe(ledger, ch)
                self._cursor = part[-1][0]
                if len(rows) > st.slice_rows:
                    await asyncio.sleep(0)  # let the window and ingest run between slices
            done += len(rows)
            if node.ledger is ledger and len(rows) < st.read_rows:
                self.caught_up = True
                return

    async def snapshot(self) -> ConsoleData:
        self.rehearsal = await asyncio.to_thread(rehearsal_figures, self.node.hq)
        checks = await asyncio.to_thread(self._ages.read)
        async with self._lock:
            await self.catch_up()
            node = self.node
            contacts, states, rollbacks, leader = await node.io(
                lambda: (node.store.contacts(), node.store.alert_states(), tuple(node.store.rollbacks()),
                         node.store.leader()))
            ledger = self._ledger
            if node.ledger is not ledger:  # replaced during that await: next refresh starts over
                await self.catch_up()
                ledger = self._ledger
            unacked = {}
            for t, conns in node.sessions.items():
                if conns:
                    unacked[t] = max(max(0, s.sent_cursor - s.cursor) for s, _ in conns)
            facts = HqFacts(contacts, states, _revoked_reasons(node.store), frozenset(node.online()),
                            unacked_flags=unacked, rollbacks=rollbacks, leader=_leader(leader))
            data = self._live.build(ledger, facts, self.clock.now())
            self.age_checks = age_rows(checks, ledger, node.store.config)  # on the loop: the ledger's thread
            self.link = self.LINK if self.caught_up else (
                f"{self.LINK}（記録を読み込み中: {data.events:,} 件中 {self._live.observed:,} 件まで表示）")
            return data

    async def _admin(self, req: dict[str, Any]) -> dict[str, Any]:
        req.setdefault("now", self.clock.now().isoformat())
        return await self.node.admin(req)

    async def set_alert(self, alert_id: int, state: str, who: str, note: str) -> dict[str, Any]:
        return await self._admin({"op": "alert", "id": alert_id, "state": state, "who": who, "note": note})

    async def absentee(self, voter: str, contests: list[str] | None) -> dict[str, Any]:
        return await self._admin({"op": "absentee", "voter": voter, "contests": contests})

    async def revoke(self, terminal: str, reason: str) -> dict[str, Any]:
        out = await asyncio.to_thread(revoke_terminal, self.node.hq, terminal, reason, self.clock.now().isoformat())
        await self.node.refresh_registry()
        return out

    async def publish_roll(self, full: bool) -> dict[str, Any]:
        return await asyncio.to_thread(publish_roll, self.node.hq, self.clock, full)

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._db is not None:
                self._db.close()
                self._db = None
        await asyncio.get_running_loop().run_in_executor(self._pool, _close)
        self._pool.shutdown(wait=True)


class RemoteHq:
    """A console beside an HQ serving in another process: admin socket + a follower of its store."""

    def __init__(self, hq: HqDir, clock: Clock, batch: int = 50_000, per_refresh: int = 200_000,
                 store_url: str | None = None) -> None:
        self.hq = hq
        self.store_url = store_url
        self.clock = clock
        self.batch = batch
        # a console opened beside a long-running HQ shows the first events within seconds and
        # fills in per refresh (saying so), rather than a blank screen until all are replayed
        self.per_refresh = per_refresh
        self.caught_up = False
        self.link = "別プロセスの本部サーバを監視中"
        self.rehearsal: dict[str, Any] | None = None  # rehearsal_figures, at each snapshot
        self.age_checks: list[AgeRow] = []  # 年齢確認: voters whose 不詳 birth date needs an ID check
        self._ages = AgeChecks(hq)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="console-follow")
        self._store: HqStore | None = None
        self._ledger: RecordsLedger | None = None
        self._live: LiveRecords | None = None
        self._last_order = 0

    async def ask(self, req: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        out = await ask_admin(self.hq.root / ADMIN_SOCKET, req, timeout)
        if out is None:
            raise HqUnreachable("本部サーバに接続できません（meibo hq serve が動いているか確認してください）")
        if out.get("status") == "error":
            raise MeiboError(str(out.get("message")), code=str(out.get("code")))
        return out

    def _follow(self, online: frozenset[str]) -> ConsoleData:
        """On the follower thread: apply what was committed since last time, then build."""
        if self._store is None:
            self._store = HqStore(self.hq, store_url=self.store_url)
            self._ledger = RecordsLedger(self._store.config.election_id)
            self._ledger.decided = {}  # a follower never decides: it applies what HQ stored
            self._live = LiveRecords(self._store.config)
            self._store.registry_mtime = 0.0
        store, ledger, live = self._store, self._ledger, self._live
        assert ledger is not None and live is not None
        store.refresh_registry(ledger)
        done = 0
        self.caught_up = False
        while done < self.per_refresh:
            rows = store.events_after(self._last_order, self.batch)
            if rows:  # HQ's decisions on these check-ins (screen.py), committed with them
                ledger.decided = store.decisions()
            for order, terminal, body in rows:
                if terminal not in ledger.terminals:
                    ledger.register(TerminalId(terminal), StationId("?"), b"")
                ev = decode(bytes(body))
                ledger.apply(ev)
                live.observe(ledger, Change.of(ev))
                self._last_order = order
            done += len(rows)
            if len(rows) < self.batch:
                self.caught_up = True
                break
        ledger.alarms = []
        for t in ledger.terminals.values():
            t.held = False
        for terminal, seq, reason, held, offered in store.open_alarms():
            if terminal in ledger.terminals:
                ledger.raise_alarm(Alarm(TerminalId(terminal), seq, reason, held, offered))
        facts = HqFacts(store.contacts(), store.alert_states(), _revoked_reasons(store), online,
                        rollbacks=tuple(store.rollbacks()), leader=_leader(store.leader()))
        self.age_checks = age_rows(self._ages.read(), ledger, store.config)  # the follower's thread owns the ledger
        return live.build(ledger, facts, self.clock.now())

    async def snapshot(self) -> ConsoleData:
        try:
            rep = await self.ask({"op": "report"}, timeout=5.0)
            online = frozenset(s["terminal"] for s in rep.get("stations", []) if s.get("online"))
            self.link = "別プロセスの本部サーバを監視中"
        except MeiboError:
            online = frozenset()
            self.link = "本部サーバに接続できません（記録のみ表示）"
        data = await asyncio.get_running_loop().run_in_executor(self._pool, self._follow, online)
        self.rehearsal = await asyncio.to_thread(rehearsal_figures, self.hq)
        if not self.caught_up:
            self.link += f"（記録を読み込み中: {data.events:,} 件まで表示）"
        return data

    async def set_alert(self, alert_id: int, state: str, who: str, note: str) -> dict[str, Any]:
        return await self.ask({"op": "alert", "id": alert_id, "state": state, "who": who, "note": note,
                               "now": self.clock.now().isoformat()})

    async def absentee(self, voter: str, contests: list[str] | None) -> dict[str, Any]:
        return await self.ask({"op": "absentee", "voter": voter, "contests": contests,
                               "now": self.clock.now().isoformat()})

    async def revoke(self, terminal: str, reason: str) -> dict[str, Any]:
        return await asyncio.to_thread(revoke_terminal, self.hq, terminal, reason, self.clock.now().isoformat())

    async def publish_roll(self, full: bool) -> dict[str, Any]:
        return await asyncio.to_thread(publish_roll, self.hq, self.clock, full)

    async def close(self) -> None:
        store = self._store

        def _close() -> None:
            if store is not None:
                store.close()
        await asyncio.get_running_loop().run_in_executor(self._pool, _close)
        self._pool.shutdown(wait=True)


def hq_is_serving(hq: HqDir) -> bool:
    async def probe() -> bool:
        return await ask_admin(hq.root / ADMIN_SOCKET, {"op": "report"}, 5.0) is not None
    try:
        return asyncio.run(probe())
    except OSError:
        return False


__all__ = ["LocalHq", "RemoteHq", "FollowSettings", "read_changes", "HqUnreachable", "revoke_terminal", "publish_roll", "hq_is_serving"]

