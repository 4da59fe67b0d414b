"""Wire frames of the sync protocol and their deterministic encoding (spec: docs/protocol.md).

A frame is one WebSocket binary message::

    type (1 byte) | header length (unsigned LEB128) | header (canonical JSON) | body

The header is canonical JSON (sorted keys, no spaces, UTF-8). The body, present only for BATCH
and FLAGS, is zlib-compressed: for BATCH the concatenation of ``LEB128 length || event`` for
each journal event in its canonical encoding (ground/events.py), for FLAGS a canonical JSON
list. Sizes are bounded before anything is allocated: a hostile frame costs at most
``MAX_FRAME`` bytes in and ``MAX_BODY`` bytes decompressed.

Pure: no sockets, no aiohttp, no SQLite.
"""

from __future__ import annotations

import zlib

import orjson
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ground.events import Event, canonical_json, decode_batch
from ground.errors import JournalCorrupt
from sync_protocol.errors import FrameInvalid

PROTOCOL_VERSION = 1
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


@dataclass(frozen=True)
class Frame:
    type: FrameType
    header: dict[str, Any]
    events: tuple[Event, ...] = ()
    flags: tuple[tuple[Any, ...], ...] = ()


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
        if pos >= len(buf) or shift > 35:
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


def encode(frame: Frame) -> bytes:
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


def _inflate(body: bytes) -> bytes:
    d = zlib.decompressobj()
    try:
        raw = d.decompress(body, MAX_BODY)
        if d.unconsumed_tail or not d.eof:
            raise FrameInvalid("本文が大きすぎるか途切れています", code="frame_body_invalid")
        if d.unused_data:
            raise FrameInvalid("本文の後に余分なデータがあります", code="frame_body_invalid")
    except zlib.error:
        raise FrameInvalid("本文を展開できません", code="frame_body_invalid")
    return raw


def decode(data: bytes) -> Frame:
    """Decode one frame; any malformation raises ``FrameInvalid`` and nothing else."""
    if len(data) > MAX_FRAME:
        raise FrameInvalid("フレームが大きすぎます", code="frame_too_large")
    if not data:
        raise FrameInvalid("空のフレームです", code="frame_truncated")
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
    events: list[Event] = []
    flags: list[tuple[Any, ...]] = []
    if ftype is FrameType.BATCH:
        raw = _inflate(body)
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
    return Frame(ftype, header, tuple(events), tuple(flags))
