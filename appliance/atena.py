"""宛名番号 (the 住基 person number of a municipality's export): its modulus-11 check digit (issue 19).

Pure: standard library only; never the store, I/O, the clock or the CLI.

The last digit is a check digit over the others, modulus 11 with weights 2–7: the digits are
weighted 2, 3, 4, 5, 6, 7, 2, 3 … counting from the rightmost digit before the check digit; with
``r`` the weighted sum modulo 11, the check digit is ``0`` when ``r`` ≤ 1, else ``11 - r`` (the
rule of 総務省令第85号 第5条 for the 個人番号, written there for 11 digits as Qn = n+1 for n ≤ 6 and
n−5 for 7 ≤ n ≤ 11, which is the 2–7 cycle).
"""

from __future__ import annotations

import re
import unicodedata

_DIGITS = re.compile(r"^[0-9]{2,20}$")


def check_digit(body: str) -> int:
    """The check digit of ``body`` (the digits before it)."""
    total = sum(int(c) * (2 + i % 6) for i, c in enumerate(reversed(body)))
    r = total % 11
    return 0 if r <= 1 else 11 - r


def normalize(text: str) -> str:
    """Full-width digits and surrounding spaces as the export may write them → ASCII digits."""
    return unicodedata.normalize("NFKC", text).strip()


def problem(number: str) -> str | None:
    """``None`` when ``number`` (already ``normalize``d) is a valid 宛名番号, else a Japanese reason."""
    if not _DIGITS.match(number):
        return f"宛名番号は 2〜20 桁の数字です: {number!r}"
    if check_digit(number[:-1]) != int(number[-1]):
        return f"宛名番号の検査数字が合いません（モジュラス11）: {number!r}"
    return None
