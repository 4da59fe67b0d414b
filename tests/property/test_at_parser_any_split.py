"""The AT parser gives the same events however the byte stream is cut into chunks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.modem.parser import AtParser, Event

LINES = [b"OK", b"ERROR", b"+CME ERROR: 10", b"+CME ERROR: SIM not inserted", b"+CEREG: 0", b"+CEREG: 1,5",
         b'+CEREG: 2,"00C3","0A1B",7', b"+CSQ: 20,99", b'+COPS: 0,0,"CARRIER",7', b"AT+CSQ", b"AT+CEREG?",
         b"RING", b"+CPIN: READY", b"", b"\xff\xfe garbage", b"X" * 40]
TERMS = [b"\r\n", b"\r", b"\n", b"\r\r\n"]

streams = st.lists(st.tuples(st.sampled_from(LINES), st.sampled_from(TERMS)), max_size=14).map(
    lambda parts: b"".join(l + t for l, t in parts))
noisy = st.tuples(streams, st.binary(max_size=20)).map(lambda p: p[0] + p[1])


def _events(cmd: str | None, chunks: list[bytes]) -> list[Event]:
    p = AtParser(max_line_bytes=32)
    if cmd:
        p.send(cmd)
    out: list[Event] = []
    for c in chunks:
        out.extend(p.feed(c))
    return out


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([None, "AT+CSQ", "AT+CEREG?", "AT+COPS?", "AT"]), noisy,
       st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_same_events_for_every_split(cmd: str | None, data: bytes, cuts: list[int]) -> None:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0] + points, points + [len(data)])]
    assert _events(cmd, chunks) == _events(cmd, [data])


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["AT+CSQ", "AT+CEREG?"]), streams)
def test_byte_at_a_time_equals_whole(cmd: str, data: bytes) -> None:
    assert _events(cmd, [bytes([b]) for b in data]) == _events(cmd, [data])
