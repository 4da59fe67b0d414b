"""Journal events (the terminal's append-only, hash-chained record) and their canonical encoding.

An event is ``kind``, per-terminal ``seq`` (1, 2, 3 … no gaps), ``hlc`` timestamp, ``terminal``
and a small ``data`` map. Its canonical encoding is JSON with sorted keys, no spaces, UTF-8 and
only strings, integers, booleans and lists of those: deterministic, so that the terminal and HQ
compute the same hash. The chain: ``hash = SHA-256(prev_hash || encoding)``; the first entry's
``prev_hash`` is the genesis hash of (election, terminal), so a journal can never be replayed
into another election.

Kinds (``data`` fields):
- ``checkin``  station, clerk, voter, contests [ids in hand-out order], optional marks
               (proxy 代理投票, braille 点字投票, oath_reason 宣誓書事由) — ballots handed over,
               unless a later ``withheld`` names it;
- ``withheld`` ref, contests — HQ answered ALREADY_VOTED within the budget: these ballots were
               NOT handed over (not a double vote);
- ``provisional`` ref — no verdict within the budget; the poll worker was told オフライン受付;
- ``void``     ref, reason, clerk — 取消: the voter left without voting; releases the ballots;
- ``tentative`` 仮投票 (公職選挙法 50条): voter, contests, reason, decided_by — never a ballot;
- ``lookup``   voter, via (scan/search), clerk — audit of a roll lookup (personal data);
- ``station``  action (open/close), clerk; ``count`` contest, hour, issued (交付数).

Pure: imports nothing that does I/O.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping

from appliance.errors import JournalCorrupt
from appliance.model import TerminalId

MAX_EVENT_BYTES = 4096
MAX_STR = 256
MAX_LIST = 16


class EventKind(str, Enum):
    CHECKIN = "checkin"
    WITHHELD = "withheld"
    PROVISIONAL = "provisional"
    VOID = "void"
    TENTATIVE = "tentative"
    LOOKUP = "lookup"
    STATION = "station"
    COUNT = "count"
    ABSENTEE = "absentee"  # written by HQ only (terminal "HQ")


@dataclass(frozen=True)
class Event:
    kind: EventKind
    seq: int
    hlc: int
    terminal: TerminalId
    data: Mapping[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        return canonical_json({"d": dict(self.data), "h": self.hlc, "k": self.kind.value,
                               "s": self.seq, "t": self.terminal})

    # convenience accessors used by the rules and HQ
    @property
    def voter(self) -> str:
        return str(self.data["voter"])

    @property
    def contests(self) -> tuple[str, ...]:
        return tuple(self.data.get("contests", ()))

    @property
    def ref(self) -> int:
        return int(self.data["ref"])


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def genesis_hash(election_id: str, terminal: str) -> bytes:
    return hashlib.sha256(canonical_json(["meibo-journal/1", election_id, terminal])).digest()


def chain_hash(prev_hash: bytes, encoded: bytes) -> bytes:
    return hashlib.sha256(prev_hash + encoded).digest()


def _check_value(v: Any, where: str) -> None:
    if isinstance(v, bool) or isinstance(v, int):
        if isinstance(v, int) and not isinstance(v, bool) and not (-(1 << 62) < v < (1 << 62)):
            raise JournalCorrupt(f"{where}: 数値が範囲外です", code="event_invalid")
        return
    if isinstance(v, str):
        if len(v) > MAX_STR:
            raise JournalCorrupt(f"{where}: 文字列が長すぎます", code="event_invalid")
        return
    if isinstance(v, list):
        if len(v) > MAX_LIST:
            raise JournalCorrupt(f"{where}: 項目が多すぎます", code="event_invalid")
        for x in v:
            if not isinstance(x, str) or len(x) > MAX_STR:
                raise JournalCorrupt(f"{where}: 一覧の要素が不正です", code="event_invalid")
        return
    raise JournalCorrupt(f"{where}: 使えない型です ({type(v).__name__})", code="event_invalid")


_REQUIRED: dict[EventKind, dict[str, type]] = {
    EventKind.CHECKIN: {"station": str, "clerk": str, "voter": str, "contests": list},
    EventKind.WITHHELD: {"ref": int, "contests": list},
    EventKind.PROVISIONAL: {"ref": int},
    EventKind.VOID: {"ref": int, "reason": str},
    EventKind.TENTATIVE: {"voter": str, "contests": list, "reason": str},
    EventKind.LOOKUP: {"voter": str, "via": str},
    EventKind.STATION: {"action": str},
    EventKind.COUNT: {"contest": str, "hour": int, "issued": int},
    EventKind.ABSENTEE: {"voter": str, "contests": list},
}


def validate(ev: Event) -> Event:
    """Check an event's shape (hostile input from the wire or an export)."""
    where = f"{ev.terminal}#{ev.seq}"
    if ev.seq < 1 or ev.hlc < 0:
        raise JournalCorrupt(f"{where}: 番号または時刻が不正です", code="event_invalid")
    if not isinstance(ev.terminal, str) or not ev.terminal or len(ev.terminal) > 32:
        raise JournalCorrupt(f"{where}: 端末IDが不正です", code="event_invalid")
    for k, v in ev.data.items():
        _check_value(v, f"{where}.{k}")
    for k, t in _REQUIRED[ev.kind].items():
        v = ev.data.get(k)
        if not isinstance(v, t) or isinstance(v, bool):
            raise JournalCorrupt(f"{where}: 項目 {k} がないか型が違います", code="event_invalid")
    if "contests" in _REQUIRED[ev.kind]:
        cs = ev.data["contests"]
        if not cs or len(set(cs)) != len(cs):
            raise JournalCorrupt(f"{where}: 選挙の一覧が空か重複しています", code="event_invalid")
    return ev


def decode(raw: bytes) -> Event:
    """Decode one canonical event; refuse anything that is not exactly canonical."""
    if len(raw) > MAX_EVENT_BYTES:
        raise JournalCorrupt("記録が大きすぎます", code="event_too_large")
    try:
        obj = json.loads(raw.decode("utf-8"))
        ev = Event(EventKind(obj["k"]), int(obj["s"]), int(obj["h"]), TerminalId(obj["t"]), dict(obj["d"]))
        if set(obj) != {"d", "h", "k", "s", "t"} or not isinstance(obj["s"], int) or not isinstance(obj["h"], int):
            raise ValueError("keys")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError):
        raise JournalCorrupt("記録の形式が不正です", code="event_invalid")
    validate(ev)
    if ev.encode() != raw:
        raise JournalCorrupt(f"{ev.terminal}#{ev.seq}: 記録が正規形ではありません", code="event_not_canonical")
    return ev
