"""Wire frames of the sync protocol and their deterministic encoding (spec: docs/protocol.md).

A frame is one WebSocket binary message::

    type (1 byte) | header length (unsigned LEB128) | header (canonical JSON) | body

The header is canonical JSON (sorted keys, no spaces, UTF-8). Protocol 2 (issue 20: bytes on
metered LTE) sends BATCH and FLAGS in a compact binary form under their own type bytes
(``BATCH_COMPACT`` 10, ``FLAGS_COMPACT`` 11, ``ACK_COMPACT`` 12, ``BATCH_LZMA`` 13 for a backlog): raw hashes and signature instead of hex in JSON,
no ``head`` (the receiver recomputes the chain from ``prev`` over the events; the signature covers
it), event bodies deflated against a fixed dictionary of the events' own JSON shape, flags as
packed rows over a per-frame string table, and an ACK's ``ok`` ranges as LEB128 deltas. ``decode`` turns either form into the same ``Frame``
(header fields as protocol 1 names them, hashes as hex), so the state machines, the ledger and
what HQ stores are unchanged: only the wire form differs, converted here at the edge. The
protocol-1 forms (types 3 and 5) still decode: journal files exported before protocol 2 hold them.

Compression and CRIME-like attacks: a compressed body holds only the sender's own journal events
or HQ's flags, compressed frame by frame with a fresh compressor and a public dictionary; no
secret (key, token, password) ever shares a compression context with anything a third party
chooses, and TLS compression stays off (tls.py).

Hand-written rather than CBOR/protobuf: the layout is a few LEB128 integers and fixed-size byte
strings, checked strictly in one place, and must stay byte-exact for the test vectors.

Sizes are bounded before anything is allocated: a hostile frame costs at most ``MAX_FRAME``
bytes in and ``MAX_BODY`` bytes decompressed.

Pure: no sockets, no aiohttp, no SQLite.
"""

from __future__ import annotations

import hashlib
import lzma
import zlib

import orjson
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from ground.events import Event, canonical_json, decode_batch
from ground.errors import JournalCorrupt
from sync_protocol.errors import FrameInvalid

PROTOCOL_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)  # HQ speaks both: a protocol-1 link gets protocol-1 FLAGS (Frame.wire)
MAX_FRAME = 1 << 20  # 1 MiB on the wire
MAX_HEADER = 64 << 10
MAX_BODY = 8 << 20  # decompressed
MAX_BATCH_EVENTS = 4096
MAX_FLAGS = 20000


class FrameType(IntEnum):
    HELLO = 1  # T→H: who I am, my journal head, my flag cursor
    WELCOME = 2  # H→T: what HQ holds of my journal, my standing
    BATCH = 3  # T→H: signed journal events
    ACK = 4  # H→T: highest durable seq + verdicts
    FLAGS = 5  # H→T: voted flags from elsewhere, behind a cursor
    RESEND = 6  # H→T: gap: send again from seq
    REFUSED = 7  # H→T: batch refused or terminal held/revoked
    FLAGS_ACK = 8  # T→H: flags durable up to cursor
    STATUS = 9  # T→H: the terminal's radio as it changes (LTE bars, carrier, closed APN)


# Wire type bytes of the compact forms (protocol 2); decoded as BATCH / FLAGS.
BATCH_COMPACT = 10
FLAGS_COMPACT = 11
ACK_COMPACT = 12
BATCH_LZMA = 13  # BATCH_COMPACT with its events in raw LZMA2: a backlog (≥ LZMA_FROM events)
LZMA_FROM = 32  # fewer events: DEFLATE with EVENT_DICT is smaller, and HQ decodes it 4× faster
# fixed filter chain (raw LZMA2 carries none): the dictionary bounds the decoder's memory
LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": 1 << 20}]
HASH_LEN = 32  # SHA-256 chain hash
SIG_LEN = 64  # Ed25519
MAX_MARK = 32  # FLAGS ``mark``: 8 bytes today (hq/ledger FlagLog.mark)

# The deflate dictionary of compact BATCH bodies: the JSON shape every journal event shares
# (ground/events.py), most frequent last. Part of protocol 2: never changed without a new version.
EVENT_DICT = (b'"kind":"tentative","lookup","station","count","via":"void","reason":"withheld",'
              b'"proxy":true,"braille":true,"oath_reason":"age_confirmed":"'
              b'{"d":{"ref":1,"clerk":"c","contests":["governor","mayor"],"station":"E0'
              b'{"d":{"clerk":"c","contests":["governor","mayor"],"station":"E0","voter":"00000'
              b'"},"h":45000000000000000,"k":"provisional","s":1,"t":"T0'
              b'"},"h":45000000000000000,"k":"checkin","s":1,"t":"T0"}')


@dataclass(frozen=True)
class Frame:
    type: FrameType
    header: dict[str, Any]
    events: tuple[Event, ...] = ()
    flags: tuple[tuple[Any, ...], ...] = ()
    # the protocol version whose wire form ``encode`` writes (BATCH, FLAGS, ACK differ); not content
    wire: int = field(default=PROTOCOL_VERSION, compare=False)


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_leb(buf: bytes, pos: int, limit: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise FrameInvalid("長さの表現が不正です", code="frame_truncated")
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    if n > limit:
        raise FrameInvalid("長さが上限を超えています", code="frame_too_large")
    return n, pos


def _zigzag(n: int) -> int:
    return (n << 1) if n >= 0 else ((-n << 1) - 1)


def _unzigzag(n: int) -> int:
    return (n >> 1) if not n & 1 else -((n + 1) >> 1)


def _deflate(raw: bytes, zdict: bytes | None = None) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, *((zdict,) if zdict else ()))
    return c.compress(raw) + c.flush()


def _raw_hash(v: Any, size: int, name: str) -> bytes:
    try:
        b = bytes.fromhex(v) if isinstance(v, str) else b""
    except ValueError:
        b = b""
    if len(b) != size:
        raise FrameInvalid(f"{name} の長さが不正です", code="frame_header_invalid")
    return b


def _encode_batch_compact(frame: Frame) -> bytes:
    h = frame.header
    first, last = h.get("first"), h.get("last")
    if type(first) is not int or type(last) is not int or not 0 <= first <= last:
        raise FrameInvalid("一括送信の範囲が不正です", code="frame_header_invalid")
    raw = b"".join(_leb(len(e)) + e for e in (ev.encode() for ev in frame.events))
    backlog = len(frame.events) >= LZMA_FROM
    body = (lzma.compress(raw, format=lzma.FORMAT_RAW, filters=LZMA_FILTERS) if backlog
            else _deflate(raw, EVENT_DICT))
    return (bytes([BATCH_LZMA if backlog else BATCH_COMPACT]) + _leb(first) + _leb(last - first)
            + _raw_hash(h.get("prev"), HASH_LEN, "prev") + _raw_hash(h.get("sig"), SIG_LEN, "sig") + body)


def _strings_form(s: str) -> bytes:
    """One string of a compact FLAGS table: ``LEB(len << 1 | 1) LEB(value)`` for 1–18 ASCII
    digits (voter ids: "0000012345" keeps its width), else ``LEB(len << 1) UTF-8``."""
    if 0 < len(s) <= 18 and s.isascii() and s.isdigit():
        return _leb(len(s) << 1 | 1) + _leb(int(s))
    b = s.encode()
    return _leb(len(b) << 1) + b


def _encode_flags_compact(frame: Frame) -> bytes:
    h = frame.header
    cursor, mark = h.get("cursor"), h.get("mark", "")
    if type(cursor) is not int or cursor < 0:
        raise FrameInvalid("cursor が不正です", code="frame_header_invalid")
    try:
        mb = bytes.fromhex(mark) if isinstance(mark, str) and mark == mark.lower() else None
    except ValueError:
        mb = None
    if mb is None or len(mb) > MAX_MARK:
        raise FrameInvalid("mark が不正です", code="frame_header_invalid")
    table: dict[str, int] = {}
    rows = bytearray()
    pc = ph = 0
    fl = frame.flags
    for f in fl:
        if len(f) != 8 or not all(type(f[i]) is int for i in (0, 3, 6, 7)) or not all(
                type(f[i]) is str for i in (1, 2, 4, 5)) or f[3] not in (-1, 0, 1) or f[0] < 0 or f[6] < 0 or f[7] < 0:
            raise FrameInvalid("投票済情報の形式が不正です", code="frame_body_invalid")
    i, n = 0, len(fl)
    while i < n:
        f = fl[i]
        j = i + 1  # the contests of one check-in: consecutive cursors, all else equal, share a row
        while (j < n and j - i < 64 and fl[j][0] == fl[j - 1][0] + 1 and fl[j][1] == f[1] and fl[j][3:] == f[3:]):
            j += 1
        idx = [table.setdefault(f[k], len(table)) for k in (1, 4, 5)]
        contests = [table.setdefault(fl[k][2], len(table)) for k in range(i, j)]
        rows += (_leb(_zigzag(f[0] - pc)) + _leb(idx[0]) + _leb((j - i - 1) << 2 | (f[3] + 1))
                 + b"".join(_leb(c) for c in contests) + _leb(idx[1]) + _leb(idx[2]) + _leb(f[6])
                 + _leb(_zigzag(f[7] - ph)))
        pc, ph = fl[j - 1][0], f[7]
        i = j
    payload = _leb(len(table)) + b"".join(_strings_form(s) for s in table) + _leb(len(frame.flags)) + bytes(rows)
    packed = _deflate(payload)
    body = (b"\x01" + packed) if len(packed) + 1 < len(payload) else (b"\x00" + payload)
    return bytes([FLAGS_COMPACT]) + _leb(cursor) + _leb(len(mb)) + mb + body


def _ack_compactable(h: dict[str, Any]) -> bool:
    ok = h.get("ok", [])
    return (set(h) <= {"acked_seq", "ok", "v"} and type(h.get("acked_seq")) is int and 0 <= h["acked_seq"] <= MAX_UINT
            and type(ok) is list and all(type(r) is list and len(r) == 2 and all(type(x) is int and 0 <= x <= MAX_UINT
                                                                                   for x in r) and r[0] <= r[1] for r in ok)
            and type(h.get("v", [])) is list)


def _encode_ack_compact(h: dict[str, Any]) -> bytes:
    """``type | LEB acked_seq | LEB n | n × (LEB zigzag(base - hi), LEB hi - lo) | v``: each
    ``ok`` range relative to the one before (the first to ``acked_seq``), then the ``v`` list as
    canonical JSON, left out when empty (the usual ACK: every contest accepted)."""
    out = bytearray([ACK_COMPACT]) + _leb(h["acked_seq"]) + _leb(len(h.get("ok", [])))
    base = h["acked_seq"]
    for lo, hi in h.get("ok", []):
        out += _leb(_zigzag(base - hi)) + _leb(hi - lo)
        base = lo
    if h.get("v"):
        out += canonical_json(h["v"])
    return bytes(out)


def _decode_ack_compact(data: bytes) -> Frame:
    acked, pos = _read_uint(data, 1)
    n, pos = _read_leb(data, pos, len(data))
    ok: list[list[int]] = []
    base = acked
    for _ in range(n):
        d, pos = _read_uint(data, pos)
        span, pos = _read_uint(data, pos)
        hi = base - _unzigzag(d)
        lo = hi - span
        if lo < 0 or hi > MAX_UINT:
            raise FrameInvalid("判定の範囲が不正です", code="frame_header_invalid")
        ok.append([lo, hi])
        base = lo
    v: Any = []
    if pos < len(data):
        raw = data[pos:]
        try:
            v = orjson.loads(raw)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise FrameInvalid("判定が読めません", code="frame_header_invalid")
        if type(v) is not list or not v or canonical_json(v) != raw:
            raise FrameInvalid("判定が正規形ではありません", code="frame_header_invalid")
    return Frame(FrameType.ACK, {"acked_seq": acked, "ok": ok, "v": v})


def encode(frame: Frame, compact: bool | None = None) -> bytes:
    """The frame's wire bytes: BATCH and FLAGS in their compact forms (protocol 2) unless
    ``compact`` is False or, left None, the frame is for a protocol-1 peer (``frame.wire``)."""
    if compact is None:
        compact = frame.wire >= 2
    if compact and frame.type is FrameType.BATCH:
        out = _encode_batch_compact(frame)
    elif compact and frame.type is FrameType.FLAGS:
        out = _encode_flags_compact(frame)
    elif compact and frame.type is FrameType.ACK and _ack_compactable(frame.header):
        out = _encode_ack_compact(frame.header)
    else:
        out = _encode_v1(frame)
    if len(out) > MAX_FRAME:
        raise FrameInvalid("フレームが大きすぎます", code="frame_too_large")
    return out


def _encode_v1(frame: Frame) -> bytes:
    header = canonical_json(frame.header)
    body = b""
    if frame.type is FrameType.BATCH:
        raw = b"".join(_leb(len(e)) + e for e in (ev.encode() for ev in frame.events))
        body = zlib.compress(raw, 9)
    elif frame.type is FrameType.FLAGS:
        body = zlib.compress(canonical_json([list(f) for f in frame.flags]), 9)
    out = bytes([frame.type]) + _leb(len(header)) + header + body
    if len(out) > MAX_FRAME:
        raise FrameInvalid("フレームが大きすぎます", code="frame_too_large")
    return out


def _inflate(body: bytes, wbits: int = 15, zdict: bytes | None = None) -> bytes:
    d = zlib.decompressobj(wbits, *((zdict,) if zdict else ()))
    try:
        raw = d.decompress(body, MAX_BODY)
        if d.unconsumed_tail or not d.eof:
            raise FrameInvalid("本文が大きすぎるか途切れています", code="frame_body_invalid")
        if d.unused_data:
            raise FrameInvalid("本文の後に余分なデータがあります", code="frame_body_invalid")
    except zlib.error:
        raise FrameInvalid("本文を展開できません", code="frame_body_invalid")
    return raw


def _read_uint(buf: bytes, pos: int) -> tuple[int, int]:
    """One LEB128 integer of a compact header, in its shortest form only (one encoding per
    value, as the canonical JSON header is one text per value)."""
    n, end = _read_leb(buf, pos, MAX_UINT)
    if end - pos > 1 and buf[end - 1] == 0:
        raise FrameInvalid("整数の表現が正規形ではありません", code="frame_header_invalid")
    return n, end


MAX_UINT = (1 << 63) - 1  # as headers.MAX_UINT: seqs, cursors and HLCs fit SQLite's INTEGER


def _split_events(raw: bytes) -> tuple[Event, ...]:
    # Split first, then decode the events as one batch (ground.events.decode_batch); a
    # framing fault is raised only after the events before it decoded, so the first fault in
    # stream order is the one reported, as when each event was decoded as it was split off.
    raws: list[bytes] = []
    fault: FrameInvalid | None = None
    p, end = 0, len(raw)
    while p < end:
        if len(raws) >= MAX_BATCH_EVENTS:
            fault = FrameInvalid("一括送信の件数が上限を超えています", code="batch_too_large")
            break
        b = raw[p]
        if b < 0x80:  # LEB128 inline: events are < 16 KiB, so one or two bytes
            n, p = b, p + 1
        elif p + 1 < end and raw[p + 1] < 0x80:
            n, p = (b & 0x7F) | (raw[p + 1] << 7), p + 2
        else:
            try:
                n, p = _read_leb(raw, p, 1 << 16)
            except FrameInvalid as e:
                fault = e
                break
        if p + n > end:
            fault = FrameInvalid("記録が途切れています", code="frame_truncated")
            break
        raws.append(raw[p:p + n])
        p += n
    try:
        events = decode_batch(raws)
    except JournalCorrupt as e:
        raise FrameInvalid(f"記録が不正です: {e.message}", code="frame_event_invalid")
    if fault is not None:
        raise fault
    return tuple(events)


def _unlzma(body: bytes) -> bytes:
    d = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=LZMA_FILTERS)
    try:
        raw = d.decompress(body, MAX_BODY)
    except lzma.LZMAError:
        raise FrameInvalid("本文を展開できません", code="frame_body_invalid")
    if not d.eof:
        raise FrameInvalid("本文が大きすぎるか途切れています", code="frame_body_invalid")
    if d.unused_data:
        raise FrameInvalid("本文の後に余分なデータがあります", code="frame_body_invalid")
    return raw


def _decode_batch_compact(data: bytes) -> Frame:
    first, pos = _read_uint(data, 1)
    span, pos = _read_uint(data, pos)
    if first + span > MAX_UINT:
        raise FrameInvalid("一括送信の範囲が不正です", code="frame_header_invalid")
    if pos + HASH_LEN + SIG_LEN > len(data):
        raise FrameInvalid("ヘッダが途切れています", code="frame_truncated")
    prev = data[pos:pos + HASH_LEN]
    sig = data[pos + HASH_LEN:pos + HASH_LEN + SIG_LEN]
    body = data[pos + HASH_LEN + SIG_LEN:]
    events = _split_events(_unlzma(body) if data[0] == BATCH_LZMA else _inflate(body, -15, EVENT_DICT))
    h = prev
    sha256 = hashlib.sha256
    for ev in events:  # the head the terminal signed, recomputed (not sent: the signature covers it)
        h = sha256(h + ev.encode()).digest()
    header = {"first": first, "head": h.hex(), "last": first + span, "prev": prev.hex(), "sig": sig.hex()}
    return Frame(FrameType.BATCH, header, events)


def _decode_flags_compact(data: bytes) -> Frame:
    cursor, pos = _read_uint(data, 1)
    mlen, pos = _read_leb(data, pos, MAX_MARK)
    if pos + mlen + 1 > len(data):
        raise FrameInvalid("ヘッダが途切れています", code="frame_truncated")
    mark = data[pos:pos + mlen].hex()
    pos += mlen
    mode = data[pos]
    if mode == 1:
        buf = _inflate(data[pos + 1:], -15)
    elif mode == 0:
        buf = data[pos + 1:]
    else:
        raise FrameInvalid("投票済情報の形式が不正です", code="frame_body_invalid")
    p = 0
    nstr, p = _read_leb(buf, p, MAX_FLAGS * 4)
    table: list[str] = []
    for _ in range(nstr):
        tag, p = _read_leb(buf, p, 1 << 20)
        n = tag >> 1
        if tag & 1:
            if not 0 < n <= 18:
                raise FrameInvalid("投票済情報の形式が不正です", code="frame_body_invalid")
            num, p = _read_leb(buf, p, 10 ** n - 1)
            table.append(str(num).zfill(n))
        else:
            if p + n > len(buf):
                raise FrameInvalid("投票済情報が途切れています", code="frame_truncated")
            try:
                table.append(buf[p:p + n].decode())
            except UnicodeDecodeError:
                raise FrameInvalid("投票済情報が読めません", code="frame_body_invalid")
            p += n
    nflags, p = _read_leb(buf, p, MAX_FLAGS)
    flags: list[tuple[Any, ...]] = []
    pc = ph = 0
    nt = len(table)
    try:
        while len(flags) < nflags:
            dc, p = _read_leb(buf, p, MAX_UINT * 2)
            iv, p = _read_leb(buf, p, nt - 1)
            kd, p = _read_leb(buf, p, 255)
            k, delta = (kd >> 2) + 1, (kd & 3) - 1
            if delta > 1 or len(flags) + k > nflags:
                raise FrameInvalid("投票済情報の形式が不正です", code="frame_body_invalid")
            cs = []
            for _ in range(k):
                ic, p = _read_leb(buf, p, nt - 1)
                cs.append(table[ic])
            ist, p = _read_leb(buf, p, nt - 1)
            itm, p = _read_leb(buf, p, nt - 1)
            seq, p = _read_leb(buf, p, MAX_UINT)
            dh, p = _read_leb(buf, p, MAX_UINT * 2)
            pc, ph = pc + _unzigzag(dc), ph + _unzigzag(dh)
            v, st, tm = table[iv], table[ist], table[itm]
            flags.extend((pc + x, v, c, delta, st, tm, seq, ph) for x, c in enumerate(cs))
            pc += k - 1
    except IndexError:
        raise FrameInvalid("投票済情報が途切れています", code="frame_truncated")
    if p != len(buf):
        raise FrameInvalid("投票済情報の後に余分なデータがあります", code="frame_body_invalid")
    return Frame(FrameType.FLAGS, {"cursor": cursor, "mark": mark}, flags=tuple(flags))


def decode(data: bytes) -> Frame:
    """Decode one frame, either form; any malformation raises ``FrameInvalid`` and nothing else."""
    if len(data) > MAX_FRAME:
        raise FrameInvalid("フレームが大きすぎます", code="frame_too_large")
    if not data:
        raise FrameInvalid("空のフレームです", code="frame_truncated")
    if data[0] in (BATCH_COMPACT, BATCH_LZMA):
        return _decode_batch_compact(data)
    if data[0] == FLAGS_COMPACT:
        return _decode_flags_compact(data)
    if data[0] == ACK_COMPACT:
        return _decode_ack_compact(data)
    try:
        ftype = FrameType(data[0])
    except ValueError:
        raise FrameInvalid(f"不明なフレーム種別です: {data[0]}", code="frame_unknown_type")
    hlen, pos = _read_leb(data, 1, MAX_HEADER)
    if pos + hlen > len(data):
        raise FrameInvalid("ヘッダが途切れています", code="frame_truncated")
    hraw = data[pos:pos + hlen]
    try:
        header = orjson.loads(hraw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise FrameInvalid("ヘッダが読めません", code="frame_header_invalid")
    if not isinstance(header, dict) or canonical_json(header) != hraw:
        raise FrameInvalid("ヘッダが正規形ではありません", code="frame_header_invalid")
    body = data[pos + hlen:]
    events: tuple[Event, ...] = ()
    flags: list[tuple[Any, ...]] = []
    if ftype is FrameType.BATCH:
        events = _split_events(_inflate(body))
    elif ftype is FrameType.FLAGS:
        try:
            lst = orjson.loads(_inflate(body))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise FrameInvalid("投票済情報が読めません", code="frame_body_invalid")
        if not isinstance(lst, list) or len(lst) > MAX_FLAGS or not all(isinstance(x, list) for x in lst):
            raise FrameInvalid("投票済情報の形式が不正です", code="frame_body_invalid")
        flags = [tuple(x) for x in lst]
    elif body:
        raise FrameInvalid("このフレームに本文はありません", code="frame_body_invalid")
    return Frame(ftype, header, events, tuple(flags), wire=1)  # re-encodes as it came
