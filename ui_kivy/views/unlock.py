"""The station-unlock screen shown before the kiosk when the store is locked (atrest): the
supervisor's PIN pad, the tries left, and a plain message when the PIN is locked. On a station
sealed with the enrolled card, first the card step: the prompt (登録カードを差し込んでください), the
readers and the card, and the card PIN on the same pad. It copies ``UnlockPresenter.state`` into
widgets on every change; the presenter's ``poll()`` is driven by the app. The pad and the test
probe are the enrollment screen's (views/enroll.py)."""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout

from ui_kivy.presenters.unlock import UnlockPresenter
from ui_kivy.views import theme
from ui_kivy.views.enroll import Probe, enable_pad, pin_pad
from ui_kivy.views.screens import big, txt


class UnlockRoot(Probe, BoxLayout):
    def __init__(self, unlock: UnlockPresenter, **kw: Any) -> None:
        super().__init__(orientation="vertical", padding=24, spacing=14, **kw)
        self.unlock = unlock
        card_mode = unlock.state.card_mode
        with self.canvas.before:
            Color(*theme.BG)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=lambda *_: setattr(self._bg, "pos", self.pos), size=lambda *_: setattr(self._bg, "size", self.size))
        self.title = txt("", theme.TEXT, halign="center")
        self.add_widget(self.title)
        # A PIN-only station shows exactly the pad it always did: the card lines exist only here.
        self.prompt = self.readers = None
        if card_mode:
            self.prompt = txt("", theme.TEXT_BIG, bold=True, halign="center")
            self.readers = txt("", theme.TEXT, halign="center", color=theme.GREY)
            self.add_widget(self.prompt)
            self.add_widget(self.readers)
        top = BoxLayout(size_hint_y=None, height=theme.TOUCH, spacing=10)
        self.masked = txt("", theme.TEXT_BIG, size_hint_y=1, halign="center")
        top.add_widget(self.masked)
        self.go = big("開く", unlock.submit, size_hint_x=0.3, background_color=theme.GREEN)
        top.add_widget(self.go)
        self.add_widget(top)
        self.msg = txt("", theme.TEXT, halign="center", color=theme.RED)
        self.add_widget(self.msg)
        self.pad = pin_pad(unlock.digit, unlock.backspace)
        self.add_widget(self.pad)
        self._unsubscribe = unlock.subscribe(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        s = self.unlock.state
        self.title.text = s.title
        self.masked.text = s.masked
        self.msg.text = s.message
        if s.unlocked:
            self.msg.color = theme.GREEN
        else:
            self.msg.color = theme.RED if not s.card_mode or s.level == "error" else theme.INK
        if self.prompt is not None and self.readers is not None:
            self.prompt.text = s.prompt
            self.readers.text = "\n".join(t for t in (s.readers_text, s.card_text) if t)
        self.go.text = s.submit_label
        self.go.disabled = not s.pad_enabled
        self.go.opacity = 1 if s.pad_enabled or not s.card_mode else 0
        enable_pad(self.pad, s.pad_enabled)
        if s.card_mode:
            self.pad.opacity = 1 if s.pad_enabled else 0  # no grey blocks while a card is awaited

    def close(self) -> None:
        self._unsubscribe()
