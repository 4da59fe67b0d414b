"""Sneakernet journal files (``meibo terminal export`` / ``meibo hq import-journal``).

When a station's link is down all day, its signed journal travels on a USB stick. The file holds
exactly the BATCH frames the network path would send, so HQ applies it through the same session
and ledger code, with the same verification and idempotence::

    b"MEIBO-JOURNAL/1\\n" | header (canonical JSON) b"\\n" | { u32 big-endian length | frame }*

The header names election, terminal and station; HQ trusts none of it beyond choosing which
registered device key must have signed the batches.

``verify_complete_export`` is the terminal's own check of such a file before ``meibo terminal
wipe --force-after-export`` (appliance/wipe.py takes it injected: appliance may not import this).
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any, Iterator

from nacl.signing import SigningKey

from appliance import journal
from appliance.dirs import write_atomic
from appliance.wipe import ExportMismatch
from ground.errors import MeiboError
from ground.events import canonical_json, chain_hash, genesis_hash
from ground.model import StationId, TerminalId
from appliance.store import Store
from sync_protocol.codec import MAX_FRAME, Frame, FrameType, decode, encode
from sync_protocol.crypto import verify_batch
from sync_protocol.errors import FrameInvalid
from sync_protocol.session import LinkState, TerminalLink

MAGIC = b"MEIBO-JOURNAL/1\n"
MAX_FILE = 2 << 30


def export_journal(store: Store, key: SigningKey, election: str, terminal: str, station: str, out: Path,
                   exported_at: str) -> dict[str, Any]:
    head = journal.head(store)
    link = TerminalLink(election, TerminalId(terminal), StationId(station), key, max_batch=2000, window=1 << 30)
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


def verify_complete_export(path: Path, *, election: str, terminal: str, device_pub: Path,
                           head: journal.Head) -> dict[str, Any]:
    """FILE must be this terminal's export, signed by its device key (``device_pub``), chained from
    genesis to the journal's ``head``. Raises ``ExportMismatch`` (one message per kind of doubt).
    An ``appliance.wipe.ExportCheck``."""
    try:
        header, frames = read_journal_file(path)
        if header.get("election") != election or header.get("terminal") != terminal:
            raise ExportMismatch(f"{path}: 別の選挙・端末の書き出しです（{header.get('election')} / {header.get('terminal')}）")
        pub = device_pub.read_bytes()
        seq, h = 0, genesis_hash(election, terminal)
        for fr in frames:
            if fr.type is not FrameType.BATCH:
                raise ExportMismatch(f"{path}: 受付記録以外のブロックがあります")
            first, last = int(fr.header["first"]), int(fr.header["last"])
            prev, fhead = bytes.fromhex(fr.header["prev"]), bytes.fromhex(fr.header["head"])
            if first != seq + 1 or prev != h or not fr.events or fr.events[0].seq != first \
                    or fr.events[-1].seq != last:
                raise ExportMismatch(f"{path}: 受付記録が {seq + 1} 番からつながっていません")
            x = prev
            for ev in fr.events:
                if ev.terminal != terminal:
                    raise ExportMismatch(f"{path}: 別の端末の記録が混ざっています")
                x = chain_hash(x, ev.encode())
            if x != fhead:
                raise ExportMismatch(f"{path}: 記録が署名の後で変えられています")
            verify_batch(pub, bytes.fromhex(fr.header["sig"]), election, TerminalId(terminal), first, last, prev, fhead)
            seq, h = last, fhead
    except ExportMismatch:
        raise
    except MeiboError as e:
        raise ExportMismatch(f"{path}: この端末の書き出しとして確認できません（{e.message}）") from None
    except (KeyError, ValueError, TypeError, OSError):
        raise ExportMismatch(f"{path}: この端末の書き出しとして確認できません") from None
    if seq != head.seq or h != head.hash:
        raise ExportMismatch(f"{path}: 書き出しは {seq} 番までで、端末の受付記録（{head.seq} 番まで）の全部ではありません")
    return {"file": str(path), "events": seq, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
