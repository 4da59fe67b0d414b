"""HQ's cold start: stored events, in HQ's order, back into a ``Ledger`` (``replay``). Pure: no I/O.

Owns the replay loop that ``HqStore.load`` runs over each chunk of stored bodies. It gives the
very ledger ``decode_batch`` followed by ``Ledger.apply_all`` gives (and, on any stored event
that fails a check, raises exactly what they raise), only cheaper: a restart keeps every
terminal on オフライン受付 until it is done, and with a million events the old loop was ~8× a
bare read and parse (bench restart).

What is checked at start, for every stored event, and why it is enough: the same checks
``decode_batch`` makes (size, the five keys, types and ranges, ``validate``'s rules on ``data``
by the very ``_data_ok`` it calls, canonical form by one re-encoding of the chunk), the
per-terminal sequence with no gap (``_apply``'s check), and each event's chain hash recomputed
from the stored bytes (the ledger keeps them: a resent or cloned event is compared with them).
Nothing verified at first ingest is skipped but the batch signatures, which are not stored
(HQ never could check them again) and which the recomputed chain is compared against on the
terminal's next batch (``check_batch``: a changed byte is a ``chain_fork`` there).

Where it is cheaper: a plain check-in (the four fields, every contest a first ballot, nothing
decided against it) is applied from the parsed JSON straight into the ledger's plain rows, with
no ``Event`` made for it (nearly every stored event is one; the ledger keeps a plain tuple of it
anyway, see ``CheckinMap``). Every other event (markers, voids, refused or double ballots, HQ's
own, other kinds) is made an ``Event`` exactly as ``decode_batch`` makes it and goes through the
ledger's own ``_apply``, so subclasses (``RecordsLedger``, the simulator's planted bug) see
everything they override. Hand-written because no library replays this ledger; orjson (C) does
the parsing and the canonical check.

Layer: hq. Imports ground, hq.screen and this package only.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from ground.events import (_KINDS, _PLAIN_CHECKIN, MAX_EVENT_BYTES, MAX_LIST, MAX_STR, Event, EventKind, _data_ok,
                           decode_batch)
from ground.model import TerminalId
from hq.ledger.core import Ledger
from hq.screen import UNKNOWN_STATION
from sync_protocol.errors import BatchRejected

_HLC_LIMIT = 1 << 63
_SHORT = MAX_STR + 2  # no string of an event this short is too long (_data_ok)
_CHECKIN = EventKind.CHECKIN
_SORT = orjson.OPT_SORT_KEYS
_new = object.__new__
_dict_set: Any = dict.__setitem__


def _parse(bodies: list[bytes]) -> list[Any] | None:
    """``decode_batch(bodies)``'s checks, without an ``Event`` for a plain check-in: each item is
    an ``Event`` (made as decode_batch makes it) or, for a check-in of exactly the four plain
    fields, ``(terminal, seq, hlc, raw, data)``. None when any event fails a check: the caller
    then lets ``decode_batch`` raise what it raises."""
    out: list[Any] = []
    objs: list[Any] = []
    loads, kinds, new, event, plain = orjson.loads, _KINDS, _new, Event, _PLAIN_CHECKIN
    add, add_obj = out.append, objs.append
    try:
        for raw in bodies:
            size = len(raw)
            if size > MAX_EVENT_BYTES:
                return None
            obj = loads(raw)
            if type(obj) is not dict or len(obj) != 5:
                return None
            data, seq, hlc, term, kind = obj["d"], obj["s"], obj["h"], obj["t"], kinds.get(obj["k"])
            if kind is None or type(data) is not dict or type(seq) is not int or type(hlc) is not int \
                    or seq < 1 or not 0 <= hlc < _HLC_LIMIT or type(term) is not str or not 0 < len(term) <= 32:
                return None
            add_obj(obj)
            if kind is _CHECKIN and size <= _SHORT and data.keys() == plain:
                # _data_ok's own first test, inlined (the same rules; anything else asks _data_ok)
                cs = data["contests"]
                if type(data["station"]) is str and type(data["clerk"]) is str and type(data["voter"]) is str \
                        and type(cs) is list and 0 < len(cs) <= MAX_LIST and len(set(cs)) == len(cs):
                    for x in cs:
                        if type(x) is not str:
                            return None
                    add((term, seq, hlc, raw, data))
                    continue
            if not _data_ok(kind, data, size):
                return None
            if kind is _CHECKIN and data.keys() == plain:
                add((term, seq, hlc, raw, data))
            else:
                ev = new(event)
                ev.__dict__.update(kind=kind, seq=seq, hlc=hlc, terminal=term, data=data, _raw=raw)
                add(ev)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError, orjson.JSONDecodeError):
        return None
    # canonical iff the re-encoding of the parsed objects is the stored bytes (decode_batch's proof)
    if orjson.dumps(objs, option=_SORT) != b"[" + b",".join(bodies) + b"]":
        return None
    return out


def _event(item: tuple[str, int, int, bytes, dict[str, Any]]) -> Event:
    t, seq, hlc, raw, data = item
    ev: Event = _new(Event)
    ev.__dict__.update(kind=_CHECKIN, seq=seq, hlc=hlc, terminal=t, data=data, _raw=raw)
    return ev


def replay(ledger: Ledger, bodies: list[bytes]) -> None:
    """Apply stored events (bodies, in HQ's order) to ``ledger``: as
    ``ledger.apply_all(decode_batch(bodies))`` after registering, in order of appearance, any
    terminal no longer in the registry (station ``?``). Raises what they raise."""
    items = _parse(bodies)
    if items is None:
        items = decode_batch(bodies)  # raises the first fault, as always; or (never) equals
    terminals = ledger.terminals
    # the plain check-in is applied here only if the ledger applies it the plain way
    fast = (type(ledger)._apply is Ledger._apply and type(ledger)._checkin is Ledger._checkin
            and ledger._plain_add_ballot and ledger.decided is not None)
    decided: Any = ledger.decided or {}
    checkins, ballots, rows = ledger.checkins, ledger.ballots, ledger.flags._rows
    sha256, apply = hashlib.sha256, ledger._apply
    claim, add_row = ballots.setdefault, rows.append
    order = ledger.order
    try:
        for it in items:
            if type(it) is not tuple:
                ev: Event = it
                if ev.terminal not in terminals:
                    ledger.register(ev.terminal, UNKNOWN_STATION, b"")
                ledger.order = order
                apply(ev)
                order = ledger.order
                continue
            t, seq, hlc, raw, data = it
            ts = terminals.get(t)
            if ts is None:
                ts = ledger.register(TerminalId(t), UNKNOWN_STATION, b"")
            voter, contests = data["voter"], tuple(data["contests"])
            key = (t, seq)
            one = (key,)  # the ballots' value: this check-in holds it (shared by its contests)
            plain = fast and key not in decided
            if plain and seq != ts.acked_seq + 1:  # _apply's check
                raise BatchRejected("連番が連続していません", code="batch_gap")
            if plain:  # every contest a first ballot: claimed here at once, undone if one is not
                for i, c in enumerate(contests):
                    if claim((voter, c), one) is not one:
                        for u in contests[:i]:
                            del ballots[(voter, u)]
                        plain = False
                        break
            if not plain:
                ledger.order = order
                apply(_event(it))
                order = ledger.order
                continue
            h = sha256(ts.head + raw).digest()
            ts.hashes._buf += h
            ts.head = h
            ts.acked_seq = seq
            order += 1
            station = data["station"]
            # _checkin's plain row and first ballots (see CheckinMap, Ledger._checkin)
            _dict_set(checkins, key, (voter, (t, seq, station, hlc, data["clerk"]), contests))
            n = len(rows)
            for c in contests:
                n += 1
                add_row((n, voter, c, 1, station, t, seq, hlc))
    finally:
        ledger.order = order
