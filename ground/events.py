"""Journal events (the terminal's append-only, hash-chained record) and their canonical encoding.

An event is ``kind``, per-terminal ``seq`` (1, 2, 3 … no gaps), ``hlc`` timestamp, ``terminal``
and a small ``data`` map. Its canonical encoding is JSON with sorted keys, no spaces, UTF-8 and
only strings, integers, booleans and lists of those: deterministic, so that the terminal and HQ
compute the same hash. The chain: ``hash = SHA-256(prev_hash || encoding)``; the first entry's
``prev_hash`` is the genesis hash of (election, terminal), so a journal can never be replayed
into another election.

Kinds (``data`` fields):
- ``checkin``  station, clerk, voter, contests [ids in hand-out order], optional marks
               (proxy 代理投票, braille 点字投票, oath_reason 宣誓書事由, age_confirmed 年齢確認:
               the ID kind seen for a 生年月日 不詳 voter) — ballots handed over, unless a later
               ``withheld`` names it;
- ``withheld`` ref, contests — HQ answered ALREADY_VOTED within the budget: these ballots were
               NOT handed over (not a double vote);
- ``provisional`` ref — no verdict within the budget; the poll worker was told オフライン受付;
- ``void``     ref, reason, clerk — 取消: the voter left without voting; releases the ballots;
- ``tentative`` 仮投票 (公職選挙法 50条): voter, contests, reason, decided_by — never a ballot;
- ``lookup``   voter, via (scan/search), clerk — audit of a roll lookup (personal data);
- ``station``  action (open/close), clerk; ``count`` contest, hour, issued (交付数);
- ``absentee`` / ``absentee_status`` (HQ only): a 不在者投票 ballot / the state of a voter's
               不在者 papers (terminals warn, never block).

Pure: imports nothing that does I/O.
"""

from __future__ import annotations

import hashlib

import orjson
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping

from ground.errors import JournalCorrupt
from ground.model import TerminalId

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
    ABSENTEE_STATUS = "absentee_status"  # HQ only: 不在者投票 papers requested/issued/… (a warning, not a ballot)


@dataclass(frozen=True)
class Event:
    kind: EventKind
    seq: int
    hlc: int
    terminal: TerminalId
    data: Mapping[str, Any] = field(default_factory=dict)
    # The canonical bytes, computed once: HQ hashes, stores and compares an event several
    # times on its way in, and the encoding is the costly part of ingest.
    _raw: bytes | None = field(default=None, compare=False, repr=False)

    def encode(self) -> bytes:
        raw = self._raw
        if raw is None:
            raw = canonical_json({"d": dict(self.data), "h": self.hlc, "k": self.kind.value,
                                  "s": self.seq, "t": self.terminal})
            object.__setattr__(self, "_raw", raw)
        return raw

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
    """Sorted keys, no whitespace, UTF-8: byte-identical to ``json.dumps(sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)``, by orjson (C) because HQ encodes every
    incoming event to check it is canonical, and the pure-Python encoder was most of ingest."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError) as e:
        raise ValueError(f"not canonical-JSON encodable: {e}") from e


def genesis_hash(election_id: str, terminal: str) -> bytes:
    return hashlib.sha256(canonical_json(["meibo-journal/1", election_id, terminal])).digest()


def chain_hash(prev_hash: bytes, encoded: bytes) -> bytes:
    return hashlib.sha256(prev_hash + encoded).digest()


_INT_LIMIT = 1 << 62


def _value_ok(v: Any) -> bool:
    """Only strings, bounded ints, booleans, and short lists of short strings (hot path: HQ
    checks every field of every incoming event, so exact ``type`` tests, no isinstance chains)."""
    t = type(v)
    if t is str:
        return len(v) <= MAX_STR
    if t is int:
        return bool(-_INT_LIMIT < v < _INT_LIMIT)
    if t is bool:
        return True
    if t is list:
        return len(v) <= MAX_LIST and all(type(x) is str and len(x) <= MAX_STR for x in v)
    return False


_REQUIRED: dict[EventKind, tuple[tuple[str, type], ...]] = {
    EventKind.CHECKIN: (("station", str), ("clerk", str), ("voter", str), ("contests", list)),
    EventKind.WITHHELD: (("ref", int), ("contests", list)),
    EventKind.PROVISIONAL: (("ref", int),),
    EventKind.VOID: (("ref", int), ("reason", str)),
    EventKind.TENTATIVE: (("voter", str), ("contests", list), ("reason", str)),
    EventKind.LOOKUP: (("voter", str), ("via", str)),
    EventKind.STATION: (("action", str),),
    EventKind.COUNT: (("contest", str), ("hour", int), ("issued", int)),
    EventKind.ABSENTEE: (("voter", str), ("contests", list)),
    EventKind.ABSENTEE_STATUS: (("voter", str), ("contests", list), ("state", str)),
}


def validate(ev: Event) -> Event:
    """Check an event's shape (hostile input from the wire or an export)."""
    if ev.seq < 1 or ev.hlc < 0 or ev.hlc >= (1 << 63):
        raise JournalCorrupt(f"{ev.terminal}#{ev.seq}: 番号または時刻が不正です", code="event_invalid")
    if type(ev.terminal) is not str or not ev.terminal or len(ev.terminal) > 32:
        raise JournalCorrupt(f"#{ev.seq}: 端末IDが不正です", code="event_invalid")
    data = ev.data
    for k, v in data.items():
        if not _value_ok(v):
            raise JournalCorrupt(f"{ev.terminal}#{ev.seq}.{k}: 値が不正です（型・長さ・範囲）", code="event_invalid")
    for k, t in _REQUIRED[ev.kind]:
        if type(data.get(k)) is not t:
            raise JournalCorrupt(f"{ev.terminal}#{ev.seq}: 項目 {k} がないか型が違います", code="event_invalid")
        if t is list:
            cs = data[k]
            if not cs or len(set(cs)) != len(cs):
                raise JournalCorrupt(f"{ev.terminal}#{ev.seq}: 選挙の一覧が空か重複しています", code="event_invalid")
    return ev


_KINDS = {k.value: k for k in EventKind}
_KEYS = {"d", "h", "k", "s", "t"}


def decode(raw: bytes) -> Event:
    """Decode one canonical event; refuse anything that is not exactly canonical."""
    if len(raw) > MAX_EVENT_BYTES:
        raise JournalCorrupt("記録が大きすぎます", code="event_too_large")
    try:
        obj = orjson.loads(raw)
        if type(obj) is not dict or obj.keys() != _KEYS or type(obj["d"]) is not dict \
                or type(obj["s"]) is not int or type(obj["h"]) is not int:
            raise ValueError("shape")
        ev = Event(_KINDS[obj["k"]], obj["s"], obj["h"], TerminalId(obj["t"]), obj["d"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError, orjson.JSONDecodeError):
        raise JournalCorrupt("記録の形式が不正です", code="event_invalid")
    validate(ev)
    # canonical iff re-encoding the parsed object gives the same bytes (``obj`` has exactly the
    # five keys, so this is ``ev.encode()`` without rebuilding the dict)
    if orjson.dumps(obj, option=orjson.OPT_SORT_KEYS) != raw:
        raise JournalCorrupt(f"{ev.terminal}#{ev.seq}: 記録が正規形ではありません", code="event_not_canonical")
    object.__setattr__(ev, "_raw", raw)
    return ev


_new = object.__new__
_HLC_LIMIT = 1 << 63
_CHECKIN = EventKind.CHECKIN
_PLAIN_CHECKIN = frozenset(("station", "clerk", "voter", "contests"))
_ORJSON_ERRORS = (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError, orjson.JSONDecodeError)


def _data_ok(kind: EventKind, data: dict[str, Any], size: int) -> bool:
    """``validate``'s rules on ``data`` as a yes/no, inlined (hot path: every incoming event).
    ``size``: the event's encoded length; a string of n characters takes at least n + 2 bytes
    in it, so in an event of at most ``MAX_STR + 2`` bytes no string is too long."""
    if kind is _CHECKIN and size <= MAX_STR + 2 and data.keys() == _PLAIN_CHECKIN:  # a plain check-in
        cs = data["contests"]
        if type(data["station"]) is str and type(data["clerk"]) is str \
                and type(data["voter"]) is str and type(cs) is list and 0 < len(cs) <= MAX_LIST:
            for x in cs:
                if type(x) is not str:
                    return False
            return len(set(cs)) == len(cs)
    for v in data.values():
        t = type(v)
        if t is str:
            if len(v) > MAX_STR:
                return False
        elif t is list:
            if len(v) > MAX_LIST:
                return False
            for x in v:
                if type(x) is not str or len(x) > MAX_STR:
                    return False
        elif t is int:
            if not -_INT_LIMIT < v < _INT_LIMIT:
                return False
        elif t is not bool:
            return False
    for k, t in _REQUIRED[kind]:
        v = data.get(k)
        if type(v) is not t:
            return False
        if t is list and (not v or len(set(v)) != len(v)):
            return False
    return True


def decode_batch(raws: list[bytes]) -> list[Event]:
    """``[decode(r) for r in raws]``, faster: the same checks, the same first error.

    The fast path parses each event, checks its shape, and then checks canonical form once for
    the whole batch: the canonical encoding of the list of parsed objects must equal
    ``[`` + the raw events joined by ``,`` + ``]``. That holds iff every event is canonical:
    each raw event parsed as exactly one JSON object (the parser refuses trailing bytes), and a
    canonical object's encoding ends at its own closing brace, so the boundaries cannot shift.
    Anything unusual (a refused event, a mismatch) falls back to the event-by-event ``decode``,
    which raises exactly what it always raised."""
    objs: list[dict[str, Any]] = []
    out: list[Event] = []
    loads, kinds, new, event = orjson.loads, _KINDS, _new, Event
    add_obj, add_ev = objs.append, out.append
    try:
        for raw in raws:
            size = len(raw)
            if size > MAX_EVENT_BYTES:
                break
            obj = loads(raw)
            # exactly the five keys: five entries, each found (a KeyError falls back)
            if type(obj) is not dict or len(obj) != 5:
                break
            data, seq, hlc, term, kind = obj["d"], obj["s"], obj["h"], obj["t"], kinds.get(obj["k"])
            if kind is None or type(data) is not dict or type(seq) is not int or type(hlc) is not int \
                    or seq < 1 or not 0 <= hlc < _HLC_LIMIT \
                    or type(term) is not str or not 0 < len(term) <= 32 or not _data_ok(kind, data, size):
                break
            ev = new(event)
            ev.__dict__.update(kind=kind, seq=seq, hlc=hlc, terminal=term, data=data, _raw=raw)
            add_obj(obj)
            add_ev(ev)
        else:
            if orjson.dumps(objs, option=orjson.OPT_SORT_KEYS) == b"[" + b",".join(raws) + b"]":
                return out
    except _ORJSON_ERRORS:
        pass
    return [decode(r) for r in raws]
