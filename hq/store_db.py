"""HQ's database behind one interface (``HqDb``), and the store URL that picks the backend.

``HqStore`` (store.py) keeps what is the same whatever the engine (the registry, the published
roll, building the ledger, refusals as JSON); an ``HqDb`` holds the rows. Two backends:

- SQLite (store_sqlite.py): HQDIR/hq.db, the default and the town-hall server's embedded store.
- PostgreSQL (store_pg.py, psycopg 3): a primary (and its synchronous standby) run by the
  municipality or its cloud.

Every backend keeps the same rules: ``commit`` is one durable transaction (events and their
refusals together, on disk, and on a synchronous standby too, before it returns); events are
unique on (terminal, seq) and a duplicate raises ``EventAlreadyStored`` with nothing written;
``bodies`` gives every event's body in HQ's ingest order (``hq_order``). Foreign exceptions are
translated here: callers see ``StorageFailed`` and its subclasses, never sqlite3 or psycopg.

Leadership (exactly one HQ gives verdicts): a serving HQ ``claim``s the store, which bumps the
epoch of the ``leadership`` row (its node name and since-time with it) in one transaction, and
remembers its epoch. On PostgreSQL, where two HQ machines can reach one database, every write
transaction of a claimant reads that row ``FOR SHARE`` and, finding a newer epoch, rolls back
and raises ``Fenced``: the check is in the transaction that would be acknowledged, never a
timer. A claim's UPDATE waits for the writes holding the row, so each write is either before
the claim (and the new leader loads it) or refused. On SQLite (one HQ per hq.db file, the file
lock) the claim is recorded for ``leader()`` and the fence is a no-op. A store opened without
a claim (the offline commands) is not fenced. A claim's epoch is above every epoch the claimant
has seen (``floor``: HqStore keeps the last one it claimed in HQDIR/leader-epoch.json), so a
database put back to an older dump by hand (docs/backup-pg.md) cannot hand out an epoch again.

The store URL: none (or ``sqlite``) is hq.db; ``postgresql://…`` (or ``postgres://…``) or a
libpq keyword string (``host=a,b port=5432 dbname=meibo target_session_attrs=read-write``) is
PostgreSQL. election.toml is handed to every terminal at enrollment, so a URL written there may
not carry a password: libpq reads it from ``~/.pgpass`` or ``PGPASSFILE``.

Layer: hq. Never imports the screens, the CLI or the tooling (lint-imports checks it).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from ground.errors import MeiboError, StorageFailed, UsageError

# (terminal, seq, hlc, kind, body, received_at): one row of ``events``
EventRow = tuple[str, int, int, str, bytes, float]
# (terminal, seq, code, body): one stored refusal, body its JSON
RefusalRow = tuple[str, int, str, str]
# (terminal, seq, reason, held_hash, offered_hash): an alarm as the ledger raises it
AlarmRow = tuple[str, int, str, str, str]
# (id, voter, contest, state, at, who, note): one move of a 不在者投票 (hq/procedures.py)
AbsenteeRow = tuple[int, str, str, str, str, str, str]
# (hq_order, terminal, seq, hlc, kind, body or None): an event as the console follows them
ChangeRow = tuple[int, str, int, int, str, bytes | None]
Backend = Literal["sqlite", "postgresql"]


@dataclass(frozen=True)
class Leader:
    """Which HQ node leads the store, since when (seconds since the epoch) and at which epoch."""

    node: str
    epoch: int
    since: float


class StoreUrlInvalid(UsageError):
    """The store URL is not one meibo reads: fix ``--store`` or ``[hq] store``."""

    code = "store_url_invalid"


class StoreUnreachable(StorageFailed):
    """HQ's database server cannot be reached (or was lost mid-transaction): nothing was
    acknowledged; start again once it answers."""

    code = "store_unreachable"


class EventAlreadyStored(StorageFailed):
    """An event with this (terminal, seq) is already stored: the commit wrote nothing."""

    code = "event_duplicate"


class Fenced(MeiboError):
    """Another HQ node has claimed the store since this one did: this node must stop answering
    at once and stay down (nothing it had not acknowledged is); the terminals go to the leader."""

    code = "hq_fenced"


class HqDb(Protocol):
    """What HqStore asks of a database. Called from one thread at a time for writes (HqNode's
    store thread); reads may come from the event loop's thread too."""

    backend: Backend

    def commit(self, events: Sequence[EventRow], refusals: Sequence[RefusalRow]) -> None: ...
    def bodies(self, chunk: int) -> Generator[list[bytes], None, None]: ...
    def refusals(self) -> list[tuple[str, int, str]]: ...
    def open_alarms(self) -> list[AlarmRow]: ...
    def record_alarm(self, alarm: AlarmRow, at: float) -> None: ...
    def record_rollback(self, terminal: str, hq_acked: int, terminal_acked: int, at: float) -> None: ...
    def rollbacks(self) -> list[tuple[str, int, int, float]]: ...
    def touch(self, terminal: str, at: float, peer: str, signal: str | None) -> None: ...
    def contacts(self) -> list[tuple[str, float, str, str | None]]: ...
    def add_alert_action(self, alert_id: int, state: str, who: str, at: str, note: str) -> None: ...
    def alert_actions(self) -> list[tuple[int, str, str, str, str]]: ...
    def get_meta(self, key: str, default: str | None = None) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def claim(self, node: str, at: float, floor: int = 0) -> Leader: ...
    def check_fence(self) -> None: ...
    def leader(self) -> Leader: ...
    # reads for the offline commands and the console (hq/procedures.py, ui_kivy/console)
    def absentee_rows(self, voter: str | None = None) -> list[AbsenteeRow]: ...
    def add_absentee_status(self, voter: str, contest: str, state: str, at: str, who: str, note: str) -> None: ...
    def bodies_of_kinds(self, kinds: Sequence[str]) -> list[bytes]: ...
    def events_after(self, after: int, limit: int) -> list[tuple[int, str, bytes]]: ...
    def changes_after(self, after: int, limit: int, body_kinds: Sequence[str]) -> list[ChangeRow]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class StoreUrl:
    backend: Backend
    dsn: str = ""  # a libpq connection string (URL or keywords) for PostgreSQL

    def __str__(self) -> str:
        return "sqlite" if self.backend == "sqlite" else redact(self.dsn)


_KEYWORD = re.compile(r"^\s*[A-Za-z_]+\s*=")
_URL_PASSWORD = re.compile(r"^(postgres(?:ql)?://[^:/@?]*):[^@/?]*@")
_KW_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")


def redact(dsn: str) -> str:
    """The DSN as it may be printed or logged: any password replaced by ``***``."""
    dsn = _URL_PASSWORD.sub(r"\1:***@", dsn)
    dsn = re.sub(r"([?&]password=)[^&]*", r"\1***", dsn)
    return _KW_PASSWORD.sub(r"\1***", dsn)


def has_password(dsn: str) -> bool:
    return redact(dsn) != dsn


def parse_store_url(text: str | None, *, from_config: bool = False) -> StoreUrl:
    """Which backend ``text`` names (see the module). Only the form is checked here; the
    PostgreSQL backend parses the connection string itself when it connects."""
    if text is None or not text.strip() or text.strip() == "sqlite":
        return StoreUrl("sqlite")
    t = text.strip()
    where = "election.toml の [hq] store" if from_config else "--store"
    if t.startswith(("postgresql://", "postgres://")) or _KEYWORD.match(t):
        if from_config and has_password(t):
            raise StoreUrlInvalid(f"{where} にパスワードは書けません（election.toml は各端末にも配られます）。"
                                  "~/.pgpass か PGPASSFILE を使ってください", code="store_url_invalid")
        return StoreUrl("postgresql", t)
    raise StoreUrlInvalid(f"{where} の指定が読めません: {redact(t)!r}（sqlite、postgresql://… または "
                          "host=… dbname=… の形で指定してください）", code="store_url_invalid")
