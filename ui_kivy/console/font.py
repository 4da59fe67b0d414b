"""Finding a Japanese (CJK) TrueType font for the console and its PDF report. No kivy import.

Kivy's default font (Roboto) has no kana or kanji. Uses ``ui_kivy.fonts`` (the kiosk's finder)
when it exists; otherwise looks in the usual Debian places (fonts-ipaexfont-gothic first).
``MEIBO_CJK_FONT`` overrides both.
"""

from __future__ import annotations

import os
from pathlib import Path

CANDIDATES = (
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/usr/share/fonts/truetype/takao-gothic/TakaoGothic.ttf",
)


class FontMissing(RuntimeError):
    pass


def cjk_font_path() -> Path:
    env = os.environ.get("MEIBO_CJK_FONT")
    if env and Path(env).is_file():
        return Path(env)
    try:  # the kiosk engineer's finder, when present
        from ui_kivy import fonts  # type: ignore[attr-defined]

        for name in ("cjk_font_path", "find_cjk_font", "find_font", "japanese_font"):
            fn = getattr(fonts, name, None)
            if callable(fn):
                found = fn()
                if found and Path(str(found)).is_file():
                    return Path(str(found))
    except ImportError:
        pass
    for c in CANDIDATES:
        if Path(c).is_file():
            return Path(c)
    raise FontMissing("日本語フォントが見つかりません（apt-get install fonts-ipaexfont-gothic、または MEIBO_CJK_FONT）")
