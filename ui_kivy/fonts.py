"""The kiosk's Japanese font: found at start, or a clear error naming the Debian package.

Kivy's bundled Roboto has no Japanese; every label would be tofu boxes. ``find_cjk_font`` looks
for IPAex Gothic or Noto Sans CJK (``MEIBO_FONT`` overrides); ``install_default_font`` makes it
Kivy's default font so that every Label and Button uses it. ``find_cjk_font`` is pure file
lookup; only ``install_default_font`` imports Kivy.

Names are drawn in a second font (issue 19): IPAmj明朝 (Debian ``fonts-ipamj-mincho``, or
``MEIBO_NAME_FONT``) has the MJ variants that names with IVS need; Kivy's SDL2 text provider
shapes with HarfBuzz and reads the font's variation table, so a label in that font draws 葛 + a
selector with its variant glyph. ``install_default_font`` registers it as ``NAME_FONT``; a view
puts a name in it with ``[font=meibo_name]…[/font]`` (``ui_kivy.views.screens.common.name_markup``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ground.errors import MeiboError
from ground.names import NAME_FONT_CANDIDATES, NAME_FONT_ENV

CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",  # Debian fonts-ipaexfont-gothic
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian fonts-noto-cjk
    "/usr/share/fonts/opentype/noto/NotoSansCJKjp-Regular.otf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",  # the alternatives link Debian keeps
)


NAME_FONT = "meibo_name"  # the Kivy font name names are drawn in


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


def find_name_font(candidates: Sequence[str] = NAME_FONT_CANDIDATES, env: dict[str, str] | None = None) -> Path:
    """The font names are drawn in (IPAmj明朝), or ``FontMissing`` naming its Debian package."""
    env = dict(os.environ) if env is None else env
    override = env.get(NAME_FONT_ENV)
    for c in (override,) if override else candidates:
        if Path(c).is_file():
            return Path(c)
    raise FontMissing(f"氏名用のフォント（IPAmj明朝）が見つかりません: {override or candidates[0]}。"
                      "異体字（IVS）の氏名を正しく表示するため、Debian パッケージ fonts-ipamj-mincho を"
                      "インストールしてください: sudo apt-get install fonts-ipamj-mincho", problems=[])


def install_default_font(path: Path, name_font: Path | None = None) -> None:
    """Make ``path`` Kivy's default font (regular and bold), and register the name font
    (``name_font`` or ``find_name_font()``) as ``NAME_FONT``."""
    from kivy.core.text import DEFAULT_FONT, LabelBase

    LabelBase.register(DEFAULT_FONT, fn_regular=str(path), fn_bold=str(path))
    mj = str(name_font or find_name_font())
    LabelBase.register(NAME_FONT, fn_regular=mj, fn_bold=mj)
