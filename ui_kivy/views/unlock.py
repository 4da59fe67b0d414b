"""The station-unlock screen shown before the kiosk when the store is locked (atrest): the
supervisor's PIN pad, the tries left, and a plain message when the PIN is locked."""

from __future__ import annotations

from typing import Any, Iterator

from kivy.factory import Factory
from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from ui_kivy.presenters.unlock import UnlockPresenter
from ui_kivy.views import theme
from ui_kivy.views.screens import DIGITS, big, keypad, txt


class UnlockRoot(BoxLayout):
    def __init__(self, unlock: UnlockPresenter, **kw: Any) -> None:
        super().__init__(orientation="vertical", padding=24, spacing=14, **kw)
        self.unlock = unlock
        with self.canvas.before:
            Color(*theme.BG)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=lambda *_: setattr(self._bg, "pos", self.pos), size=lambda *_: setattr(self._bg, "size", self.size))
        self.title = txt("", theme.TEXT, halign="center")
        self.add_widget(self.title)
        top = BoxLayout(size_hint_y=None, height=theme.TOUCH, spacing=10)
        self.masked = txt("", theme.TEXT_BIG, size_hint_y=1, halign="center")
        top.add_widget(self.masked)
        self.go = big("開く", unlock.submit, size_hint_x=0.3, background_color=theme.GREEN)
        top.add_widget(self.go)
        self.add_widget(top)
        self.msg = txt("", theme.TEXT, halign="center", color=theme.RED)
        self.add_widget(self.msg)
        self.pad = keypad(DIGITS + (("", "0", "削除"),), self._key, 3)
        self.add_widget(self.pad)
        self._unsubscribe = unlock.subscribe(self.refresh)
        self.refresh()

    def _key(self, k: str) -> None:
        self.unlock.backspace() if k == "削除" else self.unlock.digit(k)

    def refresh(self) -> None:
        s = self.unlock.state
        self.title.text = s.title
        self.masked.text = s.masked
        self.msg.text = s.message
        self.msg.color = theme.GREEN if s.unlocked else theme.RED
        self.go.disabled = s.locked or s.unlocked
        for b in self.pad.children:
            b.disabled = s.locked or s.unlocked or not b.text

    def close(self) -> None:
        self._unsubscribe()

    # -- for tests and screenshots (same as KioskRoot) -----------------------------------------
    def _walk(self, w: Widget) -> Iterator[Widget]:
        yield w
        for c in w.children:
            yield from self._walk(c)

    def shown(self) -> list[Widget]:
        return list(self._walk(self))

    def texts(self) -> list[str]:
        return [w.text for w in self.shown() if isinstance(w, Label) and w.text]

    def press(self, text: str) -> None:
        hits = [w for w in self.shown() if isinstance(w, Factory.Button) and w.text == text and not w.disabled]
        if len(hits) != 1:
            raise LookupError(f"{len(hits)} buttons with {text!r}")
        hits[0].dispatch("on_release")
