"""The screen a kiosk shows when its terminal must not be used: 受付停止, in red, with the error's
Japanese message (what happened and the next step) and its stable code. Shown for an *alarm*
(``store_rolled_back``, ``head_record_corrupt``: appliance/freshness.py) found when the terminal
opens. No button: there is nothing safe to do at the booth; the window stays until it is closed."""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout

from ui_kivy.views import theme
from ui_kivy.views.enroll import Probe
from ui_kivy.views.screens import txt


class StoppedRoot(Probe, BoxLayout):
    def __init__(self, message: str, code: str, **kw: Any) -> None:
        super().__init__(orientation="vertical", padding=32, spacing=16, **kw)
        with self.canvas.before:
            Color(*theme.BG)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=lambda *_: setattr(self._bg, "pos", self.pos), size=lambda *_: setattr(self._bg, "size", self.size))
        self.title = txt("受付停止", theme.TEXT_BIG, bold=True, halign="center", color=theme.RED)
        self.msg = txt(message, theme.TEXT_BIG, halign="center", color=theme.RED)
        self.code = txt(code, theme.TEXT, halign="center", color=theme.GREY)
        for w in (self.title, self.msg, self.code):
            self.add_widget(w)

    def close(self) -> None:
        pass
