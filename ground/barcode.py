"""入場整理券 barcode: the text a scanner sends → 選挙人番号, per the election's ``BarcodeFormat``.

Pure: standard library and ground.model/errors only; never import the store, a serial port or
the CLI (the hardware scanner driver imports this module, not the other way round).

Symbologies (``symbology``): ``digits`` (the default: prefix + 選挙人番号 + check digit, in any
digits-only barcode), ``code128`` (the same text, printed as Code 128), ``nw7`` (NW-7/Codabar: a
start character A–D, the digits, the check character, a stop character A–D; a decoder such as
zbar sends the start/stop characters, so we expect them) and ``qr`` (fields joined by
``qr_separator`` in the order of ``qr_fields``: election id, 投票区, 選挙人番号+check digit).

Check schemes (``check``; worked examples cited in tests/unit/ground/test_barcode_schemes.py):
``luhn`` (モジュラス10 ウェイト2・1 分割), ``mod10w31`` (モジュラス10 ウェイト3・1), ``mod11``
(モジュラス11 ウェイト2〜7, 余り0と1はチェックデジット0), ``mod16`` (NW-7 only, over every
character including start/stop), ``7dr`` (7で割った余り), ``7dsr`` (7 − 余り), ``none``.
What each catches: both mod 10 and mod 16 catch every single-digit substitution; mod 11 catches
all but one that moves the remainder between 0 and 1 (both print 0); 7DR/7DSR miss a digit
replaced by one 7 away (0↔7, 1↔8, 2↔9); ``none`` catches nothing.

Order of checks: shape (characters, start/stop, length), then the check digit over the *whole*
payload, prefix included, then the prefix or the QR election field. A misread anywhere is
therefore a check-digit error (scan again) rather than a claim that the ticket belongs to another
election.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ground.errors import BarcodeInvalid
from ground.model import BarcodeFormat, VoterId

MAX_BARCODE_LEN = 40
MAX_QR_LEN = 128
SYMBOLOGIES = ("digits", "code128", "nw7", "qr")
CHECK_SCHEMES = ("luhn", "mod10w31", "mod11", "mod16", "7dr", "7dsr", "none")
QR_FIELDS = ("election", "district", "voter", "-")  # "-": a field we read past
NW7_START_STOP = "ABCD"
NW7_DATA = "0123456789-$:/.+"
_NW7_VALUE = {c: i for i, c in enumerate(NW7_DATA + NW7_START_STOP)}  # モジュラス16 換算表


class BarcodeMalformed(BarcodeInvalid):
    code = "barcode_malformed"


class BarcodeStartStop(BarcodeMalformed):
    """NW-7 start/stop characters missing or not the configured ones: a misread."""

    code = "barcode_start_stop"


class BarcodeLength(BarcodeMalformed):
    """The 選挙人番号 has not the configured number of digits: a misread."""

    code = "barcode_length"


class BarcodeCheckDigit(BarcodeInvalid):
    """The check digit does not match: a misread. Refused, never looked up."""

    code = "barcode_check_digit"


class BarcodeOtherElection(BarcodeInvalid):
    """A well-formed ticket whose prefix (or QR election field) is not this election's."""

    code = "barcode_other_election"


@dataclass(frozen=True)
class Ticket:
    """What a ticket's barcode says: the 選挙人番号 and, from a QR, its 投票区 (else None)."""

    voter: VoterId
    district: str | None = None


def _digits(digits: str) -> list[int]:
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"not digits: {digits!r}")
    return [ord(ch) - 48 for ch in digits]


def luhn_digit(digits: str) -> str:
    """The Luhn check digit (モジュラス10 ウェイト2・1 分割) to append to ``digits``."""
    total = 0
    # Double every second digit counting from the right of the payload (the check digit will be
    # appended to the right, so the rightmost payload digit is doubled).
    for i, n in enumerate(reversed(_digits(digits))):
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return str((10 - total % 10) % 10)


def mod10w31_digit(digits: str) -> str:
    """モジュラス10 ウェイト3・1 (as JAN/EAN): weight 3 on the rightmost payload digit."""
    total = sum(n * (3 if i % 2 == 0 else 1) for i, n in enumerate(reversed(_digits(digits))))
    return str((10 - total % 10) % 10)


def mod11_digit(digits: str) -> str:
    """モジュラス11 ウェイト2〜7 from the right; 11 − 余り, where 余り 0 and 1 both give 0."""
    total = sum(n * (2 + i % 6) for i, n in enumerate(reversed(_digits(digits))))
    r = total % 11
    return "0" if r <= 1 else str(11 - r)


def seven_dr_digit(digits: str) -> str:
    """7DR: the payload as one number, its remainder by 7."""
    return str(int("".join(map(str, _digits(digits)))) % 7)


def seven_dsr_digit(digits: str) -> str:
    """7DSR: 7 minus the remainder by 7 (a remainder of 0 gives 7)."""
    return str(7 - int(seven_dr_digit(digits)))


def mod16_char(start: str, data: str, stop: str) -> str:
    """NW-7 モジュラス16: over start, data and stop characters; the character for 16 − 余り mod 16."""
    chars = start + data + stop
    if not chars or any(c not in _NW7_VALUE for c in chars):
        raise ValueError(f"not NW-7 characters: {chars!r}")
    total = sum(_NW7_VALUE[c] for c in chars)
    return NW7_DATA[(16 - total % 16) % 16]


_DIGIT_SCHEMES = {"luhn": luhn_digit, "mod10w31": mod10w31_digit, "mod11": mod11_digit,
                  "7dr": seven_dr_digit, "7dsr": seven_dsr_digit}


def scheme_of(fmt: BarcodeFormat) -> str:
    """The check scheme in force: ``check`` if set, else Luhn or none from the older ``luhn`` flag."""
    return fmt.check or ("luhn" if fmt.luhn else "none")


def format_problems(fmt: BarcodeFormat) -> list[tuple[str, str, str]]:
    """What is wrong with ``fmt`` as (election.toml key, Japanese message, code); empty if usable."""
    out: list[tuple[str, str, str]] = []
    scheme = scheme_of(fmt)
    if fmt.symbology not in SYMBOLOGIES:
        out.append(("barcode.symbology", f"不明なバーコードの種類です: {fmt.symbology!r}"
                    f"（{' / '.join(SYMBOLOGIES)} のどれか）", "barcode_symbology_unknown"))
    if scheme not in CHECK_SCHEMES:
        out.append(("barcode.check", f"不明なチェックデジット方式です: {scheme!r}"
                    f"（{' / '.join(CHECK_SCHEMES)} のどれか）", "barcode_check_unknown"))
    elif scheme == "mod16" and fmt.symbology != "nw7":
        out.append(("barcode.check", "mod16 は NW-7 (symbology = \"nw7\") でだけ使えます",
                    "barcode_check_unknown"))
    for key, chars in (("barcode.nw7_start", fmt.nw7_start), ("barcode.nw7_stop", fmt.nw7_stop)):
        if not chars or any(ch not in NW7_START_STOP for ch in chars):
            out.append((key, f"A〜D の文字で指定してください: {chars!r}", "barcode_layout_invalid"))
    if not 0 <= fmt.voter_digits <= 30:
        out.append(("barcode.voter_digits", f"0〜30 で指定してください: {fmt.voter_digits!r}",
                    "barcode_layout_invalid"))
    if fmt.symbology == "qr":
        sep = fmt.qr_separator
        if not 1 <= len(sep) <= 3 or any(ch.isalnum() or ch.isspace() for ch in sep):
            out.append(("barcode.qr_separator", f"英数字・空白以外の1〜3文字で指定してください: {sep!r}",
                        "barcode_layout_invalid"))
        unknown = [f for f in fmt.qr_fields if f not in QR_FIELDS]
        if unknown:
            out.append(("barcode.qr_fields", f"不明な項目です: {unknown!r}（{' / '.join(QR_FIELDS)}）",
                        "barcode_layout_invalid"))
        elif fmt.qr_fields.count("voter") != 1 or any(
                fmt.qr_fields.count(f) > 1 for f in ("election", "district")):
            out.append(("barcode.qr_fields", "voter を1回、election と district を多くても1回ずつ"
                        f"並べてください: {list(fmt.qr_fields)!r}", "barcode_layout_invalid"))
        if "election" in fmt.qr_fields and not fmt.election:
            out.append(("barcode.election", "QR の election 項目と照合する値がありません",
                        "barcode_layout_invalid"))
    return out


def make_barcode(voter_id: str, fmt: BarcodeFormat, district: str = "") -> str:
    """The text a 入場整理券 barcode carries for ``voter_id`` (what the scanner sends back)."""
    body = fmt.prefix + voter_id
    scheme = scheme_of(fmt)
    if fmt.symbology == "nw7":
        start, stop = fmt.nw7_start[0], fmt.nw7_stop[0]
        check = mod16_char(start, body, stop) if scheme == "mod16" else _check_digit(scheme, body)
        return start + body + check + stop
    code = body + _check_digit(scheme, body)
    if fmt.symbology == "qr":
        values = {"election": fmt.election, "district": district, "voter": code, "-": ""}
        return fmt.qr_separator.join(values[f] for f in fmt.qr_fields)
    return code


def _check_digit(scheme: str, body: str) -> str:
    if scheme == "none":
        return ""
    return _DIGIT_SCHEMES[scheme](body)


def parse_barcode(text: str, fmt: BarcodeFormat) -> VoterId:
    """The 選挙人番号 on a scanned ticket, or a ``BarcodeInvalid`` subclass saying what is wrong."""
    return parse_ticket(text, fmt).voter


def parse_ticket(text: str, fmt: BarcodeFormat) -> Ticket:
    """The ticket a scanned text stands for, or a ``BarcodeInvalid`` subclass saying what is wrong."""
    limit = MAX_QR_LEN if fmt.symbology == "qr" else MAX_BARCODE_LEN
    if len(text) > limit * 2:
        raise BarcodeMalformed("バーコードが長すぎます。入場整理券のバーコードか確認してください。")
    t = unicodedata.normalize("NFKC", text).strip()
    if not t or len(t) > limit:
        raise BarcodeMalformed(f"入場整理券のバーコードとして読めません: {text!r}")
    if fmt.symbology == "qr":
        return _parse_qr(t, text, fmt)
    if fmt.symbology == "nw7":
        return Ticket(_parse_nw7(t.upper(), text, fmt))
    if not t.isascii() or not t.isdigit():
        raise BarcodeMalformed(f"入場整理券のバーコードとして読めません: {text!r}")
    return Ticket(_voter_from_digits(t, text, fmt))


def _voter_from_digits(t: str, text: str, fmt: BarcodeFormat) -> VoterId:
    """``t`` = prefix + 選挙人番号 + check digit (digits only, already shape-checked)."""
    scheme = scheme_of(fmt)
    cd_len = 0 if scheme == "none" else 1
    _check_length(len(t) - cd_len, text, fmt)
    if cd_len:
        body, check = t[:-1], t[-1]
        if _DIGIT_SCHEMES[scheme](body) != check:
            raise _check_digit_error()
    else:
        body = t
    return _strip_prefix(body, fmt)


def _check_length(body_len: int, text: str, fmt: BarcodeFormat) -> None:
    if body_len < len(fmt.prefix) + 1:
        raise BarcodeMalformed(f"バーコードの桁数が足りません: {text!r}")
    if fmt.voter_digits and body_len != len(fmt.prefix) + fmt.voter_digits:
        raise BarcodeLength(f"バーコードの桁数が違います（選挙人番号は{fmt.voter_digits}桁）。"
                            f"もう一度読み取ってください: {text!r}")


def _check_digit_error() -> BarcodeCheckDigit:
    return BarcodeCheckDigit("バーコードのチェックディジットが一致しません（読み取り誤り）。もう一度読み取ってください。")


def _strip_prefix(body: str, fmt: BarcodeFormat) -> VoterId:
    if not body.startswith(fmt.prefix):
        raise BarcodeOtherElection("この選挙の入場整理券ではありません（バーコードの識別番号が違います）。")
    return VoterId(body[len(fmt.prefix):])


def _parse_nw7(t: str, text: str, fmt: BarcodeFormat) -> VoterId:
    if len(t) < 3 or t[0] not in NW7_START_STOP or t[-1] not in NW7_START_STOP:
        raise BarcodeStartStop(f"NW-7 のスタート・ストップ文字（A〜D）が読めません。もう一度読み取ってください: {text!r}")
    if t[0] not in fmt.nw7_start or t[-1] not in fmt.nw7_stop:
        raise BarcodeStartStop(f"NW-7 のスタート・ストップ文字が入場整理券のもの（{fmt.nw7_start[0]}…"
                               f"{fmt.nw7_stop[0]}）と違います。もう一度読み取ってください: {text!r}")
    start, middle, stop = t[0], t[1:-1], t[-1]
    if fmt.symbology == "nw7" and scheme_of(fmt) == "mod16":
        if not middle or any(ch not in NW7_DATA for ch in middle):
            raise BarcodeMalformed(f"入場整理券のバーコードとして読めません: {text!r}")
        body, check = middle[:-1], middle[-1]
        if not body.isdigit():
            raise BarcodeMalformed(f"入場整理券のバーコードとして読めません: {text!r}")
        _check_length(len(body), text, fmt)
        if mod16_char(start, body, stop) != check:
            raise _check_digit_error()
        return _strip_prefix(body, fmt)
    if not middle.isascii() or not middle.isdigit():
        raise BarcodeMalformed(f"入場整理券のバーコードとして読めません: {text!r}")
    return _voter_from_digits(middle, text, fmt)


def _parse_qr(t: str, text: str, fmt: BarcodeFormat) -> Ticket:
    parts = t.split(fmt.qr_separator)
    if len(parts) != len(fmt.qr_fields):
        raise BarcodeMalformed(f"入場整理券の QR コードの項目数が違います（{len(fmt.qr_fields)}項目）: {text!r}")
    fields = dict(zip(fmt.qr_fields, parts))
    code = fields["voter"]
    if not code.isascii() or not code.isdigit():
        raise BarcodeMalformed(f"入場整理券の QR コードの選挙人番号が読めません: {text!r}")
    voter = _voter_from_digits(code, text, fmt)
    if "election" in fields and fields["election"] != fmt.election:
        raise BarcodeOtherElection("この選挙の入場整理券ではありません（QR コードの選挙が違います）。")
    return Ticket(voter, fields.get("district"))
