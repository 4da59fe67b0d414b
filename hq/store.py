"""HQ's durable store and the terminal registry: the I/O edge of the ledger.

The rows live in an ``HqDb`` (store_db.py): hq.db by default (store_sqlite.py), or PostgreSQL
(store_pg.py) when a store URL says so; everything here is the same for both.

Event-sourced: ``events`` holds every accepted journal event in HQ's ingest order
(``hq_order``), idempotent on (terminal, seq). ``load()`` replays them into a fresh
``Ledger``, which rebuilds verdicts, alerts and the voted-flag stream exactly. What people
decide (alert workflow, alarms) lives in its own tables. HQ's own events (不在者投票) are a
journal of the pseudo-terminal "HQ", hash-chained like any other.

The registry of enrolled terminals is HQDIR/terminals.json (written by enrollment and by
``hq revoke``); HQ re-reads it when it changes, so a revocation takes effect at once.

On PostgreSQL with two HQ nodes, the registry and the other files that change during the
election are shared through the store (hq/shared_files.py): a store opened with
``share_files=True`` (a serving node, a standby) takes one step of them before anything reads
the registry or the roll, and keeps ``shared`` for the CRL keeper's periodic step. On SQLite
``shared`` is None: one node, nothing to share.
"""

from __future__ import annotations

import gc
import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from nacl.signing import SigningKey

from appliance.dirs import HqDir, write_atomic
from ground.clock import Clock, SystemClock
from ground.errors import StorageFailed
from ground.events import Event, EventKind
from ground.model import HQ_TERMINAL, StationId, TerminalId
from appliance.store import Store
from appliance.zaigaipkg import ZAIGAI_PREFIX
from hq.ledger import HQ_STATION, Alarm, Ledger
from hq.ledger.replay import replay
from hq.screen import Refusal
from hq.shared_files import SharedFiles
from hq.store_db import HqDb, Leader, StoreUrl, parse_store_url
from hq.store_sqlite import MIGRATIONS as MIGRATIONS  # hq.db's, where callers have always found them
from hq.store_sqlite import SqliteHqDb

log = logging.getLogger("meibo.hq.store")
ALERT_STATES = ("open", "investigating", "resolved")
# events read and decoded at once on replay: the size hardly matters (256 to 32,768 measured
# alike on 100k events); this one keeps a chunk's bodies and events to a few MB
REPLAY_CHUNK = 2048
EPOCH_FILE = "leader-epoch.json"  # the epoch this directory last claimed, by store (HqStore.claim)
_KIND_TEXT: dict[EventKind, str] = {k: k.value for k in EventKind}




@dataclass
class TerminalRecord:
    terminal: TerminalId
    station: StationId
    device_pub: bytes
    revoked: bool = False
    reason: str = ""
    serials: tuple[int, ...] = ()


def read_registry(hq: HqDir) -> dict[str, TerminalRecord]:
    path = hq.root / "terminals.json"
    if not path.exists():
        return {}
    raw = json.loads(path.read_text("utf-8"))
    items = raw if isinstance(raw, list) else raw.get("terminals", [])
    out: dict[str, TerminalRecord] = {}
    for d in items:
        rec = TerminalRecord(d["terminal"], d["station"], bytes.fromhex(d["device_pub"]),
                             bool(d.get("revoked", False)), str(d.get("revoked_reason", "")),
                             tuple(int(s) for s in d.get("tls_serials", [])))
        old = out.get(rec.terminal)
        # a terminal re-enrolled with --replace has an old (revoked) entry and a new one
        if old is None or old.revoked or not rec.revoked:
            out[rec.terminal] = rec
    return out


def revoked_serials(hq: HqDir) -> set[int]:
    """TLS certificate serials of every revoked registry entry (a replaced identity too)."""
    path = hq.root / "terminals.json"
    if not path.exists():
        return set()
    raw = json.loads(path.read_text("utf-8"))
    items = raw if isinstance(raw, list) else raw.get("terminals", [])
    return {int(s) for d in items if d.get("revoked") for s in d.get("tls_serials", [])}


def update_registry(hq: HqDir, terminal: str, **changes: Any) -> None:
    path = hq.root / "terminals.json"
    raw = json.loads(path.read_text("utf-8")) if path.exists() else []
    items = raw if isinstance(raw, list) else raw.get("terminals", [])
    for d in items:
        if d["terminal"] == terminal and not d.get("revoked"):
            d.update(changes)
    write_atomic(path, json.dumps(items, ensure_ascii=False, indent=1).encode("utf-8"))


def retire_identity(items: list[dict[str, Any]], terminal: str, earlier: set[int], **changes: Any) -> set[int]:
    """Re-enrollment of ``terminal`` (in ``items``, the registry's entries, changed in place):
    its live entries become revoked with ``changes``, and every revoked entry of it records the
    serials it held, so ``revoked_serials`` (the CRL) lists all of them. ``earlier`` is what the CA
    issued to the terminal but the certificate replacing it (pki.serials_of_terminal minus the
    new one): entries written before enroll-local recorded serials have none of their own.
    Returns every serial of the terminal's old identities."""
    mine = [d for d in items if d.get("terminal") == terminal]
    old = set(earlier) | {int(s) for d in mine for s in d.get("tls_serials", [])}
    for d in mine:
        if not d.get("revoked"):
            d.update(changes, revoked=True)
        d["tls_serials"] = sorted(old)
    return old


class PublishedRoll:
    """``voter in roll``: is the voter on the roll HQ published (roll.db ``published``; a
    ``Z:`` id on the 在外選挙人名簿)? What the ledger checks each check-in's voter against
    (screen.py). One read-only connection, asked on whichever thread applies events (one at a
    time); a point lookup on the primary key, so the ledger holds no copy of 3 million ids."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def __contains__(self, voter: object) -> bool:
        v = str(voter)
        if v.startswith(ZAIGAI_PREFIX):
            q, key = "SELECT 1 FROM zaigai WHERE zaigai_id=?", v[len(ZAIGAI_PREFIX):]
        else:
            q, key = "SELECT 1 FROM published WHERE voter_id=?", v
        try:
            return self._conn.execute(q, (key,)).fetchone() is not None
        except sqlite3.Error as e:  # a voter HQ cannot look up is not counted silently either
            raise StorageFailed(f"選挙人名簿を読めません: {e}", code="roll_unreadable") from e

    def close(self) -> None:
        self._conn.close()


def published_roll(hq: HqDir) -> PublishedRoll | None:
    """HQ's published roll, or None before the first publish (nothing to check voters against)."""
    if not hq.roll_db.exists():
        return None
    roll = PublishedRoll(hq.roll_db)
    try:
        published = roll._conn.execute("SELECT 1 FROM versions LIMIT 1").fetchone() is not None
    except sqlite3.Error:
        published = False
    if not published:
        roll.close()
        return None
    return roll


def hq_key(hq: HqDir) -> SigningKey:
    """HQ signs its own journal (不在者投票) with its roll-signing key."""
    return SigningKey(hq.roll_key.read_bytes())


def open_db(hq: HqDir, url: StoreUrl) -> HqDb:
    """The database a store URL names (store_db.py): hq.db, or a PostgreSQL server."""
    if url.backend == "sqlite":
        return SqliteHqDb(hq.hq_db)
    from hq.store_pg import PgHqDb  # lazy: psycopg and libpq load only for a PostgreSQL store
    return PgHqDb(url.dsn)


class HqStore:
    """HQ's records: the registry and the published roll from HQDIR, the rows in an ``HqDb``
    chosen by ``store_url`` (store_db.py), else by election.toml's ``[hq] store``, else hq.db."""

    def __init__(self, hq: HqDir, clock: Clock | None = None, store_url: str | None = None, *,
                 share_files: bool = False, node: str | None = None) -> None:
        self.hq = hq
        self.clock: Clock = clock or SystemClock()  # received_at, contacts, alarms, rollbacks
        self.config = hq.config()
        self.url = (parse_store_url(store_url) if store_url is not None
                    else parse_store_url(self.config.hq_store, from_config=True))
        self.db: HqDb = open_db(hq, self.url)
        # the files shared with the other HQ node (module doc): pulled before the registry is read
        self.shared: SharedFiles | None = None
        if share_files and self.url.backend == "postgresql":
            self.shared = SharedFiles(hq, self.url.dsn, node, self.clock)
            self.sync_files()
        self.registry_mtime = 0.0
        self.registry: dict[str, TerminalRecord] = {}  # by TerminalId
        self.revoked_serials: set[int] = set()
        self._roll: PublishedRoll | None = None

    @property
    def store(self) -> Store:
        """hq.db's ``Store``, for the code that still runs its own SQL on it: refused on
        PostgreSQL, never half-done."""
        if not isinstance(self.db, SqliteHqDb):
            raise StorageFailed(f"この操作は PostgreSQL の本部記録（{self.url}）にはまだ対応していません",
                                code="store_backend_unsupported")
        return self.db.store

    def _now(self) -> float:
        """Seconds since the epoch, as the REAL columns hold them."""
        return self.clock.now().timestamp()

    def sync_files(self) -> bool:
        """One step of the shared files (hq/shared_files.py); False (logged) when it could not be
        taken: the node goes on with the files it has, and the next step tries again."""
        if self.shared is None:
            return True
        try:
            self.shared.sync()
            return True
        except StorageFailed as e:
            log.error("shared files not synchronised, serving with this directory's own: %s", e.message)
            return False

    def close(self) -> None:
        self.db.close()
        if self.shared is not None:
            self.shared.close()
        if self._roll is not None:
            self._roll.close()
            self._roll = None

    def refresh_registry(self, ledger: Ledger | None = None) -> bool:
        path = self.hq.root / "terminals.json"
        m = path.stat().st_mtime if path.exists() else 0.0
        if m == self.registry_mtime:
            return False
        self.registry_mtime = m
        self.registry = read_registry(self.hq)
        self.revoked_serials = revoked_serials(self.hq)
        if ledger is not None:
            self.register_all(ledger)
        return True

    def certificate_current(self, terminal: TerminalId, serial: int) -> bool:
        """Is ``serial`` the certificate of the terminal's live identity? Not when it belongs to
        an identity replaced or revoked since; an entry from before enrollment recorded its serial
        lists none, and then the revoked serials (the CRL's) decide."""
        rec = self.registry.get(terminal)
        if rec is None or rec.revoked or serial in self.revoked_serials:
            return False
        return not rec.serials or serial in rec.serials

    def register_all(self, ledger: Ledger) -> None:
        for rec in self.registry.values():
            ts = ledger.register(rec.terminal, rec.station, rec.device_pub)
            ts.revoked = rec.revoked
        ledger.register(HQ_TERMINAL, HQ_STATION, bytes(hq_key(self.hq).verify_key))

    def load(self, ledger_cls: type[Ledger] = Ledger, chunk: int = REPLAY_CHUNK) -> Ledger:
        """Rebuild the ledger from what is durable.

        A restart keeps every terminal on オフライン受付 until it is done, so the replay reads the
        events in chunks, decodes each chunk at once (``decode_batch``: the same checks and the
        same first error as event-by-event ``decode``) and applies it with ``apply_all`` (the
        same state as ``apply``, without building each event's flag changes for a caller). A
        stored event that fails its checks raises as before; the half-built ledger is dropped."""
        self.registry_mtime = 0.0
        ledger = ledger_cls(self.config.election_id)
        self.screening(ledger)
        ledger.decided = self.decisions()  # replay: every verdict as it was decided at first ingest
        self.refresh_registry(ledger)
        chunks = self.db.bodies(chunk)
        # The cyclic GC is off while replaying: the ledger's few but huge containers (check-ins,
        # ballots, flags: millions of entries) are traversed by every full collection, and the
        # replay's short-lived events trigger one every ~70k allocations, so with it on a replay
        # costs quadratic time (a million events: most of the start). Nothing here makes a
        # reference cycle (events, rows and records are acyclic), so nothing waits for the GC;
        # it is back on (if it was on) before the ledger is handed out, even after an error.
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            for bodies in chunks:  # decode_batch, then apply_all, cheaper (hq/ledger/replay.py)
                replay(ledger, bodies)
        finally:
            chunks.close()  # a replay stopped by a bad event leaves no read open
            if gc_was_on:
                gc.enable()
            ledger.decided = None  # from here on: live ingest, screened
        for terminal, seq, reason, held, offered in self.db.open_alarms():
            if terminal in ledger.terminals:
                ledger.raise_alarm(Alarm(TerminalId(terminal), seq, reason, held, offered))
        return ledger

    def screening(self, ledger: Ledger) -> None:
        """What each check-in's body is checked against (screen.py): election.toml's contests and
        the published roll."""
        ledger.contests = frozenset(self.config.contest_ids)
        if self._roll is None:
            self._roll = published_roll(self.hq)
        ledger.roll = self._roll

    def decisions(self) -> dict[tuple[str, int], list[Refusal]]:
        """The stored refusals by check-in (the console's follower reads them as events arrive)."""
        out: dict[tuple[str, int], list[Refusal]] = {}
        for terminal, seq, body in self.db.refusals():
            d = json.loads(body)
            out.setdefault((terminal, seq), []).append(Refusal(
                TerminalId(terminal), seq, d["code"], d["voter"], tuple(d["contests"]), d["claimed_station"],
                d["registered_station"], int(d["hlc"]), d.get("clerk", "")))
        return out

    def commit(self, events: Iterable[Event], now: float | None = None,
               refusals: Iterable[Refusal] = ()) -> None:
        """Make accepted events durable (one transaction, fsynced): only then may HQ ack. The
        refusals HQ decided for them (screen.py) go in the same transaction."""
        at = self._now() if now is None else now
        kind = _KIND_TEXT  # ``ev.kind.value`` goes through the Enum property: ~7× the dict lookup
        rows = [(ev.terminal, ev.seq, ev.hlc, kind[ev.kind], ev.encode(), at) for ev in events]
        if not rows:  # HqNode's barrier before a reply: nothing to write, but still only if we lead
            self.db.check_fence()
            return
        refused = [(r.terminal, r.seq, r.code, json.dumps(r.as_dict(), ensure_ascii=False)) for r in refusals]
        self.db.commit(rows, refused)

    def claim(self, node: str) -> Leader:
        """This node leads the store from now (store_db.py): a serving HQ claims before it loads,
        and on PostgreSQL every write after is fenced by the epoch it got. Never at or below the
        epoch this directory last claimed (``EPOCH_FILE``): a plain pg_restore of an old dump
        puts an older epoch back, and a node that led after the dump must still be fenced."""
        if self.url.backend != "postgresql":  # hq.db: one node, no fence (store_sqlite.py)
            return self.db.claim(node, self._now())
        path, key = self.hq.root / EPOCH_FILE, str(self.url)  # by database: the DSN without its password
        try:
            seen = json.loads(path.read_text("utf-8"))
            seen = seen if isinstance(seen, dict) else {}
        except (OSError, ValueError):
            seen = {}
        last = seen.get(key)
        floor = last if isinstance(last, int) else 0
        led = self.db.claim(node, self._now(), floor)
        seen[key] = led.epoch
        write_atomic(path, json.dumps(seen, ensure_ascii=False, indent=1).encode("utf-8"))
        return led

    def leader(self) -> Leader:
        """Which node leads, at which epoch and since when (the console's fact)."""
        return self.db.leader()

    # --- reads (and the one write) of the offline commands and the console, on either backend ---
    def absentee_rows(self, voter: str | None = None) -> list[tuple[int, str, str, str, str, str, str]]:
        """Every move of a 不在者投票 (of ``voter``), oldest first: (id, voter, contest, state, at, who, note)."""
        return self.db.absentee_rows(voter)

    def add_absentee_status(self, voter: str, contest: str, state: str, at: str, who: str, note: str) -> None:
        self.db.add_absentee_status(voter, contest, state, at, who, note)

    def events_of_kinds(self, kinds: Iterable[str]) -> list[bytes]:
        """The bodies of every event of these kinds, in HQ's ingest order (the reports)."""
        return self.db.bodies_of_kinds(tuple(kinds))

    def events_after(self, after: int, limit: int) -> list[tuple[int, str, bytes]]:
        """(hq_order, terminal, body) of at most ``limit`` events after ``after`` (the console's follower)."""
        return self.db.events_after(after, limit)

    def changes_after(self, after: int, limit: int, body_kinds: Iterable[str]) -> list[tuple[int, str, int, int, str, bytes | None]]:
        """(hq_order, terminal, seq, hlc, kind, body) after ``after``, a body only for ``body_kinds``."""
        return self.db.changes_after(after, limit, tuple(sorted(body_kinds)))

    def open_alarms(self) -> list[tuple[str, int, str, str, str]]:
        return self.db.open_alarms()

    def record_alarm(self, alarm: Alarm) -> None:
        self.db.record_alarm((alarm.terminal, alarm.seq, alarm.reason, alarm.held_hash, alarm.offered_hash),
                             self._now())

    def record_rollback(self, terminal: TerminalId, hq_acked: int, terminal_acked: int, now: float | None = None) -> None:
        self.db.record_rollback(terminal, hq_acked, terminal_acked, self._now() if now is None else now)

    def rollbacks(self) -> list[tuple[TerminalId, int, int, float]]:
        """Every time a terminal held acknowledged events HQ lacked: (terminal, HQ's, terminal's, at)."""
        return [(TerminalId(str(t)), int(hq), int(term), float(at)) for t, hq, term, at in self.db.rollbacks()]

    def touch(self, terminal: TerminalId, peer: str = "", signal: str | None = None) -> None:
        self.db.touch(terminal, self._now(), peer, signal)

    def contacts(self) -> dict[str, tuple[float, str, str | None]]:
        return {r[0]: (r[1], r[2], r[3]) for r in self.db.contacts()}

    def alert_states(self) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        for aid, state, who, at, note in self.db.alert_actions():
            out.setdefault(aid, []).append({"state": state, "who": who, "at": at, "note": note})
        return out

    def set_alert_state(self, alert_id: int, state: str, who: str, at: str, note: str) -> None:
        if state not in ALERT_STATES:
            raise StorageFailed(f"不明な状態です: {state}", code="alert_state_invalid")
        self.db.add_alert_action(alert_id, state, who, at, note)
