"""入場整理券 barcode: ``prefix`` + 選挙人番号 + one Luhn check digit (see ``BarcodeFormat``).

Pure: standard library and ground.model/errors only; never import the store, a serial port or
the CLI (the hardware scanner driver imports this module, not the other way round).

Order of checks in ``parse_barcode``: shape first (digits only), then the check digit over the
*whole* text, then the prefix. A misread digit anywhere, the prefix included, is therefore a
check-digit error (scan again) rather than a claim that the ticket belongs to another election.
"""

from __future__ import annotations

import unicodedata

from ground.errors import BarcodeInvalid
from ground.model import BarcodeFormat, VoterId

MAX_BARCODE_LEN = 40


class BarcodeMalformed(BarcodeInvalid):
    code = "barcode_malformed"


class BarcodeCheckDigit(BarcodeInvalid):
    """The check digit does not match: a misread. Refused, never looked up."""

    code = "barcode_check_digit"


class BarcodeOtherElection(BarcodeInvalid):
    """A well-formed ticket whose prefix is not this election's."""

    code = "barcode_other_election"


def luhn_digit(digits: str) -> str:
    """The Luhn check digit to append to ``digits`` (ASCII digits only)."""
    if not digits.isascii() or not digits.isdigit():
        raise ValueError(f"not digits: {digits!r}")
    total = 0
    # Double every second digit counting from the right of the payload (the check digit will be
    # appended to the right, so the rightmost payload digit is doubled).
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return str((10 - total % 10) % 10)


def make_barcode(voter_id: str, fmt: BarcodeFormat) -> str:
    """The text a 入場整理券 barcode carries for ``voter_id``."""
    body = fmt.prefix + voter_id
    return body + luhn_digit(body) if fmt.luhn else body


def parse_barcode(text: str, fmt: BarcodeFormat) -> VoterId:
    """The 選挙人番号 on a scanned ticket, or a ``BarcodeInvalid`` subclass saying what is wrong."""
    if len(text) > MAX_BARCODE_LEN * 2:
        raise BarcodeMalformed("バーコードが長すぎます。入場整理券のバーコードか確認してください。")
    t = unicodedata.normalize("NFKC", text).strip()
    if not t or not t.isascii() or not t.isdigit() or len(t) > MAX_BARCODE_LEN:
        raise BarcodeMalformed(f"入場整理券のバーコードとして読めません: {text!r}")
    min_len = len(fmt.prefix) + 1 + (1 if fmt.luhn else 0)
    if len(t) < min_len:
        raise BarcodeMalformed(f"バーコードの桁数が足りません: {text!r}")
    if fmt.luhn:
        body, check = t[:-1], t[-1]
        if luhn_digit(body) != check:
            raise BarcodeCheckDigit("バーコードのチェックディジットが一致しません（読み取り誤り）。もう一度読み取ってください。")
    else:
        body = t
    if not body.startswith(fmt.prefix):
        raise BarcodeOtherElection("この選挙の入場整理券ではありません（バーコードの識別番号が違います）。")
    return VoterId(body[len(fmt.prefix):])
