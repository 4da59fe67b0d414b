"""The scanner decoder gives the same events however the serial bytes are chunked."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from ground.barcode import make_barcode
from ground.model import BarcodeFormat
from hardware.scanner.base import ScanEvent
from hardware.scanner.parser import ScanDecoder
from hardware.settings import ScannerSettings, Suffix

FMT = BarcodeFormat(prefix="13")
AT = datetime(2027, 4, 25, 9, 0)
codes = st.one_of(
    st.text("0123456789", min_size=6, max_size=9).map(lambda v: make_barcode(v, FMT)),
    st.text("0123456789", min_size=1, max_size=12),
    st.binary(max_size=12).map(lambda b: b.decode("latin-1")),
    st.just("9" * 200),
)


def _decode(suffix: Suffix, chunks: list[bytes]) -> list[ScanEvent]:
    d = ScanDecoder(FMT, ScannerSettings(suffix=suffix, max_line_bytes=64))
    out: list[ScanEvent] = []
    for c in chunks:
        out.extend(d.feed(c, AT))
    return out


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(Suffix)), st.lists(codes, max_size=8), st.lists(st.integers(0, 2000), max_size=10))
def test_same_scan_events_for_every_split(suffix: Suffix, lines: list[str], cuts: list[int]) -> None:
    data = b"".join(l.encode("latin-1", errors="replace") + suffix.bytes for l in lines)
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0] + points, points + [len(data)])]
    assert _decode(suffix, chunks) == _decode(suffix, [data])


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(list(Suffix)), st.lists(st.text("0123456789", min_size=6, max_size=9), min_size=1,
                                               max_size=6, unique=True))
def test_every_valid_ticket_decodes_to_its_voter(suffix: Suffix, voters: list[str]) -> None:
    data = b"".join(make_barcode(v, FMT).encode() + suffix.bytes for v in voters)
    events = _decode(suffix, [bytes([b]) for b in data])
    assert [getattr(e, "voter_id", None) for e in events] == voters
