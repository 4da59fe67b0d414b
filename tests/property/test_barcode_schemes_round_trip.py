"""Every symbology × check scheme: encode → decode gives the voter back; a single substituted digit
is caught by the schemes that promise it.

What each promises (ground/barcode.py): luhn, mod10w31 and mod16 catch every single-digit
substitution; mod11 catches all but a substitution that moves the remainder between 0 and 1
(both print check digit 0); 7DR/7DSR miss a digit replaced by one 7 away; none catches nothing.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ground.barcode import CHECK_SCHEMES, BarcodeOtherElection, make_barcode, mod11_digit, parse_ticket
from ground.errors import BarcodeInvalid
from ground.model import BarcodeFormat

PAIRS = [(sym, chk) for sym in ("digits", "code128", "nw7", "qr") for chk in CHECK_SCHEMES
         if chk != "mod16" or sym == "nw7"]
fmts = st.sampled_from(PAIRS).flatmap(lambda p: st.builds(
    BarcodeFormat, prefix=st.sampled_from(["", "13", "1320"]), symbology=st.just(p[0]), check=st.just(p[1]),
    nw7_start=st.sampled_from(["A", "ABCD", "C"]), nw7_stop=st.sampled_from(["A", "B", "D"]),
    election=st.just("yokohama-2027")))
voters = st.text("0123456789", min_size=1, max_size=12)


@settings(max_examples=400, deadline=None)
@given(fmts, voters, st.text("0123456789", max_size=3))
def test_round_trip(fmt: BarcodeFormat, voter: str, district: str) -> None:
    t = parse_ticket(make_barcode(voter, fmt, district), fmt)
    assert t.voter == voter
    assert t.district == (district if fmt.symbology == "qr" else None)


def _mod11_body(code: str, fmt: BarcodeFormat) -> str:
    """The digits the mod 11 check digit covers (prefix + 選挙人番号)."""
    if fmt.symbology == "nw7":
        return code[1:-2]
    if fmt.symbology == "qr":
        return code.rsplit("|", 1)[1][:-1]
    return code[:-1]


def _r11(digits: str) -> int:
    return sum(int(c) * (2 + i % 6) for i, c in enumerate(reversed(digits))) % 11


@settings(max_examples=600, deadline=None)
@given(fmts, voters, st.data())
def test_single_digit_substitution(fmt: BarcodeFormat, voter: str, data: st.DataObject) -> None:
    code = make_barcode(voter, fmt, "03")
    positions = [i for i, c in enumerate(code) if c.isdigit()]
    if fmt.symbology == "qr":  # the district field is not checked; substitute within the voter field
        start = code.index("|", code.index("|") + 1) + 1
        positions = [i for i in positions if i >= start]
    i = data.draw(st.sampled_from(positions))
    new = data.draw(st.sampled_from([d for d in "0123456789" if d != code[i]]))
    bad = code[:i] + new + code[i + 1:]
    try:
        parse_ticket(bad, fmt)
        caught = False
    except BarcodeOtherElection:
        caught = False  # a changed prefix digit that still checks out would be this; never with a check
    except BarcodeInvalid:
        caught = True
    scheme = fmt.check
    if scheme in ("luhn", "mod10w31", "mod16"):
        assert caught, (code, bad)
    elif scheme == "mod11":
        if not caught:
            old_body, new_body = _mod11_body(code, fmt), _mod11_body(bad, fmt)
            # Only a substitution in the check digit itself or between remainders 0 and 1 can pass.
            assert {_r11(old_body), _r11(new_body)} <= {0, 1} and mod11_digit(new_body) == "0", (code, bad)
    elif scheme in ("7dr", "7dsr"):
        if not caught:
            assert abs(int(new) - int(code[i])) == 7, (code, bad)
