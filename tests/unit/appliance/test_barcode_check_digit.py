"""入場整理券 barcode: Luhn check digit, prefix of this election, malformed input."""

import pytest

from ground.barcode import (BarcodeCheckDigit, BarcodeMalformed, BarcodeOtherElection, luhn_digit,
                               make_barcode, parse_barcode)
from ground.errors import BarcodeInvalid
from ground.model import BarcodeFormat


def test_known_luhn_vector() -> None:
    assert luhn_digit("7992739871") == "3"
    assert luhn_digit("0000000001") == "8"


def test_round_trip_with_prefix() -> None:
    fmt = BarcodeFormat(prefix="14")
    code = make_barcode("0000012345", fmt)
    assert code.startswith("14") and len(code) == 13
    assert parse_barcode(code, fmt) == "0000012345"
    assert parse_barcode("１４" + code[2:], fmt) == "0000012345"  # full-width digits from a keyboard wedge


def test_every_single_digit_misread_is_refused() -> None:
    fmt = BarcodeFormat(prefix="14")
    code = make_barcode("0000012345", fmt)
    for i in range(len(code)):
        for d in "0123456789":
            if d == code[i]:
                continue
            bad = code[:i] + d + code[i + 1:]
            with pytest.raises(BarcodeCheckDigit) as e:
                parse_barcode(bad, fmt)
            assert e.value.code == "barcode_check_digit"


def test_other_election_prefix() -> None:
    code = make_barcode("0000012345", BarcodeFormat(prefix="15"))
    with pytest.raises(BarcodeOtherElection) as e:
        parse_barcode(code, BarcodeFormat(prefix="14"))
    assert e.value.code == "barcode_other_election"
    assert isinstance(e.value, BarcodeInvalid)


@pytest.mark.parametrize("text", ["", "abc", "12a4", "1", "9" * 100, "１２ー３"])
def test_malformed(text: str) -> None:
    with pytest.raises(BarcodeMalformed) as e:
        parse_barcode(text, BarcodeFormat(prefix="14"))
    assert e.value.code == "barcode_malformed"


def test_no_luhn_format() -> None:
    fmt = BarcodeFormat(prefix="", luhn=False)
    assert make_barcode("123", fmt) == "123"
    assert parse_barcode("123", fmt) == "123"
