"""Sneakernet journal files (``meibo terminal export`` / ``meibo hq import-journal``).

When a station's link is down all day, its signed journal travels on a USB stick. The file holds
exactly the BATCH frames the network path would send, so HQ applies it through the same session
and ledger code, with the same verification and idempotence::

    b"MEIBO-JOURNAL/1\\n" | header (canonical JSON) b"\\n" | { u32 big-endian length | frame }*

The header names election, terminal and station; HQ trusts none of it beyond choosing which
registered device key must have signed the batches.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Iterator

from nacl.signing import SigningKey

from appliance import journal
from appliance.dirs import write_atomic
from ground.events import canonical_json, genesis_hash
from appliance.store import Store
from sync_protocol.codec import MAX_FRAME, Frame, decode, encode
from sync_protocol.errors import FrameInvalid
from sync_protocol.session import LinkState, TerminalLink

MAGIC = b"MEIBO-JOURNAL/1\n"
MAX_FILE = 2 << 30


def export_journal(store: Store, key: SigningKey, election: str, terminal: str, station: str, out: Path,
                   exported_at: str) -> dict[str, Any]:
    head = journal.head(store)
    link = TerminalLink(election, terminal, station, key, max_batch=2000, window=1 << 30)
    link.state = LinkState.READY  # a file is a link that is always ready and never answers
    parts = [MAGIC, canonical_json({"election": election, "terminal": terminal, "station": station,
                                    "exported_at": exported_at, "last": head.seq}) + b"\n"]
    seq = 0
    prev_hash = genesis_hash(election, terminal)
    frames = 0
    while seq < head.seq:
        events = journal.entries_after(store, seq, limit=2000)
        frame = link.batch(events, prev_hash)
        assert frame is not None
        data = encode(frame)
        parts.append(struct.pack(">I", len(data)) + data)
        frames += 1
        seq = events[-1].seq
        prev_hash = bytes.fromhex(frame.header["head"])
    write_atomic(out, b"".join(parts))
    return {"events": head.seq, "frames": frames, "bytes": sum(len(p) for p in parts)}


def read_journal_file(path: Path) -> tuple[dict[str, Any], Iterator[Frame]]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE:
            raise FrameInvalid(f"{path}: ファイルが大きすぎます", code="journal_file_too_large")
        raw = path.read_bytes()
    except OSError as e:
        raise FrameInvalid(f"{path}: 読めません ({e.strerror})", code="journal_file_unreadable")
    if not raw.startswith(MAGIC):
        raise FrameInvalid(f"{path}: meibo の受付記録ファイルではありません", code="journal_file_invalid")
    nl = raw.find(b"\n", len(MAGIC))
    if nl < 0 or nl - len(MAGIC) > 4096:
        raise FrameInvalid(f"{path}: 見出しが壊れています", code="journal_file_invalid")
    try:
        header = json.loads(raw[len(MAGIC):nl].decode("utf-8"))
        if not isinstance(header, dict) or not all(isinstance(header.get(k), str) for k in ("election", "terminal")):
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        raise FrameInvalid(f"{path}: 見出しが壊れています", code="journal_file_invalid")

    def frames() -> Iterator[Frame]:
        pos = nl + 1
        n = 0
        while pos < len(raw):
            n += 1
            if pos + 4 > len(raw):
                raise FrameInvalid(f"{path}: {n} 番目のブロックが途切れています", code="journal_file_truncated")
            (length,) = struct.unpack(">I", raw[pos:pos + 4])
            if length > MAX_FRAME or pos + 4 + length > len(raw):
                raise FrameInvalid(f"{path}: {n} 番目のブロックが途切れているか大きすぎます", code="journal_file_truncated")
            yield decode(raw[pos + 4:pos + 4 + length])
            pos += 4 + length

    return header, frames()
