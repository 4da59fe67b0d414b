"""How a registered 氏名 is shown (issue 19): the one display rule the kiosk, the console and every
PDF use. Pure: standard library only (ground imports nothing of meibo's own but ground).

A name is stored exactly as the register wrote it, never NFC/NFKC-normalised (appliance/rollcsv,
rollpkg, the stores). Only what is *drawn* differs, and only here:

- An Ideographic Variation Sequence (異体字: a base character + a selector U+E0100…E01EF, or a
  standardized one U+FE00…FE0F) is kept as it is: the screens and PDFs draw it with a font that
  has the variants (IPAmj明朝, Debian ``fonts-ipamj-mincho``), and a renderer that cannot still
  draws the base character, never a box (the selectors are default-ignorable).
- A private-use character (外字: U+E000…F8FF and planes 15/16) has no glyph anyone else can
  draw — each office's 外字 font is its own — so it is shown as 〓 (げた, the mark Japanese
  printing uses for a missing character), any selector after it dropped, and the name is followed
  by its kana 「（ヤマダ タロウ）」 so a poll worker can still read it out. Never a blank.

Hand-written because it is one short loop over code points; no library holds this convention.
"""

from __future__ import annotations

from collections.abc import Callable

GAIJI_MARK = "〓"  # U+3013 GETA MARK
# Where a font with the MJ variants is found (data only; the kiosk, console and PDF makers look).
NAME_FONT_ENV = "MEIBO_NAME_FONT"
NAME_FONT_CANDIDATES: tuple[str, ...] = ("/usr/share/fonts/truetype/ipamj/ipamjm.ttf",)  # fonts-ipamj-mincho


def is_private_use(cp: int) -> bool:
    """外字: the BMP private-use area and the supplementary private-use planes 15 and 16."""
    return 0xE000 <= cp <= 0xF8FF or 0xF0000 <= cp <= 0xFFFFD or 0x100000 <= cp <= 0x10FFFD


def is_variation_selector(cp: int) -> bool:
    """VS1–16 (U+FE00…FE0F) and VS17–256 (U+E0100…E01EF, the IVS selectors)."""
    return 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF


def has_ivs(text: str) -> bool:
    return any(is_variation_selector(ord(ch)) for ch in text)


def has_gaiji(text: str) -> bool:
    return any(is_private_use(ord(ch)) for ch in text)


def display_name(name: str, kana: str = "", drawable: Callable[[int], bool] | None = None) -> str:
    """The name as the screens and PDFs show it: each 外字 (and, when ``drawable`` is given, each
    character the name font cannot draw) becomes 〓, and then the kana follows in （）. Variation
    sequences are kept. The stored name is never changed: this is display text only."""
    out: list[str] = []
    replaced = last_replaced = False
    for ch in name:
        cp = ord(ch)
        if is_variation_selector(cp):
            if not last_replaced:  # a selector belongs to the character it follows; if that is 〓, drop it
                out.append(ch)
            continue
        last_replaced = is_private_use(cp) or (drawable is not None and not ch.isspace() and not drawable(cp))
        out.append(GAIJI_MARK if last_replaced else ch)
        replaced = replaced or last_replaced
    text = "".join(out)
    if replaced and kana.strip():
        text += f"（{kana.strip()}）"
    return text


__all__ = ["GAIJI_MARK", "NAME_FONT_ENV", "NAME_FONT_CANDIDATES", "is_private_use", "is_variation_selector", "has_ivs",
           "has_gaiji", "display_name"]
