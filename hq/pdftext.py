"""Names in meibo's PDFs exactly as registered (issue 19): ``NamesPdf``, the fpdf2 document every
PDF of ours is made with (the paper backup here, the console's daily report, the rehearsal
reports), and the name font (IPAmj明朝, Debian ``fonts-ipamj-mincho``) it finds.

May import fpdf2, ``ground`` and the standard library; never the screens or the CLI. Imported by
``hq.paper_backup`` and ``ui_kivy.console.daily_pdf`` (lazily: fpdf2 costs a few tenths of a second).

Why code of ours around fpdf2, and what it fixes:
- fpdf2 maps one character to one glyph through the font's ``cmap``; an Ideographic Variation
  Sequence (葛 + U+E0102) needs the font's format-14 subtable, which only a shaping engine reads.
  fpdf2 shapes with HarfBuzz (``set_text_shaping``, package ``uharfbuzz``), but shaping every
  cell of a roll extract is ~3× slower (measured: 3,000 rows 19 s → 63 s), so ``NamesPdf`` turns
  shaping on only for the one ``cell``/``multi_cell`` whose text carries a variation selector.
- fpdf2 2.8 splits text into runs by Unicode script before shaping and treats the selectors'
  script (Inherited) as a script of its own, so the base character and its selector are shaped
  apart and the selector is drawn as a space (the fix other shapers made: Inherited joins the run
  it follows, as Common does). ``_selectors_join_their_character`` wraps fpdf2's script lookup so
  Inherited answers Common; nothing else changes. Checked by tests/unit/hq/test_pdf_names_ivs.py:
  the variant glyph is drawn (pixels differ from the base character's), and the text layer gives
  the name back byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fpdf.fpdf as _fpdf_mod
from fpdf import FPDF
from fpdf.fonts import FontFace
from fpdf.unicode_script import UnicodeScript

from ground.errors import UsageError
from ground.names import NAME_FONT_CANDIDATES, NAME_FONT_ENV, has_ivs

NAME_FAMILY = "ipamj"


def find_name_font(path: Path | None = None) -> Path:
    """``path``, else ``MEIBO_NAME_FONT``, else IPAmj明朝 where Debian puts it."""
    if path is None and os.environ.get(NAME_FONT_ENV):
        path = Path(os.environ[NAME_FONT_ENV])
    for p in ((path,) if path is not None else tuple(Path(c) for c in NAME_FONT_CANDIDATES)):
        if p.is_file():
            return p
    raise UsageError(f"氏名用のフォント（IPAmj明朝）がありません: {path or NAME_FONT_CANDIDATES[0]}"
                     "（Debian パッケージ fonts-ipamj-mincho を入れてください）", code="font_missing")


def _selectors_join_their_character() -> None:
    """Make fpdf2 keep a variation selector in its base character's run (see the module opening)."""
    lookup = getattr(_fpdf_mod, "get_unicode_script")  # fpdf2's module global, read at each call
    if getattr(lookup, "meibo_inherited_joins", False):
        return

    def script_of(ch: str) -> UnicodeScript:
        s = lookup(ch)
        return UnicodeScript.COMMON if s is UnicodeScript.INHERITED else s

    script_of.cache_clear = lookup.cache_clear  # type: ignore[attr-defined]  # fpdf2 clears it at output()
    script_of.meibo_inherited_joins = True  # type: ignore[attr-defined]
    setattr(_fpdf_mod, "get_unicode_script", script_of)


class NamesPdf(FPDF):
    """An ``FPDF`` that draws variation sequences with their variant glyph. ``add_name_font``
    embeds IPAmj明朝; ``name_face`` is the table-cell style that uses it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _selectors_join_their_character()
        self.name_face: FontFace | None = None

    def add_name_font(self, path: Path | None = None) -> FontFace:
        self.add_font(NAME_FAMILY, "", str(find_name_font(path)))
        self.name_face = FontFace(family=NAME_FAMILY)
        return self.name_face

    def name_drawable(self, cp: int) -> bool:
        """The name font has a glyph for ``cp`` (for ``ground.names.display_name``: 〓, never a box)."""
        return cp in self.fonts[NAME_FAMILY].cmap  # type: ignore[union-attr]

    @contextmanager
    def _shaped_if_needed(self, text: object) -> Iterator[None]:
        if self.text_shaping or not isinstance(text, str) or not has_ivs(text):
            yield
            return
        try:
            self.set_text_shaping(True)
        except Exception as e:  # fpdf2 raises its FPDFException when uharfbuzz cannot be imported
            raise UsageError("異体字（IVS）を含む氏名を PDF に描くには Python パッケージ uharfbuzz が必要です",
                             code="shaping_missing") from e
        try:
            yield
        finally:
            self.set_text_shaping(False)

    def cell(self, *args: Any, **kwargs: Any) -> Any:
        with self._shaped_if_needed(kwargs.get("text", args[2] if len(args) > 2 else "")):
            return super().cell(*args, **kwargs)

    def multi_cell(self, *args: Any, **kwargs: Any) -> Any:
        with self._shaped_if_needed(kwargs.get("text", args[2] if len(args) > 2 else "")):
            return super().multi_cell(*args, **kwargs)


__all__ = ["NamesPdf", "NAME_FAMILY", "find_name_font"]
