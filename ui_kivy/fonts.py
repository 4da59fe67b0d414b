"""The kiosk's Japanese font: found at start, or a clear error naming the Debian package.

Kivy's bundled Roboto has no Japanese; every label would be tofu boxes. ``find_cjk_font`` looks
for IPAex Gothic or Noto Sans CJK (``MEIBO_FONT`` overrides); ``install_default_font`` makes it
Kivy's default font so that every Label and Button uses it. ``find_cjk_font`` is pure file
lookup; only ``install_default_font`` imports Kivy.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ground.errors import MeiboError

CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",  # Debian fonts-ipaexfont-gothic
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian fonts-noto-cjk
    "/usr/share/fonts/opentype/noto/NotoSansCJKjp-Regular.otf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",  # the alternatives link Debian keeps
)


class FontMissing(MeiboError):
    """No Japanese font: install one (the message names the Debian package)."""

    code = "font_missing"


def find_cjk_font(candidates: Sequence[str] = CANDIDATES, env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    override = env.get("MEIBO_FONT")
    if override:
        p = Path(override)
        if p.is_file():
            return p
        raise FontMissing(f"MEIBO_FONT に指定されたフォントがありません: {override}")
    for c in candidates:
        p = Path(c)
        if p.is_file():
            return p
    raise FontMissing("日本語フォントが見つかりません。Debian パッケージ fonts-ipaexfont-gothic "
                      "（または fonts-noto-cjk）をインストールしてください: "
                      "sudo apt-get install fonts-ipaexfont-gothic",
                      problems=[])


def install_default_font(path: Path) -> None:
    """Make ``path`` Kivy's default font (regular and bold)."""
    from kivy.core.text import DEFAULT_FONT, LabelBase

    LabelBase.register(DEFAULT_FONT, fn_regular=str(path), fn_bold=str(path))
