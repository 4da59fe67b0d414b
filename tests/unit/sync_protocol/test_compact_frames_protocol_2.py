"""Protocol 2's compact wire forms (issue 20: bytes per online check-in on metered LTE).

BATCH, FLAGS and ACK travel as binary (codec.BATCH_COMPACT, FLAGS_COMPACT, ACK_COMPACT) and
decode to the very Frame the protocol-1 JSON form gives, so the ledger and what HQ stores are
unchanged. A hostile compact frame is refused with FrameInvalid (or, once decoded, HeaderInvalid
from headers.check_frame), never another exception. HQ speaks both versions: a protocol-1 link gets
protocol-1 FLAGS and ACK; any other ``v`` is refused with ``protocol_version`` in Japanese.
"""

from __future__ import annotations

import random

import pytest
from nacl.signing import SigningKey

from ground.errors import MeiboError
from ground.events import Event, EventKind, chain_hash, genesis_hash
from hq.session import HqSession
from sync_protocol.codec import (ACK_COMPACT, BATCH_COMPACT, BATCH_LZMA, FLAGS_COMPACT, Frame, FrameType, decode,
                                 encode)
from sync_protocol.headers import check_frame
from sync_protocol.session import TerminalLink
from tests.unit.sync_protocol.pure_harness import ELECTION, MemTerminal, hq_for, sync

HLC = 1_900_000_000_000 << 16


def _checkin_batch(seq: int = 1234) -> Frame:
    ev = Event(EventKind.CHECKIN, seq, HLC, "T01", {"station": "E01", "clerk": "c1", "voter": "1310400123",
                                                    "contests": ["governor", "mayor"]})
    link = TerminalLink(ELECTION, "T01", "E01", SigningKey(b"\x01" * 32))
    link.state = link.state.READY
    link.acked_seq = link.sent_upto = seq - 1
    b = link.batch([ev], b"\x07" * 32)
    assert b is not None
    return b


def _backlog(n: int = 500) -> Frame:
    """A terminal's offline catch-up: n check-ins, voters and times as a day gives them."""
    rng = random.Random(n)
    evs, hlc = [], HLC
    for s in range(1, n + 1):
        hlc += rng.randint(1000, 60000) << 16
        evs.append(Event(EventKind.CHECKIN, s, hlc, "T0003", {"station": "S0003", "clerk": "c1",
                                                            "voter": f"{rng.randrange(10**9):010d}",
                                                            "contests": ["governor", "mayor"]}))
    head = bytes(32)
    for ev in evs:
        head = chain_hash(head, ev.encode())
    return Frame(FrameType.BATCH, {"first": 1, "head": head.hex(), "last": n, "prev": "00" * 32, "sig": "11" * 64},
                 tuple(evs))


def _flags(n: int = 2) -> Frame:
    rows = tuple((100 + i, f"{1310400000 + i // 2:010d}", ("governor", "mayor")[i % 2], 1, "E02", "T02", 50 + i // 2,
                  HLC + i // 2) for i in range(n))
    return Frame(FrameType.FLAGS, {"cursor": 100 + n, "mark": "0123456789abcdef"}, flags=rows)


def test_compact_and_protocol_1_forms_decode_to_the_same_frame_and_the_compact_is_small():
    for f in (_checkin_batch(), _backlog(), _flags(), _flags(400),
              Frame(FrameType.ACK, {"acked_seq": 1234, "ok": [[1234, 1234]], "v": []}),
              Frame(FrameType.ACK, {"acked_seq": 9, "ok": [[1, 3], [5, 9]], "v": [[4, "mayor", "V", "E02", "T07", HLC, 3],
                                                                                 [4, "governor", "R", "x"]]})):
        compact, old = encode(f), encode(f, compact=False)
        assert compact[0] in (BATCH_COMPACT, BATCH_LZMA, FLAGS_COMPACT, ACK_COMPACT) and old[0] == f.type
        assert decode(compact) == decode(old) == f
        check_frame(decode(compact))
        assert encode(decode(compact)) == compact  # one encoding per frame
    # the figures issue 20 is about (a check-in with two contests)
    assert len(encode(_checkin_batch())) <= 160 < len(encode(_checkin_batch(), compact=False)) / 2
    assert len(encode(Frame(FrameType.ACK, {"acked_seq": 1234, "ok": [[1234, 1234]], "v": []}))) <= 8
    assert len(encode(_flags())) <= 62
    assert len(encode(_flags(400))) / 200 <= 8  # a backlog: bytes per check-in (two flags)
    assert encode(_backlog())[0] == BATCH_LZMA and len(encode(_backlog())) / 500 <= 12  # the backlog goal


def test_every_truncation_and_corruption_of_a_compact_frame_is_a_clear_refusal():
    rng = random.Random(20)
    for f in (_checkin_batch(), _backlog(40), _flags(), _flags(40), Frame(FrameType.ACK, {"acked_seq": 7, "ok": [[6, 7]],
                                                                             "v": [[5, "mayor", "A"]]})):
        data = encode(f)
        mutants = [data[:i] for i in range(len(data))]
        for _ in range(300):
            b = bytearray(data)
            for _ in range(rng.randint(1, 3)):
                b[rng.randrange(1, len(b))] = rng.randrange(256)
            mutants.append(bytes(b))
        for m in mutants:
            try:
                check_frame(decode(m))
            except MeiboError:
                pass  # FrameInvalid or HeaderInvalid: both answered cleanly by the sessions


def test_a_changed_event_in_a_compact_batch_fails_the_signature_at_hq():
    t = MemTerminal("T01", "E01")
    led = hq_for(t)
    t.checkin("V1", ["gov"])
    sess = HqSession(led, "T01")
    sess.receive(decode(encode(t.link.connect(0, genesis_hash(ELECTION, "T01"), 0, 0))))
    t.link.state = t.link.state.READY
    b = t.link.batch(t.journal, genesis_hash(ELECTION, "T01"))
    assert b is not None
    forged = Frame(FrameType.BATCH, b.header, (Event(EventKind.CHECKIN, 1, t.journal[0].hlc, "T01",
                                                      {**t.journal[0].data, "voter": "V2"}),))
    res = sess.receive(decode(encode(forged)))
    assert res.close and res.send[0].header["code"] == "batch_signature_invalid" and not led.ballots


def test_hq_speaks_protocol_1_to_a_protocol_1_link_and_refuses_other_versions():
    a, b = MemTerminal("T01", "E01"), MemTerminal("T02", "E02", key=SigningKey(b"\x02" * 32))
    led = hq_for(a, b)
    a.checkin("V1", ["gov"])
    sync(a, led)
    old = HqSession(led, "T02")
    hello = b.link.connect(0, genesis_hash(ELECTION, "T02"), 0, 0)
    res = old.receive(decode(encode(Frame(FrameType.HELLO, {**hello.header, "v": 1}))))
    assert res.send[0].type is FrameType.WELCOME
    ff = old.flags_frame(len(led.flags))
    assert ff is not None and encode(ff)[0] == FrameType.FLAGS  # the JSON form a version-1 terminal reads
    assert decode(encode(ff)).flags[0][1] == "V1"
    for v in (3, 0, True):
        s = HqSession(led, "T02")
        r = s.receive(Frame(FrameType.HELLO, {**hello.header, "v": v}))
        assert r.close and r.send[0].header["code"] == "protocol_version"
        assert "版" in r.send[0].header["message"]


@pytest.mark.parametrize("bad", [
    {"cursor": 1, "mark": "ABC"}, {"cursor": 1, "mark": "zz"}, {"cursor": -1, "mark": ""}])
def test_hq_never_sends_a_flags_header_it_cannot_encode(bad):
    with pytest.raises(MeiboError):
        encode(Frame(FrameType.FLAGS, bad, flags=()))
