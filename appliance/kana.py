"""Kana (カナ) normalisation: one display form for 氏名カナ and one search key for lookups.

Pure: imports only the standard library. Never import the store, the CLI or anything with I/O.

Rules:
- hiragana, katakana and half-width katakana (with separate ﾞ/ﾟ or spacing ゛/゜ marks) all map
  to full-width katakana; ``ｶﾞ``, ``が``, ``カ゛`` and ``ガ`` are the same letter;
- full-width and half-width digits and letters fold to ASCII (NFKC), letters to upper case;
- every run of spaces (ASCII, full-width U+3000, tabs) is one ASCII space in the display form
  (``normalize_kana``) and nothing at all in the search key (``kana_key``), so that a query with
  or without the space between family and given name finds the same voter;
- small kana (ャ, ッ) stay small: they are different readings, not spelling variants.

``kana_key`` is idempotent and ``kana_key(normalize_kana(s)) == kana_key(s)``; the stored
``voters.kana_key`` column and every query prefix go through the same function.
"""

from __future__ import annotations

import re
import unicodedata

# Spacing voiced/semi-voiced marks decompose (NFKC) to "space + combining mark", which would
# never combine with the preceding kana; turn them into the combining marks first.
_PRE = str.maketrans({"\u309b": "\u3099", "\u309c": "\u309a", "\uff9e": "\u3099", "\uff9f": "\u309a"})
# Hiragana ぁ..ゖ and the iteration marks ゝゞ sit exactly 0x60 below their katakana.
_HIRA_TO_KATA = {cp: cp + 0x60 for cp in range(0x3041, 0x3097)}
_HIRA_TO_KATA.update({0x309D: 0x30FD, 0x309E: 0x30FE})
_SPACES = re.compile(r"\s+")
_ALLOWED = re.compile(r"^[\u30a1-\u30fa\u30fc-\u30fe\u30fbA-Z0-9]+( [\u30a1-\u30fa\u30fc-\u30fe\u30fbA-Z0-9]+)*$")


def _fold(text: str) -> str:
    t = unicodedata.normalize("NFKC", text.translate(_PRE))
    # NFC again after hiragana → katakana: わ+゛ has no precomposed hiragana, but ワ+゛ is ヷ,
    # and the key must not depend on which script the voiced mark was typed after
    return unicodedata.normalize("NFC", t.translate(_HIRA_TO_KATA).upper())


def normalize_kana(text: str) -> str:
    """Display form of 氏名カナ: full-width katakana, words separated by one ASCII space."""
    return _SPACES.sub(" ", _fold(text)).strip()


def kana_key(text: str) -> str:
    """Search key: ``normalize_kana`` without any space. Used for stored keys and query prefixes."""
    return _SPACES.sub("", _fold(text))


def is_valid_kana(display: str) -> bool:
    """True when a display form holds only katakana (with ー・ヽヾ), ASCII letters/digits and single spaces."""
    return bool(_ALLOWED.match(display))


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix`` (for range scans).

    ``prefix`` must be non-empty. Code points are bumped from the right; the bound is exclusive.
    """
    if not prefix or ord(prefix[-1]) >= 0x10FFFF:
        raise ValueError(f"no upper bound for prefix {prefix!r}")
    nxt = ord(prefix[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:  # never produce a lone surrogate
        nxt = 0xE000
    return prefix[:-1] + chr(nxt)
