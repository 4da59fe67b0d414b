"""Every header field of every frame type, checked by kind before a state machine reads it.

The peer is outside input (a stolen terminal, a middlebox, a buggy older build): a field of the
wrong JSON type must never reach ``int()`` or ``bytes.fromhex()`` and end a connection with a
traceback. ``check_frame`` raises ``HeaderInvalid`` naming the first bad field; HQ answers it
with REFUSED ``header_invalid`` (session.py), the terminal drops the link and reconnects later
(client.py).

The kinds are strict: bool is not an int (JSON ``true`` would pass ``int()``), ints are
non-negative and fit SQLite's INTEGER (seqs, cursors and HLCs are stored as one), lists are
bounded, hashes and signatures are lowercase hex. A field not in the table is ignored, so a
newer peer may add fields. ``zaigai`` (WELCOME) stays out on purpose: a terminal ignores a bad
one rather than dropping the link (session.py).

Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from sync_protocol.codec import Frame, FrameType
from sync_protocol.errors import HeaderInvalid

MAX_UINT = (1 << 63) - 1
MAX_TEXT = 256  # ids, codes, station names
MAX_MESSAGE = 2048  # a REFUSED message (Japanese, for the operator)
MAX_HEX = 256  # a 64-byte signature is 128 hex digits
MAX_UNDECIDED = 256  # check-ins a HELLO may ask verdicts for
MAX_CONTESTS = 256
MAX_VERDICTS = 100_000  # check-ins one ACK/WELCOME may answer: ``ok`` ranges expanded, ``v`` entries

Check = Callable[[Any], bool]
_HEX = re.compile(r"(?:[0-9a-f]{2})*")


def _uint(v: Any) -> bool:
    return type(v) is int and 0 <= v <= MAX_UINT


def _text(v: Any) -> bool:
    return type(v) is str and len(v) <= MAX_TEXT


def _message(v: Any) -> bool:
    return type(v) is str and len(v) <= MAX_MESSAGE


def _hex(v: Any) -> bool:
    return type(v) is str and len(v) <= MAX_HEX and _HEX.fullmatch(v) is not None


def _object(v: Any) -> bool:
    return type(v) is dict  # STATUS ``radio``: its few shown fields are filtered in session._radio


def _list_of(check: Check, limit: int) -> Check:
    def ok(v: Any) -> bool:
        return type(v) is list and len(v) <= limit and all(check(x) for x in v)

    return ok


def _ranges(v: Any) -> bool:
    """``ok``: [[lo, hi], ...] seq ranges, every contest accepted; the total is bounded, as the
    terminal expands each range into one verdict per seq."""
    if type(v) is not list or len(v) > MAX_VERDICTS:
        return False
    total = 0
    for r in v:
        if type(r) is not list or len(r) != 2 or not _uint(r[0]) or not _uint(r[1]) or r[0] > r[1]:
            return False
        total += r[1] - r[0] + 1
        if total > MAX_VERDICTS:
            return False
    return True


def _verdict(e: Any) -> bool:
    """One ``v`` entry: [seq, contest, "A"], [seq, contest, "V", station, terminal, hlc, first_seq],
    or [seq, contest, "R", code]: HQ refused to count the check-in and says why (a station with a
    terminal still in test mode, ``station_in_rehearsal``): no ballot, never オフライン受付."""
    if type(e) is not list or not e or not _uint(e[0]):
        return False
    if len(e) == 3:
        return _text(e[1]) and e[2] == "A"
    if len(e) == 4:
        return _text(e[1]) and e[2] == "R" and _text(e[3])
    return (len(e) == 7 and _text(e[1]) and e[2] == "V" and _text(e[3]) and _text(e[4]) and _uint(e[5])
            and _uint(e[6]))


def _flag(f: Any) -> bool:
    """One FLAGS row (``Flag.wire()``): cursor, voter, contest, delta, station, terminal, seq, hlc."""
    return (len(f) == 8 and _uint(f[0]) and _text(f[1]) and _text(f[2]) and type(f[3]) is int
            and -1 <= f[3] <= 1 and _text(f[4]) and _text(f[5]) and _uint(f[6]) and _uint(f[7]))


_VERDICT_FIELDS: tuple[tuple[str, Check, bool], ...] = (
    ("ok", _ranges, False), ("v", _list_of(_verdict, MAX_VERDICTS), False))

# frame type -> (field, kind, required). HELLO's ``v`` is compared first (session.py): a newer
# protocol version may shape its header differently.
FIELDS: dict[FrameType, tuple[tuple[str, Check, bool], ...]] = {
    FrameType.HELLO: (("v", _uint, True), ("election", _text, True), ("terminal", _text, True),
                      ("station", _text, False), ("head_seq", _uint, False), ("head", _hex, False),
                      ("cursor", _uint, False), ("mark", _text, False), ("acked", _uint, False),
                      ("roll", _uint, False), ("undecided", _list_of(_uint, MAX_UNDECIDED), False)),
    FrameType.WELCOME: (("acked_seq", _uint, True), ("acked_head", _hex, True), ("roll", _uint, False),
                        ("cursor", _uint, False),
                        ("contests", _list_of(_text, MAX_CONTESTS), False), *_VERDICT_FIELDS),
    FrameType.BATCH: (("first", _uint, True), ("last", _uint, True), ("prev", _hex, True),
                      ("head", _hex, True), ("sig", _hex, True)),
    FrameType.ACK: (("acked_seq", _uint, True), *_VERDICT_FIELDS),
    FrameType.FLAGS: (("cursor", _uint, True), ("mark", _text, False)),
    FrameType.RESEND: (("from", _uint, True),),
    FrameType.REFUSED: (("code", _text, False), ("message", _message, False)),
    FrameType.FLAGS_ACK: (("cursor", _uint, True),),
    FrameType.STATUS: (("radio", _object, False),),
}


def check_frame(frame: Frame) -> None:
    """Raise ``HeaderInvalid`` naming the first missing or malformed field (and, for FLAGS, a
    malformed row of its body); return for a frame every field of which has its kind."""
    h = frame.header
    for name, ok, required in FIELDS.get(frame.type, ()):
        if name in h:
            if not ok(h[name]):
                raise HeaderInvalid(frame.type.name, name)
        elif required:
            raise HeaderInvalid(frame.type.name, name, missing=True)
    if frame.type is FrameType.FLAGS and not all(_flag(f) for f in frame.flags):
        raise HeaderInvalid(frame.type.name, "flags")
