"""Finding a Japanese (CJK) TrueType font for the console and its PDF report. No kivy import.

Kivy's default font (Roboto) has no kana or kanji. ``MEIBO_CJK_FONT`` overrides; otherwise the
kiosk's finder (``ui_kivy.fonts.find_cjk_font``: ``MEIBO_FONT``, then the usual Debian places)
answers, and raises its ``FontMissing`` (a ``MeiboError``, code ``font_missing``) when none is there.
"""

from __future__ import annotations

import os
from pathlib import Path

from ui_kivy.fonts import find_cjk_font


class FontMissing(RuntimeError):
    """Still caught by ``meibo hq daily-report``; since the kiosk's finder answers (it returns a
    file or raises its own ``FontMissing``), nothing here raises this one any more."""


def cjk_font_path() -> Path:
    env = os.environ.get("MEIBO_CJK_FONT")
    if env and Path(env).is_file():
        return Path(env)
    return find_cjk_font()
