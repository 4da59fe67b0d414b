"""What the procedures share: their errors (named for what the caller does next), reading the
journal, appending one entry in its own transaction, and the short text fields' rule. Their tables
(``zaigai_voters``, ``absentee_notices``) come from the store's migrations (appliance/store.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from appliance import journal
from appliance.store import Store
from appliance.terminal import Terminal
from ground.errors import ApplianceError, UsageError
from ground.events import MAX_STR, Event, EventKind, decode
from ground.model import ElectionConfig

DECLARED_VOTER = "?"  # ``voter`` of a 仮投票 whose voter is not on the roll (declared only)


class ProcedureError(ApplianceError):
    code = "procedure_error"


class StationClosedForDay(ProcedureError):
    """The supervisor closed the station: no check-in until it is reopened."""

    code = "station_closed_for_day"


class OathReasonRequired(ProcedureError):
    code = "oath_reason_required"


class OathReasonInvalid(ProcedureError):
    code = "oath_reason_invalid"


class TentativeInvalid(ProcedureError):
    code = "tentative_invalid"


class ZaigaiRefused(ProcedureError):
    code = "zaigai_refused"


def journal_events(store: Store, kinds: Sequence[str] | None = None) -> list[Event]:
    if kinds is None:
        rows = store.conn.execute("SELECT body FROM journal ORDER BY seq")
    else:
        q = ",".join("?" * len(kinds))
        rows = store.conn.execute(f"SELECT body FROM journal WHERE kind IN ({q}) ORDER BY seq", tuple(kinds))
    return [decode(bytes(r[0])) for r in rows]


def append(term: Terminal, kind: EventKind, data: dict[str, Any]) -> Event:
    with term.store.atomic() as conn:
        return journal.append(term.store, conn, kind, data, term.hlc)


def short(text: str, what: str) -> str:
    t = text.strip()
    if not t or len(t) > MAX_STR:
        raise UsageError(f"{what}を 1〜{MAX_STR} 文字で入力してください", code="usage")
    return t


def contest_name(config: ElectionConfig, c: str) -> str:
    try:
        return config.contest(c).name
    except KeyError:
        return c
