"""What every kiosk screen shares: the base screen, the label/button/keypad builders, the coloured
panel and the choice button. Each flow's screens live beside this module (lookup, checkin,
tentative, supervisor, closing, zaigai, interrupted), mirroring the presenters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kivy.factory import Factory
from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.scrollview import ScrollView
from kivy.utils import escape_markup

from ui_kivy.fonts import NAME_FONT
from ui_kivy.presenters.app_flow import KioskFlow
from ui_kivy.views import theme

Intent = Callable[..., Any]


def name_markup(name: str) -> str:
    """A voter's name (already through ``ground.names.display_name``) in the name font, which
    draws IVS with their variant glyph; escaped, so a name is never read as markup."""
    return f"[font={NAME_FONT}]{escape_markup(name)}[/font]"


def txt(text: str = "", size: int = theme.TEXT, **kw: Any) -> Any:
    return Factory.Txt(text=text, font_size=size, **kw)


def big(text: str, on: Intent, **kw: Any) -> Any:
    b = Factory.Big(text=text, **kw)
    b.bind(on_release=lambda *_: on())
    return b


def keypad(keys: tuple[tuple[str, ...], ...], on: Callable[[str], None], cols: int) -> GridLayout:
    g = GridLayout(cols=cols, spacing=6)
    for row in keys:
        for k in row:
            b = Factory.Key(text=k)
            if k:
                b.bind(on_release=lambda _b, k=k: on(k))
            g.add_widget(b)
    return g


DIGITS = (("1", "2", "3"), ("4", "5", "6"), ("7", "8", "9"))
UNLISTED = "名簿に見つからない方（仮投票）"


class KioskScreen(Screen):  # type: ignore[misc]
    flow: KioskFlow

    def __init__(self, flow: KioskFlow, **kw: Any) -> None:
        super().__init__(**kw)
        self.flow = flow
        self.box = BoxLayout(orientation="vertical", padding=16, spacing=12)
        self.add_widget(self.box)
        self.build()

    def build(self) -> None:
        ...

    def update(self) -> None:
        ...

    def run(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)


_TASKS: set[asyncio.Future[Any]] = set()


def field(label: str, value: str, size: int = theme.TEXT) -> Any:
    return txt(f"[color=555555]{label}[/color]  {value}", size)


def scrolled(box: BoxLayout) -> ScrollView:
    box.size_hint_y = None
    box.bind(minimum_height=box.setter("height"))
    sv = ScrollView(do_scroll_x=False, bar_width=14)
    sv.add_widget(box)
    return sv


PANEL_BG = {"green": theme.PALE_GREEN, "red": theme.PALE_RED, "amber": (1.0, 0.93, 0.72, 1)}
PANEL_INK = {"green": "0a6a2a", "red": "b01010", "amber": "6a4a00"}


class PanelBox(BoxLayout):  # type: ignore[misc]
    """A coloured box with a title (icon word first) and lines: colour is never the only signal."""

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("orientation", "vertical")
        kw.setdefault("padding", (14, 8))
        kw.setdefault("spacing", 2)
        kw.setdefault("size_hint_y", None)
        super().__init__(**kw)
        self.bind(minimum_height=self.setter("height"))
        with self.canvas.before:
            self._c = Color(*theme.BG)
            self._r = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=lambda *_: setattr(self._r, "pos", self.pos),
                  size=lambda *_: setattr(self._r, "size", self.size))

    def show(self, panel: Any | None, title_size: int = theme.TEXT, line_size: int = 24) -> None:
        self.clear_widgets()
        if panel is None:
            self.opacity = 0
            self.padding = (0, 0)
            self.height = 0
            self._c.rgba = (0, 0, 0, 0)
            return
        self.opacity = 1
        self.padding = (14, 8)
        self._c.rgba = PANEL_BG[panel.colour]
        ink = PANEL_INK[panel.colour]
        self.add_widget(txt(f"[b][color={ink}]{panel.title}[/color][/b]", title_size))
        for line in panel.lines:
            self.add_widget(txt(line.strip(), line_size))


def choice(text: str, chosen: bool, on: Intent, **kw: Any) -> Any:
    """A large choice button: the chosen one is blue with a ● (not colour alone)."""
    kw.setdefault("font_size", 26)
    return big(("● " if chosen else "") + text, on, background_color=theme.BLUE if chosen else theme.WHITE,
               color=theme.WHITE if chosen else theme.INK, **kw)


def scrolled_panel(panel: Any) -> ScrollView:
    sv = ScrollView(do_scroll_x=False, bar_width=14)
    sv.add_widget(panel)
    return sv


def digit_pad(on_digit: Callable[[str], None], on_back: Callable[[], None], extra: str = "",
              on_extra: Callable[[], None] | None = None) -> GridLayout:
    """1–9, then (extra, 0, 削除): keys of at least 90 px both ways in the layouts below."""
    def key(k: str) -> None:
        if k == "削除":
            on_back()
        elif k == extra and on_extra is not None:
            on_extra()
        else:
            on_digit(k)
    return keypad(DIGITS + ((extra, "0", "削除"),), key, 3)
