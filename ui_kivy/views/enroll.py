"""The enrollment screen (端末の登録（スマートカード）): prompt, readers, the card's data, the digit
pad (masked), the enroll steps as a checklist, then the result or a plain error. It copies
``EnrollPresenter.state`` into widgets on every change and calls one intent per button; the
presenter's ``poll()`` is driven by the app, not here. The PIN pad (``pin_pad``, ``enable_pad``) and
the test probe (``Probe``) are shared with the station unlock screen (views/unlock.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Iterator

from kivy.factory import Factory
from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from ui_kivy.presenters.enroll import EnrollPresenter, Phase
from ui_kivy.views import theme
from ui_kivy.views.screens import DIGITS, big, keypad, txt

_TASKS: set[asyncio.Future[Any]] = set()
STEP_TEXT = 24  # px: the checklist (11 rows in two columns); still ≥ 24


# --- pieces shared with the station unlock screen (views/unlock.py) -------------------------------

def pin_pad(on_digit: Callable[[str], None], on_backspace: Callable[[], None]) -> GridLayout:
    """1–9, ( , 0, 削除): the PIN pad of the enrollment and unlock screens (keys ≥ 90 px there)."""
    return keypad(DIGITS + (("", "0", "削除"),), lambda k: on_backspace() if k == "削除" else on_digit(k), 3)


def enable_pad(pad: GridLayout, enabled: bool) -> None:
    for b in pad.children:
        b.disabled = not enabled or not b.text


class Probe:
    """``shown`` / ``texts`` / ``press`` for tests and screenshots (as KioskRoot has them)."""

    def _walk(self, w: Widget) -> Iterator[Widget]:
        yield w
        for c in w.children:
            yield from self._walk(c)

    def shown(self) -> list[Widget]:
        return list(self._walk(self))  # type: ignore[arg-type, unused-ignore]  # a Widget once mixed in

    def texts(self) -> list[str]:
        return [w.text for w in self.shown() if isinstance(w, Label) and w.text]

    def press(self, text: str) -> None:
        hits = [w for w in self.shown() if isinstance(w, Factory.Button) and w.text == text and not w.disabled]
        if len(hits) != 1:
            raise LookupError(f"{len(hits)} buttons with {text!r}")
        hits[0].dispatch("on_release")


class EnrollRoot(Probe, BoxLayout):
    def __init__(self, enroll: EnrollPresenter, **kw: Any) -> None:
        super().__init__(orientation="vertical", padding=16, spacing=8, **kw)
        self.enroll = enroll
        with self.canvas.before:
            Color(*theme.BG)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=lambda *_: setattr(self._bg, "pos", self.pos), size=lambda *_: setattr(self._bg, "size", self.size))
        self.title = txt("", theme.TEXT, bold=True, color=theme.GREY)
        self.prompt = txt("", theme.TEXT_BIG, bold=True)
        self.msg = txt("", theme.TEXT)
        for w in (self.title, self.prompt, self.msg):
            self.add_widget(w)
        body = BoxLayout(orientation="horizontal", spacing=16)
        left = BoxLayout(orientation="vertical", spacing=8, size_hint_x=0.4)
        self.masked = txt("", theme.TEXT_BIG, halign="center", size_hint_y=None, height=theme.TOUCH)
        left.add_widget(self.masked)
        self.pad = pin_pad(enroll.digit, enroll.backspace)
        left.add_widget(self.pad)
        right = BoxLayout(orientation="vertical", spacing=6, size_hint_x=0.6)
        self.readers = txt("", theme.TEXT)
        self.card = txt("", theme.TEXT)
        self.hq = txt("", theme.TEXT)
        for w in (self.readers, self.card, self.hq):
            right.add_widget(w)
        self.steps = GridLayout(cols=2, spacing=(8, 2), size_hint_y=None)
        self.steps.bind(minimum_height=self.steps.setter("height"))
        right.add_widget(self.steps)
        self.detail = txt("", STEP_TEXT, color=theme.GREY)
        right.add_widget(self.detail)
        self.done = txt("", theme.TEXT, color=theme.GREEN)
        right.add_widget(self.done)
        right.add_widget(Widget())  # pushes the buttons down
        self.buttons = BoxLayout(orientation="horizontal", spacing=10, size_hint_y=None, height=theme.TOUCH)
        right.add_widget(self.buttons)
        body.add_widget(left)
        body.add_widget(right)
        self.add_widget(body)
        self._shown_buttons: tuple[tuple[str, str], ...] | None = None
        self._shown_steps: tuple[str, ...] | None = None
        self._unsubscribe = enroll.subscribe(self.refresh)
        self.refresh()

    def _intent(self, name: str) -> None:
        e = self.enroll
        if name == "submit":
            task = asyncio.ensure_future(e.submit())
            _TASKS.add(task)
            task.add_done_callback(_TASKS.discard)
        elif name == "back":
            e.back()
        elif name == "retry":
            e.retry()
        elif name == "continue":
            e.finish()
        elif name == "cancel":
            e.cancel()

    def refresh(self) -> None:
        s = self.enroll.state
        self.title.text = s.title
        self.prompt.text = s.prompt
        self.msg.text = s.message
        self.msg.color = {"error": theme.RED, "ok": theme.GREEN}.get(s.level, theme.INK)
        self.readers.text = s.readers_text
        self.card.text = s.card_text
        self.hq.text = s.hq_text
        self.masked.text = s.masked
        self.detail.text = s.detail if s.phase is Phase.ENROLLING else ""
        self.done.text = s.done_text if s.phase is Phase.DONE else ""
        enable_pad(self.pad, s.pad_enabled)
        self.pad.opacity = 1 if s.pad_enabled else 0  # no grey blocks while nothing is to be typed
        step_texts = tuple(r.text for r in s.steps) if s.phase is not Phase.DONE else ()
        if step_texts != self._shown_steps:
            self._shown_steps = step_texts
            self.steps.clear_widgets()
            for r in s.steps if s.phase is not Phase.DONE else ():
                colour = {"done": theme.GREEN, "now": theme.BLUE, "failed": theme.RED}.get(r.status, theme.GREY)
                self.steps.add_widget(txt(r.text, STEP_TEXT, color=colour, bold=r.status in ("now", "failed")))
        if s.buttons != self._shown_buttons:
            self._shown_buttons = s.buttons
            self.buttons.clear_widgets()
            for name, label in s.buttons:
                colour = theme.GREEN if name in ("submit", "continue") else theme.BLUE
                self.buttons.add_widget(big(label, lambda name=name: self._intent(name), background_color=colour))

    def close(self) -> None:
        self._unsubscribe()
