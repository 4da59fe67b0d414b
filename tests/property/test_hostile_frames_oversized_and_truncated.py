"""Hostile sync frames and journal exports: oversized frames are refused before anything is
allocated or decompressed past the bound, a decompression bomb inside the size limit is refused,
every truncation of a valid signed BATCH is refused, and a flipped byte never yields a batch the
ledger accepts. (A batch signed by another terminal and a valid batch replayed from another
election are tested end to end over TLS in tests/integration/test_batch_verification.py; a roll
package whose manifest row count disagrees with its rows in
tests/unit/appliance/test_roll_install_rollback_and_other_election.py.)"""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from ground.errors import MeiboError
from ground.events import Event, EventKind, genesis_hash
from ground.model import TerminalId
from sync_protocol import codec
from sync_protocol.codec import MAX_BODY, MAX_FRAME, Frame, FrameType, decode, encode
from sync_protocol.errors import FrameInvalid
from sync_protocol.journal_file import MAGIC, read_journal_file
from hq.ledger import Ledger
from sync_protocol.session import LinkState, TerminalLink

KEY = SigningKey(b"\x07" * 32)


def signed_batch(n: int = 5) -> bytes:
    evs = [Event(EventKind.CHECKIN, i, 1000 + i, TerminalId("T01"),
                 {"station": "E01", "clerk": "c", "voter": str(100000 + i), "contests": ["shu"]})
           for i in range(1, n + 1)]
    link = TerminalLink("e", "T01", "E01", KEY, max_batch=100, window=10)
    link.state = LinkState.READY
    f = link.batch(evs, genesis_hash("e", "T01"))
    assert f is not None
    return encode(f)


def test_oversized_frame_refused_without_parsing() -> None:
    huge = bytes([FrameType.BATCH]) + b"\x00" * MAX_FRAME
    tracemalloc.start()
    with pytest.raises(FrameInvalid) as e:
        decode(huge)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert e.value.code == "frame_too_large" and peak < 64 << 10
    with pytest.raises(FrameInvalid):
        encode(Frame(FrameType.HELLO, {"pad": "x" * MAX_FRAME}))


def test_decompression_bomb_inside_the_size_limit_is_refused_with_bounded_memory() -> None:
    bomb = zlib.compress(b"\0" * (MAX_BODY * 4), 9)
    assert len(bomb) < MAX_FRAME
    data = bytes([FrameType.BATCH]) + codec._leb(2) + b"{}" + bomb
    tracemalloc.start()
    with pytest.raises(FrameInvalid) as e:
        decode(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert e.value.code == "frame_body_invalid" and peak < 3 * MAX_BODY


def test_header_length_claiming_more_than_the_frame_is_truncated() -> None:
    with pytest.raises(FrameInvalid) as e:
        decode(bytes([FrameType.HELLO]) + codec._leb(60000) + b"{}")
    assert e.value.code == "frame_truncated"


def test_every_truncation_of_a_signed_batch_is_refused() -> None:
    data = signed_batch()
    assert decode(data).events
    for cut in range(len(data)):
        with pytest.raises(FrameInvalid):
            decode(data[:cut])


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_flipped_byte_never_yields_a_batch_the_ledger_accepts(data: st.DataObject) -> None:
    raw = bytearray(signed_batch(3))
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= data.draw(st.integers(1, 255))
    ledger = Ledger("e")
    ledger.register("T01", "E01", bytes(KEY.verify_key))
    try:
        f = decode(bytes(raw))
        h = f.header
        ledger.check_batch("T01", list(f.events), bytes.fromhex(h["sig"]), int(h["first"]), int(h["last"]),
                           h["prev"], h["head"])
    except (MeiboError, KeyError, ValueError, TypeError):
        return
    # the only way through is a change that leaves the signed content intact (e.g. none)
    assert decode(bytes(raw)).events == decode(signed_batch(3)).events


def test_journal_file_truncated_or_oversized_block_is_refused(tmp_path: Path) -> None:
    frame = signed_batch()
    good = MAGIC + b'{"election":"e","terminal":"T01"}\n' + struct.pack(">I", len(frame)) + frame
    p = tmp_path / "j.mbj"
    p.write_bytes(good)
    _, frames = read_journal_file(p)
    assert len(list(frames)) == 1
    for bad, code in ((good[:-3], "journal_file_truncated"),
                      (good[:len(good) - len(frame) - 4] + struct.pack(">I", MAX_FRAME + 1), "journal_file_truncated"),
                      (b"MEIBO-JOURNAL/1\n" + b"x" * 5000, "journal_file_invalid")):
        p.write_bytes(bad)
        with pytest.raises(FrameInvalid) as e:
            _, frames = read_journal_file(p)
            list(frames)
        assert e.value.code == code
